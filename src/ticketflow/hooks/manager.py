"""Building the plugin manager: built-in defaults, entry points, then the host's plugins."""

from __future__ import annotations

from collections.abc import Iterable

import pluggy

from ticketflow.hooks import default_authorize, hookspecs

#: Built-in plugins, registered first so any other plugin is consulted before them.
DEFAULT_PLUGINS = (default_authorize,)


def make_plugin_manager(
    plugins: Iterable[object] = (), entry_points: bool = True
) -> pluggy.PluginManager:
    pm = pluggy.PluginManager("ticketflow")
    pm.add_hookspecs(hookspecs)
    for default in DEFAULT_PLUGINS:
        pm.register(default, name=f"ticketflow.{default.__name__.rsplit('.', 1)[-1]}")
    if entry_points:
        pm.load_setuptools_entrypoints("ticketflow")
    for plugin in plugins:
        pm.register(plugin)
    return pm
