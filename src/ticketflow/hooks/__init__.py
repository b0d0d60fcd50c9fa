"""Plugin hooks (pluggy): specifications, the plugin manager, and the default plugins."""

from ticketflow.hooks.hookspecs import hookimpl, hookspec
from ticketflow.hooks.manager import make_plugin_manager

__all__ = ["hookimpl", "hookspec", "make_plugin_manager"]
