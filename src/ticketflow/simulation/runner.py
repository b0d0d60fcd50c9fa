"""One call to run a scenario and get its figures: :func:`simulate`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from ticketflow.simulation import kpi
from ticketflow.simulation.centre import Centre, Progress, RunResult
from ticketflow.simulation.scenario import Scenario


@dataclass(frozen=True)
class Outcome:
    """A finished run: the KPIs (deterministic) and the run's own figures (wall time...)."""

    kpis: dict[str, Any]
    run: dict[str, Any]
    result: RunResult


def simulate(scenario: Scenario, url: str, progress: Progress | None = None) -> Outcome:
    """Run ``scenario`` against the empty database at ``url``; read the KPIs back from it."""
    centre = Centre(scenario, url)
    try:
        result = centre.run(progress)
        figures = kpi.compute(centre.engine, result)
    finally:
        centre.close()
    run = {
        "scenario": scenario.name,
        "database": make_url(url).render_as_string(hide_password=True),
        "tickets_opened": result.tickets_opened,
        "engine_calls": result.engine_calls,
        "wall_seconds": round(result.wall_seconds, 2),
        "tickets_per_second": round(result.tickets_opened / result.wall_seconds, 2)
        if result.wall_seconds
        else None,
        "simulated_days": round(result.end_minutes / 1440, 3),
    }
    return Outcome(figures, run, result)


def default_database(report_dir: Path) -> str:
    """The SQLite file a run writes when no ``--db`` is given."""
    return f"sqlite:///{(report_dir / 'simulation.db').resolve()}"
