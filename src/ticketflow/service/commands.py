"""Command line of the service-centre features: ``ticketflow timeline``, ``ticketflow
faults ...``, ``ticketflow kb ...`` (registered by :func:`register`)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from ticketflow.console import fail, plain
from ticketflow.errors import InvalidDataError, TicketflowError
from ticketflow.users import User

console = Console()

UrlOption = Annotated[
    str,
    typer.Option("--url", envvar="TICKETFLOW_DATABASE_URL", help="SQLAlchemy database URL."),
]
DEFAULT_URL = "sqlite:///ticketflow.db"

faults_app = typer.Typer(help="Mass faults and planned outages.", no_args_is_help=True)
kb_app = typer.Typer(help="Knowledge base (FAQ) entries.", no_args_is_help=True)


def _fail(exc: Exception) -> NoReturn:
    fail(console, exc)


def _when(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 time from the command line; without a zone it is UTC."""
    if value is None:
        return None
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidDataError(
            f"{option} must be an ISO 8601 time such as 2026-11-23T18:00+08:00, got {value!r}"
        ) from None
    return instant if instant.tzinfo else instant.replace(tzinfo=timezone.utc)


def _user(user: str, groups: list[str] | None) -> User:
    if user == "system" and not groups:
        return User.system()
    return User.of(user, groups=groups or ())


def _stamp(instant: datetime | None) -> str:
    return f"{instant:%Y-%m-%d %H:%M}" if instant else ""


def timeline_command(
    customer: str,
    url: UrlOption = DEFAULT_URL,
    limit: int = 50,
    offset: int = 0,
    newest_first: Annotated[bool, typer.Option(help="Newest entries first.")] = False,
) -> None:
    """The customer's timeline across every ticket and channel (一点投诉)."""
    from ticketflow.engine import Engine
    from ticketflow.service.timeline import timeline

    try:
        with Engine(url) as engine:
            page = timeline(engine, customer, offset=offset, limit=limit, newest_first=newest_first)
    except TicketflowError as exc:
        _fail(exc)
    table = Table(
        "time",
        "ticket",
        "channel",
        "what",
        "by",
        title=f"{customer}: {page.total} entries (showing {offset + 1}-{offset + len(page)})",
    )
    for item in page:
        table.add_row(
            _stamp(item.at),
            item.ticket_number or "",
            item.channel or "",
            item.summary,
            item.actor or "",
        )
    console.print(table)


