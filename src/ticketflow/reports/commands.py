"""``ticketflow report hotspots|top|fcr|points``: service-centre reports, as a table on the
terminal and optionally as CSV (``--csv``) and a PNG chart (``--chart``).

:func:`register` adds these and ``ticketflow categories`` to the main command.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from ticketflow.console import fail
from ticketflow.errors import InvalidDataError, TicketflowError
from ticketflow.reports.output import ReportRow

app = typer.Typer(
    help="Service-centre reports: hot spots, top-N, FCR, points.", no_args_is_help=True
)
console = Console()
DEFAULT_URL = "sqlite:///ticketflow.db"

UrlOption = Annotated[
    str,
    typer.Option("--url", envvar="TICKETFLOW_DATABASE_URL", help="SQLAlchemy database URL."),
]
SinceOption = Annotated[
    str | None,
    typer.Option(help="Start of the period, inclusive: 2026-11-01 or 2026-11-01T08:00."),
]
UntilOption = Annotated[str | None, typer.Option(help="End of the period, exclusive: 2026-12-01.")]
OffsetOption = Annotated[
    float,
    typer.Option(
        "--utc-offset", help="Local time in hours from UTC, for dates and buckets (e.g. 8)."
    ),
]
CsvOption = Annotated[Path | None, typer.Option("--csv", help="Also write the rows as CSV.")]
ChartOption = Annotated[Path | None, typer.Option("--chart", help="Also draw a PNG chart.")]
ProcessOption = Annotated[
    str, typer.Option("--process", help="Process id of the tickets counted (all: every one).")
]


def register(main: typer.Typer) -> None:
    """Add ``report`` and ``categories`` to the ``ticketflow`` command."""
    from ticketflow.catalog.commands import app as categories_app

    main.add_typer(app, name="report")
    main.add_typer(categories_app, name="categories")


def _instant(text: str | None, offset: timedelta, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidDataError(f"{option}: not a date or date-time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone(offset))


def _offset(hours: float) -> timedelta:
    from ticketflow.reports.query import offset_minutes

    offset = timedelta(minutes=round(hours * 60))
    offset_minutes(offset)
    return offset


def _process(process: str) -> str | None:
    return None if process == "all" else process


def _output(
    title: str,
    columns: Sequence[str],
    rows: Sequence[ReportRow],
    csv_path: Path | None,
    chart_path: Path | None,
    draw: Callable[[Path], object],
) -> None:
    from ticketflow.reports.output import write_csv

    table = Table(*columns, title=title)
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table, highlight=False)
    if csv_path is not None:
        write_csv(csv_path, columns, rows)
        console.print(f"{len(rows)} rows written to {csv_path}", highlight=False, soft_wrap=True)
    if chart_path is not None:
        draw(chart_path)
        console.print(f"chart written to {chart_path}", highlight=False, soft_wrap=True)


def _fail(exc: Exception) -> NoReturn:
    fail(console, exc)


@app.command()
def hotspots(
    url: UrlOption = DEFAULT_URL,
    by: Annotated[str, typer.Option(help="category, sp, region, channel or customer")] = "category",
    level: Annotated[int, typer.Option(help="Category level 1-4.")] = 1,
    bucket: Annotated[str | None, typer.Option(help="day, week or month.")] = None,
    under: Annotated[str | None, typer.Option(help="Only this category's subtree.")] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    utc_offset: OffsetOption = 0.0,
    process: ProcessOption = "complaint",
    csv: CsvOption = None,
    chart: ChartOption = None,
) -> None:
    """Complaints opened in the period by category level, SP, region..., per bucket."""
    from ticketflow.engine import Engine
    from ticketflow.reports import charts
    from ticketflow.reports.hotspots import HotSpot
    from ticketflow.reports.hotspots import hotspots as report

    try:
        offset = _offset(utc_offset)
        with Engine(url) as engine:
            rows = report(
                engine,
                by,
                level=level,
                bucket=bucket,
                under=under,
                since=_instant(since, offset, "--since"),
                until=_instant(until, offset, "--until"),
                utc_offset=offset,
                process_id=_process(process),
            )
        what = f"category level {level}" if by == "category" else by
        title = f"Hot spots by {what}" + (f" per {bucket}" if bucket else "")
        _output(
            title,
            HotSpot.COLUMNS,
            rows,
            csv,
            chart,
            lambda path: charts.hotspots_chart(path, rows, title=title, bucket=bucket),
        )
    except (TicketflowError, OSError) as exc:
        _fail(exc)


@app.command()
def top(
    url: UrlOption = DEFAULT_URL,
    by: Annotated[str, typer.Option(help="category, sp, region, channel or customer")] = "category",
    n: Annotated[int, typer.Option("-n", help="How many.")] = 15,
    level: Annotated[int, typer.Option(help="Category level 1-4.")] = 3,
    under: Annotated[str | None, typer.Option(help="Only this category's subtree.")] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    utc_offset: OffsetOption = 0.0,
    process: ProcessOption = "complaint",
    csv: CsvOption = None,
    chart: ChartOption = None,
) -> None:
    """The N categories, SPs, regions, channels or customers with most complaints."""
    from ticketflow.engine import Engine
    from ticketflow.reports import charts
    from ticketflow.reports.hotspots import TopEntry
    from ticketflow.reports.hotspots import top as report

    try:
        offset = _offset(utc_offset)
        with Engine(url) as engine:
            rows = report(
                engine,
                by,
                n,
                level=level,
                under=under,
                since=_instant(since, offset, "--since"),
                until=_instant(until, offset, "--until"),
                process_id=_process(process),
            )
        what = f"categories (level {level})" if by == "category" else by
        title = f"Top {n} {what}"
        _output(
            title,
            TopEntry.COLUMNS,
            rows,
            csv,
            chart,
            lambda path: charts.top_chart(path, rows, title=title),
        )
    except (TicketflowError, OSError) as exc:
        _fail(exc)


@app.command()
def fcr(
    url: UrlOption = DEFAULT_URL,
    by: Annotated[str, typer.Option(help="channel, department, agent or region")] = "channel",
    since: SinceOption = None,
    until: UntilOption = None,
    utc_offset: OffsetOption = 0.0,
    csv: CsvOption = None,
    chart: ChartOption = None,
) -> None:
    """First-contact resolution: complaints resolved at the front desk, without dispatch."""
    from ticketflow.engine import Engine
    from ticketflow.reports import charts
    from ticketflow.reports.fcr import FcrRow, fcr_total, first_contact_resolution

    try:
        offset = _offset(utc_offset)
        with Engine(url) as engine:
            rows = first_contact_resolution(
                engine,
                by,
                since=_instant(since, offset, "--since"),
                until=_instant(until, offset, "--until"),
            )
        rows = [*rows, fcr_total(rows)]
        title = f"First-contact resolution by {by}"
        _output(
            title,
            FcrRow.COLUMNS,
            rows,
            csv,
            chart,
            lambda path: charts.fcr_chart(path, rows, title=title),
        )
    except (TicketflowError, OSError) as exc:
        _fail(exc)


@app.command()
def points(
    url: UrlOption = DEFAULT_URL,
    staff: Annotated[str | None, typer.Option(help="Only this staff member.")] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    utc_offset: OffsetOption = 0.0,
    csv: CsvOption = None,
    chart: ChartOption = None,
) -> None:
    """Piece-rate points per staff member over the period."""
    from ticketflow.engine import Engine
    from ticketflow.reports import charts
    from ticketflow.reports.points import PointsRow, staff_points

    try:
        offset = _offset(utc_offset)
        with Engine(url) as engine:
            rows = staff_points(
                engine,
                staff=staff,
                since=_instant(since, offset, "--since"),
                until=_instant(until, offset, "--until"),
            )
        title = "Piece-rate points"
        _output(
            title,
            PointsRow.COLUMNS,
            rows,
            csv,
            chart,
            lambda path: charts.points_chart(path, rows, title=title),
        )
    except (TicketflowError, OSError) as exc:
        _fail(exc)
