"""``ticketflow simulate``: run a scenario, write its report; optionally compare two."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from ticketflow.console import fail

if TYPE_CHECKING:
    from ticketflow.simulation.runner import Outcome
    from ticketflow.simulation.scenario import Scenario

console = Console()
INSTALL_HINT = "pip install 'ticketflow[simulation]'"


def register(app: typer.Typer) -> None:
    """Add the ``simulate`` command to the ``ticketflow`` CLI."""
    app.command("simulate")(simulate)


def simulate(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (TOML), see docs/simulation.md.")],
    report: Annotated[
        Path, typer.Option("--report", help="Folder for report.md/.html, kpi.json and charts.")
    ] = Path("simulation-report"),
    days: Annotated[
        int | None, typer.Option(help="Days of arrivals (default: the scenario's).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default: the scenario's).")] = None,
    scale: Annotated[
        float | None, typer.Option(help="Multiply volume and head counts (default: scenario's).")
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db", help="Empty database to run on (default: simulation.db in the report folder)."
        ),
    ] = None,
    compare: Annotated[
        Path | None,
        typer.Option(help="Second scenario: run both and write a side-by-side comparison."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace the default database file of an earlier run.")
    ] = False,
) -> None:
    """Simulate a service centre with the real engine and write a KPI report.

    Every complaint is a real ticket; the report's figures are read back from the store.
    """
    from ticketflow.errors import TicketflowError

    _require_extras()
    from ticketflow.simulation.report import calibration_lines, write_comparison, write_report
    from ticketflow.simulation.scenario import load_scenario

    if compare is not None and db is not None:
        console.print("[red]error:[/] --db cannot be combined with --compare (each run needs "
                      "its own empty database; both go under the report folder)")  # fmt: skip
        raise typer.Exit(2)
    try:
        runs = [("a", scenario), ("b", compare)] if compare is not None else [("", scenario)]
        outcomes = []
        for sub, path in runs:
            assert path is not None
            loaded = load_scenario(path).with_run(days=days, seed=seed, scale=scale)
            folder = report / sub if sub else report
            url = db or _fresh_database(folder, overwrite)
            outcome = _run(loaded, url)
            written = write_report(outcome.kpis, outcome.run, folder)
            console.print(f"[green]report:[/] {folder / 'report.md'} ({len(written)} files)")
            for line in calibration_lines(outcome.kpis):
                console.print(f"  {line}", highlight=False)
            outcomes.append(outcome)
        if compare is not None:
            write_comparison(outcomes[0].kpis, outcomes[1].kpis, report)
            console.print(f"[green]comparison:[/] {report / 'compare.md'}")
    except (TicketflowError, OSError) as exc:
        fail(console, exc)


def _require_extras() -> None:
    missing = []
    for module in ("simpy", "matplotlib", "numpy", "pydantic"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        console.print(f"[red]error:[/] the simulator needs {', '.join(missing)}: {INSTALL_HINT}")
        raise typer.Exit(1)


def _fresh_database(folder: Path, overwrite: bool) -> str:
    from ticketflow.simulation.centre import SimulationError
    from ticketflow.simulation.runner import default_database

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "simulation.db"
    if path.exists():
        if not overwrite:
            raise SimulationError(
                f"{path} exists from an earlier run; pass --overwrite to replace it, or --db"
            )
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return default_database(folder)


def _run(scenario: Scenario, url: str) -> Outcome:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ticketflow.simulation.runner import simulate as run_simulation

    began = time.perf_counter()
    columns: list[Any] = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("day {task.completed:.0f}/{task.total:.0f}"),
        TextColumn("{task.fields[tickets]:,} tickets, {task.fields[rate]:.1f}/s"),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=console, transient=False) as bar:
        total = scenario.scenario.days + scenario.scenario.drain_days
        task = bar.add_task(scenario.name, total=total, tickets=0, rate=0.0)

        def progress(done: float, all_days: float, tickets: int) -> None:
            elapsed = time.perf_counter() - began
            bar.update(
                task,
                completed=done,
                total=all_days,
                tickets=tickets,
                rate=tickets / elapsed if elapsed else 0.0,
            )

        outcome = run_simulation(scenario, url, progress)
        bar.update(task, completed=bar.tasks[0].total)
    return outcome