@faults_app.command("declare")
def faults_declare(
    title: Annotated[str, typer.Option(help="Short title, e.g. 红谷滩光缆中断.")],
    region: Annotated[list[str], typer.Option(help="Affected region code (repeat).")],
    description: Annotated[str, typer.Option(help="What customers are told.")] = "",
    category: Annotated[
        list[str] | None, typer.Option(help="Complaint category it explains (repeat).")
    ] = None,
    starts: Annotated[str | None, typer.Option(help="Start (ISO 8601); default now.")] = None,
    ends: Annotated[str | None, typer.Option(help="Expected end (ISO 8601).")] = None,
    planned: Annotated[bool, typer.Option(help="A planned outage, not a fault.")] = False,
    open_tickets: Annotated[
        bool, typer.Option(help="Open a ticket for each matching complaint too.")
    ] = False,
    by: Annotated[str, typer.Option(help="Who declares it.")] = "system",
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Declare a mass fault or planned outage for some regions."""
    from ticketflow.engine import Engine
    from ticketflow.service.faults import declare_fault

    try:
        with Engine(url) as engine:
            fault = declare_fault(
                engine,
                title=title,
                description=description or title,
                regions=region,
                categories=category or (),
                starts_at=_when(starts, "--starts"),
                ends_at=_when(ends, "--ends"),
                kind="planned" if planned else "fault",
                open_tickets=open_tickets,
                user=by,
            )
    except TicketflowError as exc:
        _fail(exc)
    console.print(
        f"{fault.kind} #{fault.id} declared for {', '.join(fault.regions)} "
        f"from {_stamp(fault.starts_at)}"
        + (f" to {_stamp(fault.ends_at)}" if fault.ends_at else "")
    )


@faults_app.command("list")
def faults_list(
    all_: Annotated[bool, typer.Option("--all", help="Include resolved faults.")] = False,
    region: str | None = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """List active (or all) faults."""
    from ticketflow.engine import Engine
    from ticketflow.service.faults import faults

    try:
        with Engine(url) as engine:
            rows = faults(engine, status=None if all_ else "active", region=region)
    except TicketflowError as exc:
        _fail(exc)
    table = Table("id", "kind", "title", "regions", "categories", "from", "to", "status")
    for f in rows:
        table.add_row(
            str(f.id),
            f.kind,
            f.title,
            ",".join(f.regions),
            ",".join(f.categories),
            _stamp(f.starts_at),
            _stamp(f.ends_at),
            f.status + (f" {_stamp(f.resolved_at)} {f.resolved_by}" if f.resolved_at else ""),
        )
    console.print(table)


@faults_app.command("resolve")
def faults_resolve(
    fault_id: int,
    resolution: Annotated[str, typer.Option(help="What customers are told.")],
    user: Annotated[str, typer.Option(help="Who resolves it (completes the tickets).")] = (
        "system"
    ),
    group: Annotated[list[str] | None, typer.Option(help="The user's groups (repeat).")] = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Resolve a fault: recovery notices to its customers, linked tickets closed."""
    from ticketflow.engine import Engine
    from ticketflow.service.faults import resolve_fault

    try:
        with Engine(url) as engine:
            done = resolve_fault(engine, fault_id, _user(user, group), resolution=resolution)
    except TicketflowError as exc:
        _fail(exc)
    console.print(
        f"fault #{fault_id} resolved: {len(done.closed)} tickets closed, "
        f"{len(done.advanced)} moved on, {len(done.left_open)} left open; "
        f"{len(done.notified)} customers notified, {len(done.unreachable)} without an address"
    )
    for number, reason in done.left_open.items():
        console.print(f"  {number}: {plain(reason)}", highlight=False)


@faults_app.command("spikes")
def faults_spikes(region: str | None = None, url: UrlOption = DEFAULT_URL) -> None:
    """List complaint spikes (counts over the region's baseline)."""
    from ticketflow.engine import Engine
    from ticketflow.service.spikes import alerts

    with Engine(url) as engine:
        rows = alerts(engine, region=region)
    table = Table("id", "raised", "region", "category", "count", "baseline", "threshold")
    for a in rows:
        table.add_row(
            str(a.id),
            _stamp(a.raised_at),
            a.region,
            a.category,
            str(a.count),
            f"{a.baseline:.1f}",
            str(a.threshold),
        )
    console.print(table)


@kb_app.command("add")
def kb_add(
    question: Annotated[str, typer.Option(help="The problem, in the customer's words.")],
    answer: Annotated[str, typer.Option(help="The solution.")],
    author: Annotated[str, typer.Option(help="Who writes it.")],
    category: Annotated[list[str] | None, typer.Option(help="Category (repeat).")] = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Add a knowledge-base entry."""
    from ticketflow.engine import Engine
    from ticketflow.service.knowledge import add_entry

    try:
        with Engine(url) as engine:
            made = add_entry(
                engine, question=question, answer=answer, author=author, categories=category or ()
            )
    except TicketflowError as exc:
        _fail(exc)
    console.print(f"entry {made.id} added")


@kb_app.command("from-ticket")
def kb_from_ticket(
    number: str,
    author: Annotated[str, typer.Option(help="Who writes it.")],
    question: str | None = None,
    answer: str | None = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Make an entry from a closed ticket (its text and reply)."""
    from ticketflow.engine import Engine
    from ticketflow.service.knowledge import entry_from_ticket

    try:
        with Engine(url) as engine:
            made = entry_from_ticket(engine, number, author, question=question, answer=answer)
    except TicketflowError as exc:
        _fail(exc)
    console.print(f"entry {made.id} added from {number}: {plain(made.question)}", highlight=False)


@kb_app.command("search")
def kb_search(
    text: str,
    category: Annotated[list[str] | None, typer.Option(help="Category (repeat).")] = None,
    limit: int = 10,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Search the knowledge base by text similarity."""
    from ticketflow.engine import Engine
    from ticketflow.service.knowledge import search

    try:
        with Engine(url) as engine:
            hits = search(engine, text, categories=category, limit=limit)
    except TicketflowError as exc:
        _fail(exc)
    table = Table("id", "score", "question", "answer", "categories", title=f"{len(hits)} entries")
    for hit in hits:
        e = hit.entry
        table.add_row(str(e.id), f"{hit.score:.0f}", e.question, e.answer, ",".join(e.categories))
    console.print(table)


@kb_app.command("edit")
def kb_edit(
    entry_id: int,
    by: Annotated[str, typer.Option(help="Who edits it.")],
    question: str | None = None,
    answer: str | None = None,
    category: Annotated[list[str] | None, typer.Option(help="Categories (repeat).")] = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Change an entry's question, answer or categories."""
    from ticketflow.engine import Engine
    from ticketflow.service.knowledge import edit_entry

    try:
        with Engine(url) as engine:
            done = edit_entry(
                engine, entry_id, by, question=question, answer=answer, categories=category
            )
    except TicketflowError as exc:
        _fail(exc)
    console.print(f"entry {done.id} now at version {done.version}")


@kb_app.command("retire")
def kb_retire(
    entry_id: int,
    by: Annotated[str, typer.Option(help="Who retires it.")],
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Retire an entry (kept, no longer searched or suggested)."""
    from ticketflow.engine import Engine
    from ticketflow.service.knowledge import retire_entry

    try:
        with Engine(url) as engine:
            retire_entry(engine, entry_id, by)
    except TicketflowError as exc:
        _fail(exc)
    console.print(f"entry {entry_id} retired")


def register(app: typer.Typer) -> None:
    """Add ``timeline``, ``faults`` and ``kb`` to the ``ticketflow`` command line."""
    app.command("timeline")(timeline_command)
    app.add_typer(faults_app, name="faults")
    app.add_typer(kb_app, name="kb")
