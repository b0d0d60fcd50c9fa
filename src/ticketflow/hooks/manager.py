"""Building the plugin manager: built-in defaults, entry points, then the host's plugins."""

from __future__ import annotations

from collections.abc import Iterable

import pluggy

from ticketflow.hooks import hookspecs
from ticketflow.plugins import authorize, sms

#: Built-in plugins, registered first so any other plugin is consulted before them.
DEFAULT_PLUGINS: tuple[object, ...] = (authorize, sms)


def make_plugin_manager(
    plugins: Iterable[object] = (), entry_points: bool = True
) -> pluggy.PluginManager:
    pm = pluggy.PluginManager("ticketflow")
    pm.add_hookspecs(hookspecs)
    for default in DEFAULT_PLUGINS:
        name = getattr(default, "__name__", type(default).__name__).rsplit(".", 1)[-1]
        pm.register(default, name=f"ticketflow.{name}")
    if entry_points:
        pm.load_setuptools_entrypoints("ticketflow")
    for plugin in plugins:
        pm.register(plugin)
    return pm
