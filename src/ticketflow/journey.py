"""A ticket's history told as a readable journey (used by the CLI and the demo)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from ticketflow.engine import Engine
from ticketflow.views import EventView

_SKIP_FIELDS = {"ticket_number", "customer_id", "customer_tier", "channel", "region", "priority"}


def _short(value: Any, width: int = 40) -> str:
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _changes(event: EventView) -> str:
    changes = event.details.get("changes") or {}
    parts = [
        f"{k}={_short(v['new'], 28)}"
        for k, v in changes.items()
        if k not in _SKIP_FIELDS and v["new"] is not None
    ]
    for element, diff in (event.details.get("scripts") or {}).items():
        parts.extend(f"{k}={_short(v, 28)} ({element})" for k, v in diff.items())
    return ", ".join(parts)


def describe(event: EventView, names: dict[str, str]) -> tuple[str, str]:
    """(what happened, data) for one event."""
    el = event.element_id or ""
    name = names.get(el, el)
    d = event.details
    if event.kind == "ticket_opened":
        return f"opened via {d.get('channel')} for customer {d.get('customer_id')}", ""
    if event.kind == "task_created":
        who = d.get("assignee") or ", ".join(d.get("candidate_groups") or [])
        return f"→ waits at [bold]{name}[/] for {who}", ""
    if event.kind == "task_claimed":
        return f"claimed {name}", ""
    if event.kind == "task_unclaimed":
        return f"gave back {name}", ""
    if event.kind == "task_completed":
        passed = [names.get(p, p) for p in d.get("passed", []) if not p.startswith("gw_")]
        via = f" → {' → '.join(passed)}" if passed else ""
        return f"completed [bold]{name}[/]{via}", _changes(event)
    if event.kind == "task_cancelled":
        return f"{name} cancelled", ""
    if event.kind == "ticket_suspended":
        return "[yellow]suspended[/]", d.get("reason") or ""
    if event.kind == "ticket_resumed":
        return "[green]resumed[/]", d.get("reason") or ""
    if event.kind == "ticket_closed":
        return f"[green]closed[/] at {name}", ""
    return event.kind, _short(d)


def _elapsed(start: datetime, at: datetime) -> str:
    minutes = int((at - start).total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    return (f"{days}d " if days else "") + f"{hours:02d}:{mins:02d}"


def print_journey(engine: Engine, number: str, console: Console, title: str | None = None) -> None:
    """Print the ticket's journey as a table: elapsed time, actor, what, data."""
    ticket = engine.ticket(number)
    definition = engine.definition(ticket.process_id)
    names = {k: v[1] for k, v in definition.elements.items()}
    events = engine.history(number)
    table = Table(
        title=title or f"{number} · {ticket.process_id} v{ticket.definition_version}",
        title_justify="left",
        caption=f"status: {ticket.status}"
        + (
            f" at {names.get(ticket.end_element or '', ticket.end_element)}"
            if ticket.end_element
            else ""
        )
        + f" · {len(events)} events",
        caption_justify="left",
        show_lines=False,
        expand=False,
    )
    table.add_column("+time", style="dim", no_wrap=True)
    table.add_column("who", style="cyan", no_wrap=True)
    table.add_column("what")
    table.add_column("data", style="magenta")
    for event in events:
        what, data = describe(event, names)
        table.add_row(_elapsed(ticket.opened_at, event.at), event.actor or "·", what, data)
    console.print(table)
