"""The ``ticketflow`` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from ticketflow.console import fail, plain
from ticketflow.errors import TicketflowError

app = typer.Typer(help="ticketflow: BPMN work orders for customer service.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console()

UrlOption = Annotated[
    str,
    typer.Option("--url", envvar="TICKETFLOW_DATABASE_URL", help="SQLAlchemy database URL."),
]
DEFAULT_URL = "sqlite:///ticketflow.db"


def _fail(exc: Exception) -> NoReturn:
    fail(console, exc)


@app.command()
def demo(
    db: Annotated[Path, typer.Option(help="SQLite file for the demo (recreated).")] = Path(
        "ticketflow-demo.db"
    ),
) -> None:
    """Drive several complaint tickets along different paths and print their journeys."""
    from ticketflow.demo import run_demo

    try:
        run_demo(db, console)
    except (TicketflowError, FileNotFoundError) as exc:
        _fail(exc)


@db_app.command("upgrade")
def db_upgrade(url: UrlOption = DEFAULT_URL, revision: str = "head") -> None:
    """Create or upgrade ticketflow's tables."""
    from ticketflow.store import database

    engine = database.make_engine(url)
    try:
        database.upgrade(engine, revision)
        with engine.connect() as conn:
            console.print(f"schema at revision {database.current_revision(conn)}")
    finally:
        engine.dispose()


@app.command()
def validate(
    paths: list[Path],
    strict: Annotated[bool, typer.Option(help="Treat warnings as errors.")] = False,
) -> None:
    """Check BPMN files: schema, references, reachability, gateways, lanes, forms,
    expressions and diagrams. Prints every problem as file:line: element 'id': ...;
    exits 1 if there is any error (or, with --strict, any warning)."""
    from ticketflow.definitions.validate import validate_paths

    problems = validate_paths(paths)
    errors = [p for p in problems if p.severity == "error"]
    for problem in problems:
        colour = "red" if problem.severity == "error" else "yellow"
        console.print(f"[{colour}]{plain(problem)}[/]", soft_wrap=True, highlight=False)
    files = sorted({p.file for p in problems})
    if errors or (strict and problems):
        console.print(
            f"{len(errors)} errors, {len(problems) - len(errors)} warnings in {len(files)} files"
        )
        raise typer.Exit(1)
    console.print(f"[green]ok[/]: no errors ({len(problems)} warnings)")


@app.command()
def describe(
    paths: list[Path],
    update: Annotated[
        Path | None,
        typer.Option(help="Rewrite the generated section of this Markdown file instead."),
    ] = None,
) -> None:
    """Print a Markdown reference of the processes: lanes, tasks, forms, decisions."""
    from ticketflow.definitions.describe import describe_paths, replace_generated

    try:
        text = describe_paths(paths)
    except TicketflowError as exc:
        _fail(exc)
    if update is None:
        print(text)
        return
    update.write_text(replace_generated(update.read_text(encoding="utf-8"), text), encoding="utf-8")
    console.print(f"updated {update}")


@app.command()
def deploy(paths: list[Path], url: UrlOption = DEFAULT_URL) -> None:
    """Deploy BPMN files or folders (a changed file becomes a new version)."""
    from ticketflow.engine import Engine

    try:
        with Engine(url) as engine:
            for d in engine.deploy(*paths):
                console.print(
                    f"{d.process_id} v{d.version} ({d.content_hash[:12]}) from {d.filename}"
                )
    except TicketflowError as exc:
        _fail(exc)


@app.command()
def definitions(url: UrlOption = DEFAULT_URL) -> None:
    """List deployed process definitions and their versions."""
    from ticketflow.engine import Engine

    with Engine(url) as engine:
        table = Table("process", "version", "name", "deployed at", "hash")
        for d in engine.definitions():
            table.add_row(
                d.process_id,
                str(d.version),
                d.name,
                f"{d.deployed_at:%Y-%m-%d %H:%M}",
                d.content_hash[:12],
            )
        console.print(table)


