"""The customer timeline (一点投诉): everything that happened for a customer, on every
channel, in one list.

It merges the history events of all the customer's tickets (opened, tasks, suspensions,
closing, and the links intake adds: ``contact_linked`` for a repeat contact,
``repeated_by``, ``fault_linked``, ``fault_resolved``) with the contacts that were linked
to a mass fault without a ticket. The merge and the paging happen in the database
(``UNION ALL`` ordered by time), so a page costs the same however long the history is.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Select, func, literal_column, select, union_all
from sqlalchemy.orm import Session

from ticketflow.engine import MAX_PAGE, Engine
from ticketflow.errors import InvalidDataError
from ticketflow.service.units import unit
from ticketflow.store.models import EventRow, TicketRow
from ticketflow.store.service_models import ContactRow
from ticketflow.views import Page


@dataclass(frozen=True)
class TimelineEntry:
    """One thing that happened for the customer."""

    at: datetime
    kind: str
    ticket_number: str | None
    process_id: str | None
    channel: str | None
    actor: str | None
    element_id: str | None
    summary: str
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _describe(kind: str, details: dict[str, Any], element_id: str | None) -> str:
    text = details.get("text")
    if kind == "ticket_opened":
        data = details.get("data") or {}
        words = data.get("summary") or data.get("description") or ""
        return f"opened via {details.get('channel')}" + (f": {words}" if words else "")
    if kind == "ticket_closed":
        return f"closed at {element_id}"
    if kind == "task_completed":
        return f"{element_id} completed"
    if kind == "contact_linked":
        return f"contact via {details.get('channel')} linked as a repeat: {text}"
    if kind == "repeated_by":
        return f"repeated by ticket {details.get('ticket_number')}: {text}"
    if kind == "fault_linked":
        return f"linked to fault #{details.get('fault_id')}"
    if kind == "fault_resolved":
        return f"fault #{details.get('fault_id')} resolved: {details.get('resolution')}"
    if kind == "fault_contact":
        return (
            f"contact via {details.get('channel')} linked to fault #{details.get('fault_id')}: "
            f"{text}"
        )
    return kind.replace("_", " ") + (f" at {element_id}" if element_id else "")


def timeline(
    engine: Engine,
    customer: str,
    *,
    offset: int = 0,
    limit: int = 50,
    newest_first: bool = False,
    since: datetime | None = None,
    until: datetime | None = None,
    session: Session | None = None,
) -> Page[TimelineEntry]:
    """The customer's timeline across every ticket and channel, oldest first (or newest
    first), one page at a time; ``since``/``until`` bound the time (until exclusive)."""
    if offset < 0 or not 1 <= limit <= MAX_PAGE:
        raise InvalidDataError(
            f"offset must be >= 0 and limit 1-{MAX_PAGE}, got offset={offset}, limit={limit}"
        )
    events: Select[tuple[datetime, int, int]] = (
        select(
            EventRow.at.label("at"),
            literal_column("1", Integer).label("source"),
            EventRow.id.label("id"),
        )
        .join(TicketRow, TicketRow.id == EventRow.ticket_id)
        .where(TicketRow.customer_id == customer)
    )
    contacts: Select[tuple[datetime, int, int]] = select(
        ContactRow.received_at.label("at"),
        literal_column("2", Integer).label("source"),
        ContactRow.id.label("id"),
    ).where(ContactRow.customer_id == customer, ContactRow.ticket_id.is_(None))
    if since is not None:
        events = events.where(EventRow.at >= since)
        contacts = contacts.where(ContactRow.received_at >= since)
    if until is not None:
        events = events.where(EventRow.at < until)
        contacts = contacts.where(ContactRow.received_at < until)
    merged = union_all(events, contacts).subquery()
    keys = (merged.c.at, merged.c.source, merged.c.id)
    order = [k.desc() for k in keys] if newest_first else list(keys)
    with unit(engine, session) as s:
        total = s.scalar(select(func.count()).select_from(merged)) or 0
        page = s.execute(
            select(merged.c.source, merged.c.id).order_by(*order).offset(offset).limit(limit)
        ).all()
        event_ids = [i for source, i in page if source == 1]
        contact_ids = [i for source, i in page if source == 2]
        event_rows = {
            e.id: (e, t)
            for e, t in s.execute(
                select(EventRow, TicketRow)
                .join(TicketRow, TicketRow.id == EventRow.ticket_id)
                .where(EventRow.id.in_(event_ids))
            ).tuples()
        }
        contact_rows = {
            c.id: c for c in s.scalars(select(ContactRow).where(ContactRow.id.in_(contact_ids)))
        }
        items: list[TimelineEntry] = []
        for source, i in page:
            if source == 1:
                event, ticket = event_rows[i]
                details = dict(event.details)
                items.append(
                    TimelineEntry(
                        event.at,
                        event.kind,
                        ticket.number,
                        ticket.process_id,
                        details.get("channel") or ticket.channel,
                        event.actor,
                        event.element_id,
                        _describe(event.kind, details, event.element_id),
                        details,
                    )
                )
            else:
                contact = contact_rows[i]
                details = {
                    "contact_id": contact.id,
                    "channel": contact.channel,
                    "text": contact.text,
                    "fault_id": contact.fault_id,
                    "reason": contact.reason,
                    "region": contact.region,
                    "category": contact.category,
                }
                items.append(
                    TimelineEntry(
                        contact.received_at,
                        "fault_contact",
                        None,
                        None,
                        contact.channel,
                        contact.actor,
                        None,
                        _describe("fault_contact", details, None),
                        details,
                    )
                )
        return Page(tuple(items), total, offset, limit)
