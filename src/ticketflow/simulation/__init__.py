"""Discrete-event simulation of a service centre that drives the real engine.

A scenario (TOML, :mod:`~ticketflow.simulation.scenario`) describes arrivals, staff,
shifts, handling times and decisions; :mod:`~ticketflow.simulation.centre` runs it with
SimPy, every complaint a real ticket opened, claimed and completed through
:class:`~ticketflow.Engine` under a clock that follows simulated time;
:mod:`~ticketflow.simulation.kpi` reads the figures back from the store and
:mod:`~ticketflow.simulation.report` writes Markdown, HTML, JSON and charts.

SimPy and matplotlib come with the ``simulation`` extra
(``pip install 'ticketflow[simulation]'``); this package imports them only when a
simulation runs or a report is drawn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ticketflow.simulation.scenario import Scenario, ScenarioError, load_scenario

__all__ = ["Scenario", "ScenarioError", "load_scenario"]


def __getattr__(name: str) -> Any:
    # Lazy, so that ``ticketflow`` (and its CLI) work without the simulation extra.
    if name in __all__:
        from ticketflow.simulation import scenario

        return getattr(scenario, name)
    raise AttributeError(f"module 'ticketflow.simulation' has no attribute {name!r}")