@app.command()
def migrate(
    process_id: str,
    from_version: Annotated[int, typer.Option("--from", help="Version the tickets run on.")],
    to_version: Annotated[
        int | None, typer.Option("--to", help="Target version (default: latest).")
    ] = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Move running tickets of a process version to another version, where possible."""
    from ticketflow.engine import Engine
    from ticketflow.users import User

    try:
        with Engine(url) as engine:
            report = engine.migrate_all(
                process_id, User.system(), from_version=from_version, to_version=to_version
            )
    except TicketflowError as exc:
        _fail(exc)
    console.print(f"migrated {len(report.migrated)} tickets: {', '.join(report.migrated)}")
    for number, reasons in report.refused.items():
        console.print(f"[yellow]refused[/] {number}: {plain('; '.join(reasons))}")
    if report.refused:
        raise typer.Exit(1)


@app.command()
def ticket(number: str, url: UrlOption = DEFAULT_URL) -> None:
    """Print a ticket's journey."""
    from ticketflow.engine import Engine
    from ticketflow.journey import print_journey

    try:
        with Engine(url) as engine:
            print_journey(engine, number, console)
    except TicketflowError as exc:
        _fail(exc)


@app.command()
def tasks(
    url: UrlOption = DEFAULT_URL,
    group: Annotated[list[str] | None, typer.Option(help="Candidate group (repeatable).")] = None,
    assignee: str | None = None,
    limit: int = 50,
) -> None:
    """List open tasks, by due time."""
    from ticketflow.engine import Engine

    with Engine(url) as engine:
        page = engine.tasks(candidate_groups=group, assignee=assignee, limit=limit)
        table = Table(
            "id",
            "task",
            "ticket",
            "groups",
            "assignee",
            "priority",
            "due",
            title=f"{page.total} open tasks",
        )
        for t in page:
            table.add_row(
                str(t.id),
                t.name,
                t.ticket_number,
                ",".join(t.candidate_groups),
                t.assignee or "",
                str(t.priority),
                f"{t.due_at:%Y-%m-%d %H:%M}" if t.due_at else "",
            )
        console.print(table)


@app.command()
def plugins(url: UrlOption = DEFAULT_URL) -> None:
    """List loaded plugins (built-in, entry points) and the hooks each implements."""
    from ticketflow.engine import Engine

    with Engine(url) as engine:
        table = Table("plugin", "hooks", title="ticketflow plugins (first asked at the top)")
        pm = engine.plugins
        for name, plugin in reversed(pm.list_name_plugin()):
            hooks = sorted(
                h.name.removeprefix("ticketflow_") for h in pm.get_hookcallers(plugin) or []
            )
            table.add_row(name, ", ".join(hooks))
        console.print(table)


outbox_app = typer.Typer(help="Side effects waiting for delivery.", no_args_is_help=True)
app.add_typer(outbox_app, name="outbox")


@outbox_app.command("list")
def outbox_list(url: UrlOption = DEFAULT_URL, state: str | None = None, limit: int = 50) -> None:
    """List outbox messages (pending, delivered, dead)."""
    from ticketflow.engine import Engine

    with Engine(url) as engine:
        table = Table(
            "id", "ticket", "kind", "what", "state", "attempts", "next attempt", "last error"
        )
        for m in engine.outbox_messages(state=state, limit=limit):
            what = m.payload.get("operation") or f"{m.payload.get('channel')} {m.payload.get('to')}"
            table.add_row(
                str(m.id),
                m.ticket_number or "",
                m.kind,
                str(what),
                m.state,
                str(m.attempts),
                f"{m.next_attempt_at:%Y-%m-%d %H:%M:%S}",
                (m.last_error or "")[:60],
            )
        console.print(table)


@outbox_app.command("deliver")
def outbox_deliver(
    url: UrlOption = DEFAULT_URL,
    loop: Annotated[bool, typer.Option(help="Keep delivering until interrupted.")] = False,
    interval: float = 2.0,
    limit: int = 100,
    max_attempts: Annotated[int, typer.Option(help="Attempts before a dead letter.")] = 6,
    backoff: Annotated[float, typer.Option(help="First retry delay in seconds (doubles).")] = 30,
) -> None:
    """Deliver due messages once, or keep doing so with --loop (a delivery worker)."""
    import time
    from datetime import timedelta

    from ticketflow.engine import Engine

    with Engine(
        url, outbox_max_attempts=max_attempts, outbox_backoff=timedelta(seconds=backoff)
    ) as engine:
        while True:
            report = engine.deliver_outbox(limit)
            if report.attempted or not loop:
                console.print(
                    f"delivered {report.delivered}, retrying {report.retried}, dead {report.dead}"
                )
            if not loop:
                return
            if report.attempted < limit:
                time.sleep(interval)


@app.command()
def sla(
    url: UrlOption = DEFAULT_URL,
    by: Annotated[str, typer.Option(help="department, region or category")] = "department",
) -> None:
    """SLA compliance and open overdue tasks, by department, region or category."""
    from ticketflow.engine import Engine
    from ticketflow.reports import sla_compliance

    try:
        with Engine(url) as engine:
            rows = sla_compliance(engine, by)
    except TicketflowError as exc:
        _fail(exc)
    table = Table(
        by,
        "completed",
        "on time",
        "late",
        "compliance",
        "overdue now",
        title=f"SLA compliance by {by}",
    )
    for r in rows:
        table.add_row(
            r.key,
            str(r.completed),
            str(r.on_time),
            str(r.late),
            f"{r.compliance:.0%}" if r.compliance is not None else "-",
            str(r.open_overdue),
        )
    console.print(table)


@app.command()
def worker(
    url: UrlOption = DEFAULT_URL,
    interval: Annotated[float, typer.Option(help="Seconds to sleep when nothing is due.")] = 1.0,
    batch: Annotated[int, typer.Option(help="Jobs and messages claimed at a time.")] = 50,
    until_idle: Annotated[
        bool, typer.Option(help="Stop once nothing is due (for batch runs and tests).")
    ] = False,
) -> None:
    """Fire due timers and deliver the outbox, in a loop. Run as many as you like against
    PostgreSQL: they share the work through leases (SKIP LOCKED)."""
    import time

    from ticketflow.engine import Engine

    fired = delivered = 0
    with Engine(url) as engine:
        while True:
            run = engine.run_due(batch)
            sent = engine.deliver_outbox(batch)
            fired += run.fired
            delivered += sent.delivered
            if run.attempted or sent.attempted:
                continue
            if until_idle:
                break
            time.sleep(interval)
    console.print(f"worker done: {fired} timers fired, {delivered} messages delivered")


@app.command()
def incidents(
    url: UrlOption = DEFAULT_URL,
    retry: Annotated[int | None, typer.Option(help="Retry the incident with this id.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include resolved incidents.")] = False,
) -> None:
    """List open incidents, or retry one (its failed message is queued again)."""
    from ticketflow.engine import Engine
    from ticketflow.users import User

    try:
        with Engine(url) as engine:
            if retry is not None:
                done = engine.retry_incident(retry, User.system())
                console.print(f"incident {done.id} resolved; its message is queued again")
                return
            table = Table("id", "ticket", "kind", "message", "created", "resolved")
            for i in engine.incidents(open_only=not all_):
                table.add_row(
                    str(i.id),
                    i.ticket_number or "",
                    i.kind,
                    i.message,
                    f"{i.created_at:%Y-%m-%d %H:%M}",
                    f"{i.resolved_at:%Y-%m-%d %H:%M} {i.resolved_by}" if i.resolved_at else "",
                )
            console.print(table)
    except TicketflowError as exc:
        _fail(exc)


from ticketflow.channels.commands import register as register_channels  # noqa: E402
from ticketflow.reports.commands import register as register_reports  # noqa: E402
from ticketflow.service.commands import register as register_service  # noqa: E402
from ticketflow.simulation.commands import register as register_simulation  # noqa: E402

register_service(app)
register_reports(app)
register_channels(app)
register_simulation(app)

if __name__ == "__main__":  # pragma: no cover
    app()
