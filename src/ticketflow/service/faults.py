"""Mass faults and planned outages (重大故障/计划停机).

A fault is declared for a set of region codes, optional complaint categories and a time
window. While it is active, :class:`~ticketflow.service.intake.Intake` links every
complaint that matches it (same region; the same category, or a text similar to the
fault's title and description) to the fault, tells the customer of the fault once, and —
unless the fault was declared with ``open_tickets=True`` — opens no ticket for it.
:func:`resolve_fault` ends the fault: it sends every affected customer a recovery notice
and completes each linked ticket's closing step through the engine's public API.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ticketflow.engine import Engine
from ticketflow.errors import InvalidDataError, NotFoundError, TaskStateError, TicketflowError
from ticketflow.service.notices import Notices
from ticketflow.service.similarity import coverage, token_string
from ticketflow.service.units import unit
from ticketflow.store.models import EventRow, TicketRow
from ticketflow.store.service_models import ContactRow, FaultRow
from ticketflow.users import User, as_user

FAULT_KINDS = ("fault", "planned")
FAULT_STATES = ("active", "resolved")
#: The closing step of a complaint: the front desk answers it as resolved.
COMPLAINT_CLOSE_STEP_DATA: Mapping[str, Any] = {
    "resolved": True,
    "reply": "{resolution}",
    "note": "重大故障 mass fault #{fault_id} {title} resolved",
}


@dataclass(frozen=True)
class CloseStep:
    """How a linked ticket is closed when its fault is resolved: complete the open task at
    ``element_id`` with ``data``. String values are formatted with ``{resolution}``,
    ``{fault_id}`` and ``{title}``."""

    element_id: str
    data: Mapping[str, Any]

    def form(self, fault: FaultRow, resolution: str) -> dict[str, Any]:
        values = {"resolution": resolution, "fault_id": fault.id, "title": fault.title}
        return {
            key: value.format(**values) if isinstance(value, str) else value
            for key, value in self.data.items()
        }


#: Closing steps by process id. A complaint waiting at its front desk is closed there
#: (``front_desk`` answered as resolved, with the resolution as the reply); a ticket of
#: another process, or one already past the front desk, is left to its handlers and
#: reported in :attr:`FaultResolution.left_open`.
DEFAULT_CLOSE_STEPS: Mapping[str, Sequence[CloseStep]] = {
    "complaint": (CloseStep("front_desk", COMPLAINT_CLOSE_STEP_DATA),),
}


@dataclass(frozen=True)
class FaultView:
    """A declared fault or planned outage."""

    id: int
    kind: str
    title: str
    description: str
    regions: tuple[str, ...]
    categories: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime | None
    open_tickets: bool
    status: str
    declared_by: str | None
    declared_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str | None

    @classmethod
    def from_row(cls, row: FaultRow) -> FaultView:
        return cls(
            row.id,
            row.kind,
            row.title,
            row.description,
            tuple(row.regions),
            tuple(row.categories),
            row.starts_at,
            row.ends_at,
            row.open_tickets,
            row.status,
            row.declared_by,
            row.declared_at,
            row.resolved_at,
            row.resolved_by,
            row.resolution,
        )


@dataclass(frozen=True)
class FaultMatch:
    """Why a contact belongs to a fault."""

    fault: FaultView
    reason: str
    score: float | None = None


@dataclass(frozen=True)
class FaultResolution:
    """What :func:`resolve_fault` did."""

    fault: FaultView
    #: Tickets closed by their closing step.
    closed: tuple[str, ...]
    #: Tickets whose closing step was completed but which go on (e.g. to a callback).
    advanced: tuple[str, ...]
    #: Tickets left open, with the reason (no closing step, suspended, refused...).
    left_open: dict[str, str] = field(default_factory=dict)
    #: Customers sent a recovery notice, and those without a known address.
    notified: tuple[str, ...] = ()
    unreachable: tuple[str, ...] = ()


def _clean_codes(values: Iterable[str], what: str) -> list[str]:
    if isinstance(values, str):
        raise InvalidDataError(f"{what} must be a list of codes, got the string {values!r}")
    codes: list[str] = []
    for value in values:
        if not isinstance(value, str) or not value.strip() or len(value) > 200:
            raise InvalidDataError(
                f"{what} must be non-empty codes of at most 200 characters, got {value!r}"
            )
        if value.strip() not in codes:
            codes.append(value.strip())
    return codes


def declare_fault(
    engine: Engine,
    *,
    title: str,
    description: str,
    regions: Iterable[str],
    categories: Iterable[str] = (),
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    kind: str = "fault",
    open_tickets: bool = False,
    user: User | str | None = None,
    session: Session | None = None,
) -> FaultView:
    """Declare a fault (``kind="fault"``) or planned outage (``"planned"``) for ``regions``.

    Complaints from those regions received between ``starts_at`` (default: now) and
    ``ends_at`` (default: until resolved) whose category is one of ``categories``, or whose
    text is similar to ``title`` and ``description``, are linked to it at intake.
    """
    if kind not in FAULT_KINDS:
        raise InvalidDataError(f"fault kind must be one of {', '.join(FAULT_KINDS)}, got {kind!r}")
    if not isinstance(title, str) or not title.strip() or len(title) > 200:
        raise InvalidDataError(f"fault title must be 1-200 characters, got {title!r}")
    if not isinstance(description, str) or len(description) > 10_000:
        raise InvalidDataError("fault description must be a string of at most 10,000 characters")
    area = _clean_codes(regions, "fault regions")
    if not area:
        raise InvalidDataError("a fault needs at least one region code")
    now = engine.clock.now()
    start = starts_at or now
    for name, instant in (("starts_at", start), ("ends_at", ends_at)):
        if instant is not None and instant.tzinfo is None:
            raise InvalidDataError(f"fault {name} must be timezone-aware, got {instant!r}")
    start = start.astimezone(timezone.utc)
    ends_at = ends_at.astimezone(timezone.utc) if ends_at is not None else None
    if ends_at is not None and ends_at <= start:
        raise InvalidDataError(f"fault ends_at {ends_at} is not after starts_at {start}")
    row = FaultRow(
        kind=kind,
        title=title.strip(),
        description=description,
        tokens=token_string(f"{title} {description}"),
        regions=area,
        categories=_clean_codes(categories, "fault categories"),
        starts_at=start,
        ends_at=ends_at,
        open_tickets=open_tickets,
        status="active",
        declared_by=as_user(user).id if user is not None else None,
        declared_at=now,
    )
    with unit(engine, session, write=True) as s:
        s.add(row)
        s.flush()
        return FaultView.from_row(row)


def faults(
    engine: Engine,
    *,
    status: str | None = "active",
    region: str | None = None,
    limit: int = 100,
    session: Session | None = None,
) -> list[FaultView]:
    """Declared faults, newest first, by status (None for all) and region."""
    if status is not None and status not in FAULT_STATES:
        raise InvalidDataError(
            f"fault status must be one of {', '.join(FAULT_STATES)}, got {status!r}"
        )
    with unit(engine, session) as s:
        q = select(FaultRow).order_by(FaultRow.id.desc())
        if status is not None:
            q = q.where(FaultRow.status == status)
        if region is None:
            q = q.limit(limit)
        rows = [r for r in s.scalars(q) if region is None or region in r.regions]
        return [FaultView.from_row(r) for r in rows[:limit]]


def fault(engine: Engine, fault_id: int, *, session: Session | None = None) -> FaultView:
    """One fault (NotFoundError if it does not exist)."""
    with unit(engine, session) as s:
        return FaultView.from_row(_fault_row(s, fault_id))


def _fault_row(s: Session, fault_id: int, *, lock: bool = False) -> FaultRow:
    row = s.get(FaultRow, fault_id, with_for_update=lock)
    if row is None:
        raise NotFoundError(f"fault {fault_id} does not exist")
    return row


def matching_fault(
    s: Session,
    now: datetime,
    region: str | None,
    category: str | None,
    tokens: Sequence[str],
    threshold: float,
) -> FaultMatch | None:
    """The active fault a contact belongs to, if any: same region, inside the window, and
    the same category, or a text whose words the fault's title and description cover to at
    least ``threshold`` (:func:`~ticketflow.service.similarity.coverage`)."""
    if region is None:
        return None
    rows = s.scalars(
        select(FaultRow)
        .where(FaultRow.status == "active", FaultRow.starts_at <= now)
        .order_by(FaultRow.id)
    )
    best: FaultMatch | None = None
    for row in rows:
        if region not in row.regions or (row.ends_at is not None and row.ends_at <= now):
            continue
        if category is not None and category in row.categories:
            return FaultMatch(FaultView.from_row(row), f"category {category} in region {region}")
        score = coverage(tokens, row.tokens)
        if score >= threshold and (best is None or (best.score or 0) < score):
            best = FaultMatch(
                FaultView.from_row(row),
                f"text similar to the fault ({score:.0f} >= {threshold:g}) in region {region}",
                score,
            )
    return best


def fault_customers(s: Session, fault_id: int) -> list[str]:
    """The customers who contacted the centre about the fault."""
    return list(
        s.scalars(
            select(ContactRow.customer_id)
            .where(ContactRow.fault_id == fault_id)
            .distinct()
            .order_by(ContactRow.customer_id)
        )
    )


def _linked_tickets(s: Session, fault_id: int) -> list[TicketRow]:
    ids = select(ContactRow.ticket_id).where(
        ContactRow.fault_id == fault_id, ContactRow.ticket_id.is_not(None)
    )
    return list(s.scalars(select(TicketRow).where(TicketRow.id.in_(ids)).order_by(TicketRow.id)))


def fault_notice(fault: FaultView | FaultRow) -> str:
    """The text telling a customer of a fault at intake."""
    word = "计划停机 Planned outage" if fault.kind == "planned" else "故障通知 Network fault"
    until = (
        f" 预计恢复 expected back by {fault.ends_at:%Y-%m-%d %H:%M} UTC." if fault.ends_at else ""
    )
    return f"【{word}】{fault.title}: {fault.description}{until}"


def recovery_notice(fault: FaultRow, resolution: str) -> str:
    """The text telling an affected customer that service is back."""
    return f"【恢复通知 Service restored】{fault.title} 已恢复 is resolved: {resolution}"


def resolve_fault(
    engine: Engine,
    fault_id: int,
    user: User | str,
    *,
    resolution: str,
    close_steps: Mapping[str, Sequence[CloseStep]] = DEFAULT_CLOSE_STEPS,
    notices: Notices | None = None,
    session: Session | None = None,
) -> FaultResolution:
    """Resolve a fault: record it, tell every affected customer of the recovery, and close
    the linked tickets in one action.

    Each open linked ticket gets the first of ``close_steps[process_id]`` that it waits at,
    completed by ``user`` through :meth:`Engine.complete` (so the user needs the right to
    complete it, and the usual hooks, scores and history apply); a ``fault_resolved`` event
    names the fault and the resolution in every linked ticket's history. A ticket that
    cannot be closed is left open and listed with the reason; the rest still goes through.
    """
    actor = as_user(user)
    if not isinstance(resolution, str) or not resolution.strip() or len(resolution) > 2000:
        raise InvalidDataError("a fault resolution must be a text of 1-2000 characters")
    notices = notices or Notices()
    with unit(engine, session) as s:
        row = _fault_row(s, fault_id)
        if row.status != "active":
            raise TaskStateError(
                f"fault {fault_id} is {row.status} (by {row.resolved_by} at {row.resolved_at})"
            )
        customers = fault_customers(s, fault_id)
    # Addresses are looked up outside the write transaction (the CRM may be slow).
    addresses = {c: notices.address_of_customer(engine, c) for c in customers}
    closed: list[str] = []
    advanced: list[str] = []
    left_open: dict[str, str] = {}
    now = engine.clock.now()
    with unit(engine, session, write=True) as s:
        row = _fault_row(s, fault_id, lock=True)
        if row.status != "active":
            raise TaskStateError(f"fault {fault_id} was resolved by {row.resolved_by} meanwhile")
        row.status = "resolved"
        row.resolved_at = now
        row.resolved_by = actor.id
        row.resolution = resolution
        for ticket in _linked_tickets(s, fault_id):
            number = ticket.number or str(ticket.id)
            s.add(
                EventRow(
                    ticket_id=ticket.id,
                    at=now,
                    actor=actor.id,
                    kind="fault_resolved",
                    element_id=None,
                    task_id=None,
                    details={"fault_id": fault_id, "title": row.title, "resolution": resolution},
                )
            )
            outcome = _close_linked(engine, s, ticket, row, resolution, actor, close_steps)
            if outcome == "closed":
                closed.append(number)
            elif outcome == "advanced":
                advanced.append(number)
            elif outcome is not None:
                left_open[number] = outcome
        notified: list[str] = []
        unreachable: list[str] = []
        for customer in fault_customers(s, fault_id):
            address = (
                addresses.get(customer)
                if customer in addresses
                else (notices.address_of_customer(engine, customer))
            )
            if address is None:
                unreachable.append(customer)
                continue
            notices.send(
                engine,
                s,
                to=address,
                body=recovery_notice(row, resolution),
                subject=f"恢复通知 Service restored: {row.title}",
                role="customer",
                key=f"fault:{fault_id}:recovered:{customer}",
                now=now,
            )
            notified.append(customer)
        s.flush()
        return FaultResolution(
            FaultView.from_row(row),
            tuple(closed),
            tuple(advanced),
            left_open,
            tuple(notified),
            tuple(unreachable),
        )


def _close_linked(
    engine: Engine,
    s: Session,
    ticket: TicketRow,
    fault_row: FaultRow,
    resolution: str,
    actor: User,
    close_steps: Mapping[str, Sequence[CloseStep]],
) -> str | None:
    """Complete the ticket's closing step: ``closed``, ``advanced``, a reason it stays
    open, or None for a ticket that was already closed."""
    if ticket.status == "closed":
        return None
    if ticket.status != "open":
        return f"the ticket is {ticket.status}"
    number = ticket.number or str(ticket.id)
    view = engine.ticket(number, session=s)
    waiting = {t.element_id: t for t in view.open_tasks}
    for step in close_steps.get(ticket.process_id, ()):
        task = waiting.get(step.element_id)
        if task is None:
            continue
        try:
            after = engine.complete(task.id, actor, step.form(fault_row, resolution), session=s)
        except TicketflowError as exc:
            return f"completing '{step.element_id}' failed: {exc}"
        return "closed" if after.status == "closed" else "advanced"
    steps = ", ".join(step.element_id for step in close_steps.get(ticket.process_id, ()))
    return (
        f"no closing step for process '{ticket.process_id}' is open "
        f"(waiting at: {', '.join(waiting) or 'nothing'}; closing steps: {steps or 'none'})"
    )
