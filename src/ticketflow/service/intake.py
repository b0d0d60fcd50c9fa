"""Intake with one point of complaint (一点投诉): every contact is checked before a ticket
is opened.

:meth:`Intake.receive` is a layer above :meth:`Engine.open_ticket`. For each contact it

1. shows the customer's earlier and open tickets (:attr:`IntakeResult.history`);
2. looks for a **mass fault** covering the contact (see :mod:`ticketflow.service.faults`):
   the contact is linked to the fault and the customer told of it; no ticket is opened
   unless the fault was declared with ``open_tickets=True``;
3. looks for a **repeat complaint** (重复投诉): a ticket of the same customer, open or
   closed within :attr:`RepeatPolicy.closed_within`, whose intake text scores at least
   :attr:`RepeatPolicy.threshold` against the new text. A repeat of an *open* ticket is
   linked to it instead of opening a second one (an event in that ticket's history says
   so, with the score); a repeat of a *closed* ticket opens a new ticket that names the
   old one in ``repeat_of``. ``force_new=True`` always opens a new ticket;
4. suggests knowledge-base entries for the text;
5. records the contact (text and tokens) in ``tf_service_contact`` and checks for a
   complaint spike in its region and category (:mod:`ticketflow.service.spikes`).

Everything one contact writes — the ticket, the link, the events and the notices — is
one transaction (the host's, when ``session=`` is passed).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy import text as sql
from sqlalchemy.orm import Session

from ticketflow.engine import OPEN_STATES, Engine
from ticketflow.errors import InvalidDataError
from ticketflow.service.faults import FaultMatch, fault_notice, matching_fault
from ticketflow.service.knowledge import DEFAULT_MIN_SCORE, KnowledgeHit, ranked
from ticketflow.service.notices import Notices, lookup_customer
from ticketflow.service.similarity import similarity, split_tokens, tokenize
from ticketflow.service.spikes import SpikeAlert, SpikePolicy, check_spike
from ticketflow.service.units import unit
from ticketflow.store.models import EventRow, TicketRow
from ticketflow.store.service_models import ContactRow
from ticketflow.users import User, as_user
from ticketflow.views import TicketView

MAX_TEXT = 4000


@dataclass(frozen=True)
class RepeatPolicy:
    """When a contact is a repeat of an earlier ticket.

    ``threshold`` is the similarity score (0-100, see :mod:`ticketflow.service.similarity`)
    from which two texts are the same problem: 35 links "宽带又断了，昨天报过还没修好" to
    "家里宽带断网" (41) but not "宽带速度很慢" (33). Contacts of the last ``window`` are
    compared, with tickets that are open or were closed within ``closed_within``;
    ``processes`` limits the tickets compared to those processes (None: any).
    """

    threshold: float = 35.0
    window: timedelta = timedelta(days=90)
    closed_within: timedelta = timedelta(days=7)
    processes: frozenset[str] | None = None
    max_candidates: int = 200

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 100:
            raise ValueError(f"repeat threshold must be in (0, 100], got {self.threshold}")
        if self.window <= timedelta(0) or self.closed_within < timedelta(0):
            raise ValueError("repeat window must be positive and closed_within not negative")


@dataclass(frozen=True)
class TicketSummary:
    """One of the customer's tickets as intake shows it."""

    number: str
    process_id: str
    status: str
    channel: str
    opened_at: datetime
    closed_at: datetime | None
    text: str | None
    #: Later contacts linked to this ticket as repeats.
    repeats: int


@dataclass(frozen=True)
class RepeatMatch:
    """An earlier ticket the new text resembles."""

    ticket_number: str
    status: str
    score: float
    text: str


@dataclass(frozen=True)
class IntakePreview:
    """What intake knows before it decides: for the agent while the customer speaks."""

    history: tuple[TicketSummary, ...]
    candidates: tuple[RepeatMatch, ...]
    repeat: RepeatMatch | None
    fault: FaultMatch | None
    suggestions: tuple[KnowledgeHit, ...]


@dataclass(frozen=True)
class IntakeResult:
    """What :meth:`Intake.receive` did with a contact.

    ``outcome`` is ``opened`` (a new ticket), ``repeat`` (linked to the open ticket
    ``ticket``) or ``fault`` (linked to the fault, no ticket). ``reason`` says why.
    """

    outcome: str
    reason: str
    contact_id: int
    ticket: TicketView | None
    repeat: RepeatMatch | None
    fault: FaultMatch | None
    forced: bool
    history: tuple[TicketSummary, ...]
    candidates: tuple[RepeatMatch, ...] = ()
    suggestions: tuple[KnowledgeHit, ...] = ()
    #: The customer was sent a notice of the fault.
    fault_notice_sent: bool = False
    alert: SpikeAlert | None = None


@dataclass
class _Contact:
    customer: str
    channel: str
    text: str
    tokens: list[str]
    region: str | None
    category: str | None


class Intake:
    """Receives contacts for an :class:`Engine` (see the module documentation).

    ``text_field`` is the ticket data field that holds the customer's words (the
    complaint journeys and the demo put it in ``summary``); ``fault_threshold`` is the
    coverage (0-100) from which a contact's text matches a fault's title and description
    when its category does not (25: "宽带上不了网" matches a fault "光缆被挖断，宽带中断"
    at 33, "宽带又断了，昨天报过还没修好" at 27, a billing complaint at 0);
    ``spikes=None`` turns spike detection off.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        repeats: RepeatPolicy | None = None,
        spikes: SpikePolicy | None = SpikePolicy(),  # noqa: B008 - frozen, shared safely
        notices: Notices | None = None,
        text_field: str = "summary",
        fault_threshold: float = 25.0,
        suggestions: int = 3,
        suggestion_min_score: float = DEFAULT_MIN_SCORE,
        history_limit: int = 20,
    ) -> None:
        self.engine = engine
        self.repeats = repeats or RepeatPolicy()
        self.spikes = spikes
        self.notices = notices or Notices()
        self.text_field = text_field
        self.fault_threshold = fault_threshold
        self.suggestions = suggestions
        self.suggestion_min_score = suggestion_min_score
        self.history_limit = history_limit

    # ------------------------------------------------------------------ reading

    def preview(
        self,
        customer: str,
        text: str,
        *,
        region: str | None = None,
        category: str | None = None,
        session: Session | None = None,
    ) -> IntakePreview:
        """The customer's tickets, repeat candidates, a matching fault and FAQ suggestions
        for ``text``, without writing anything."""
        contact = self._contact(customer, "hotline", text, region, category, check_channel=False)
        with unit(self.engine, session) as s:
            return self._preview(s, contact, self.engine.clock.now())

    def _preview(
        self, s: Session, contact: _Contact, now: datetime, *, candidates: bool = True
    ) -> IntakePreview:
        """``candidates=False`` leaves the repeat candidates out (receive reads them again
        under the customer's lock)."""
        history = self._history(s, contact.customer)
        found = self._candidates(s, contact, now) if candidates else []
        repeat = self._repeat(found)
        fault = matching_fault(
            s, now, contact.region, contact.category, contact.tokens, self.fault_threshold
        )
        hits = (
            ranked(
                s,
                contact.tokens,
                categories=[contact.category] if contact.category else None,
                limit=self.suggestions,
                min_score=self.suggestion_min_score,
            )
            if self.suggestions
            else []
        )
        return IntakePreview(history, tuple(found[:10]), repeat, fault, tuple(hits))

    def _repeat(self, candidates: Sequence[RepeatMatch]) -> RepeatMatch | None:
        """The ticket a contact repeats. An open ticket above the threshold wins over a
        closed one scoring higher: the contact then joins work in progress."""
        similar = [c for c in candidates if c.score >= self.repeats.threshold]
        return next((c for c in similar if c.status in OPEN_STATES), None) or next(
            iter(similar), None
        )

    def history(
        self, customer: str, *, session: Session | None = None
    ) -> tuple[TicketSummary, ...]:
        """The customer's tickets as intake shows them: open ones first, then newest."""
        with unit(self.engine, session) as s:
            return self._history(s, customer)

    def _history(self, s: Session, customer: str) -> tuple[TicketSummary, ...]:
        page = self.engine.tickets(customer=customer, limit=self.history_limit, session=s)
        ids = [t.id for t in page]
        texts: dict[int, str] = {}
        repeats: dict[int, int] = {}
        if ids:
            for ticket_id, text in s.execute(
                select(ContactRow.ticket_id, ContactRow.text)
                .where(ContactRow.ticket_id.in_(ids), ContactRow.outcome == "opened")
                .order_by(ContactRow.id.desc())
            ).tuples():
                if ticket_id is not None:
                    texts[ticket_id] = text
            for ticket_id, count in s.execute(
                select(ContactRow.ticket_id, func.count())
                .where(ContactRow.ticket_id.in_(ids), ContactRow.outcome == "repeat")
                .group_by(ContactRow.ticket_id)
            ).tuples():
                if ticket_id is not None:
                    repeats[ticket_id] = count
        summaries = [
            TicketSummary(
                t.number,
                t.process_id,
                t.status,
                t.channel,
                t.opened_at,
                t.closed_at,
                texts.get(t.id) or self._ticket_text(t.data, t.subject),
                repeats.get(t.id, 0),
            )
            for t in page
        ]
        summaries.sort(key=lambda t: (t.status not in OPEN_STATES, -t.opened_at.timestamp()))
        return tuple(summaries)

    def _ticket_text(self, data: Mapping[str, Any], subject: str | None) -> str | None:
        value = data.get(self.text_field)
        return value if isinstance(value, str) and value else subject

    def _candidates(self, s: Session, contact: _Contact, now: datetime) -> list[RepeatMatch]:
        """Tickets of the customer that are open or recently closed, scored against the
        contact: by the stored tokens of their contacts, or — for tickets opened without
        intake — by their subject or text field."""
        policy = self.repeats
        recent = or_(
            TicketRow.status.in_(OPEN_STATES),
            TicketRow.closed_at >= now - policy.closed_within,
        )
        q = (
            select(ContactRow.ticket_id, ContactRow.tokens, ContactRow.text)
            .join(TicketRow, TicketRow.id == ContactRow.ticket_id)
            .where(
                ContactRow.customer_id == contact.customer,
                ContactRow.received_at >= now - policy.window,
                recent,
            )
            .order_by(ContactRow.id.desc())
            .limit(policy.max_candidates)
        )
        best: dict[int, tuple[float, str]] = {}
        for ticket_id, stored, text in s.execute(q).tuples():
            if ticket_id is None:
                continue
            score = similarity(contact.tokens, split_tokens(stored))
            if ticket_id not in best or best[ticket_id][0] < score:
                best[ticket_id] = (score, text)
        without_contact = (
            select(TicketRow)
            .where(
                TicketRow.customer_id == contact.customer,
                TicketRow.opened_at >= now - policy.window,
                recent,
                ~select(ContactRow.id).where(ContactRow.ticket_id == TicketRow.id).exists(),
            )
            .order_by(TicketRow.id.desc())
            .limit(policy.max_candidates)
        )
        rows = {r.id: r for r in s.scalars(without_contact)}
        for row in rows.values():
            words = self._ticket_text(row.data, row.subject)
            if words:
                best[row.id] = (similarity(contact.tokens, tokenize(words)), words)
        if best:
            rows.update(
                {r.id: r for r in s.scalars(select(TicketRow).where(TicketRow.id.in_(best)))}
            )
        matches = [
            (row, score, text)
            for ticket_id, (score, text) in best.items()
            if score > 0
            and (row := rows[ticket_id]).number is not None
            and (policy.processes is None or row.process_id in policy.processes)
        ]
        matches.sort(key=lambda m: (-m[1], m[0].status not in OPEN_STATES, -m[0].id))
        return [RepeatMatch(r.number or "", r.status, score, text) for r, score, text in matches]

    # ------------------------------------------------------------------ receiving

    def _contact(
        self,
        customer: str,
        channel: str,
        text: str,
        region: str | None,
        category: str | None,
        *,
        check_channel: bool = True,
    ) -> _Contact:
        if not isinstance(customer, str) or not customer.strip() or len(customer) > 100:
            raise InvalidDataError(
                f"customer must be a non-empty id of at most 100 characters, got {customer!r}"
            )
        if check_channel and channel not in self.engine.channels:
            raise InvalidDataError(
                f"unknown channel {channel!r}; known channels: {', '.join(self.engine.channels)}"
            )
        if not isinstance(text, str) or not text.strip():
            raise InvalidDataError(f"the contact of customer {customer} has no text")
        if len(text) > MAX_TEXT:
            raise InvalidDataError(
                f"the contact text of customer {customer} has {len(text)} characters; "
                f"at most {MAX_TEXT} are allowed"
            )
        for name, value, limit in (("region", region, 100), ("category", category, 200)):
            if value is not None and (not isinstance(value, str) or not 0 < len(value) <= limit):
                raise InvalidDataError(f"{name} must be 1-{limit} characters, got {value!r}")
        return _Contact(customer, channel, text.strip(), tokenize(text), region, category)

    def receive(
        self,
        process_id: str,
        *,
        customer: str,
        channel: str,
        text: str,
        data: Mapping[str, Any] | None = None,
        region: str | None = None,
        category: str | None = None,
        customer_tier: str | None = None,
        priority: int | None = None,
        subject: str | None = None,
        business_key: str | None = None,
        user: User | str | None = None,
        force_new: bool = False,
        session: Session | None = None,
    ) -> IntakeResult:
        """Receive a contact: link it to a fault or an open ticket it repeats, or open a
        ``process_id`` ticket with ``text`` in its data (see the module documentation).

        ``category`` is the problem category as far as intake knows it (used for fault
        matching, spikes and suggestions); ``region`` defaults to the CRM's.
        """
        engine = self.engine
        contact = self._contact(customer, channel, text, region, category)
        initial = dict(data or {})
        if initial.get(self.text_field) not in (None, contact.text):
            raise InvalidDataError(
                f"data field '{self.text_field}' differs from the contact text; pass the "
                "customer's words once, as text="
            )
        info = None
        if contact.region is None:  # faults and spikes need it before the ticket exists
            info = lookup_customer(engine, customer)
            contact.region = info.region if info is not None else None
        now = engine.clock.now()
        with unit(engine, session) as s:
            engine.definition(process_id, session=s)  # UnknownProcessError, whatever happens
            preview = self._preview(s, contact, now, candidates=False)
        fault = preview.fault
        address = None
        if fault is not None:
            address = self.notices.address_of_customer(engine, customer, info)
        actor = as_user(user).id if user is not None else None
        with unit(engine, session, write=True) as s:
            # One contact of a customer at a time: the candidates are read again under the
            # lock, so two contacts arriving together cannot both open a ticket.
            _lock_customer(s, customer)
            candidates = self._candidates(s, contact, now)
            repeat = self._repeat(candidates)
            target: TicketRow | None = None
            if repeat is not None and repeat.status in OPEN_STATES:
                target = s.scalars(
                    select(TicketRow).where(TicketRow.number == repeat.ticket_number)
                ).first()
                if target is None or target.status not in OPEN_STATES:
                    target = None  # closed meanwhile: open a new ticket instead
            if fault is not None and not fault.fault.open_tickets and not force_new:
                outcome, ticket_row = "fault", None
                reason = f"linked to {fault.fault.kind} #{fault.fault.id}: {fault.reason}"
            elif target is not None and not force_new:
                assert repeat is not None
                outcome, ticket_row = "repeat", target
                reason = (
                    f"repeat of open ticket {repeat.ticket_number} "
                    f"(similarity {repeat.score:.0f} >= {self.repeats.threshold:g})"
                )
            else:
                outcome = "opened"
                reason = self._opened_reason(repeat, fault, force_new)
                extra: dict[str, Any] = {self.text_field: contact.text}
                if repeat is not None:
                    extra["repeat_of"] = repeat.ticket_number
                if fault is not None:
                    extra["mass_fault"] = fault.fault.id
                view = engine.open_ticket(
                    process_id,
                    customer=customer,
                    channel=channel,
                    data={**initial, **extra},
                    customer_tier=customer_tier,
                    priority=priority,
                    region=contact.region,
                    subject=subject or _headline(contact.text),
                    business_key=business_key,
                    user=user,
                    session=s,
                )
                ticket_row = s.get(TicketRow, view.id)
            row = ContactRow(
                customer_id=customer,
                channel=channel,
                region=contact.region,
                category=contact.category,
                text=contact.text,
                tokens=" ".join(contact.tokens),
                received_at=now,
                actor=actor,
                outcome=outcome,
                ticket_id=ticket_row.id if ticket_row else None,
                ticket_number=ticket_row.number if ticket_row else None,
                repeat_of=repeat.ticket_number if repeat is not None else None,
                fault_id=fault.fault.id if fault is not None else None,
                score=repeat.score if repeat is not None else (fault.score if fault else None),
                reason=reason[:500],
                forced=force_new,
            )
            s.add(row)
            s.flush()
            self._record_events(s, row, ticket_row, repeat, fault, now)
            sent = False
            if fault is not None and address is not None:
                sent = self.notices.send(
                    engine,
                    s,
                    to=address,
                    body=fault_notice(fault.fault),
                    subject=f"故障通知 Service notice: {fault.fault.title}",
                    role="customer",
                    key=f"fault:{fault.fault.id}:notice:{customer}",
                    now=now,
                )
            alert = None
            if self.spikes is not None and fault is None and contact.region and contact.category:
                alert = check_spike(
                    engine, s, contact.region, contact.category, now, self.spikes, self.notices
                )
            ticket = (
                engine.ticket(ticket_row.number, session=s)
                if ticket_row is not None and ticket_row.number is not None
                else None
            )
            return IntakeResult(
                outcome,
                reason,
                row.id,
                ticket,
                repeat,
                fault,
                force_new,
                preview.history,
                tuple(candidates[:10]),
                preview.suggestions,
                sent,
                alert,
            )

    def _opened_reason(
        self, repeat: RepeatMatch | None, fault: FaultMatch | None, force_new: bool
    ) -> str:
        parts = ["new ticket"]
        if force_new:
            parts.append("forced by the caller")
        if repeat is not None:
            parts.append(
                f"repeats {repeat.status} ticket {repeat.ticket_number} "
                f"(similarity {repeat.score:.0f})"
            )
        if fault is not None:
            parts.append(f"linked to {fault.fault.kind} #{fault.fault.id}: {fault.reason}")
        return "; ".join(parts)

    @staticmethod
    def _record_events(
        s: Session,
        contact: ContactRow,
        ticket: TicketRow | None,
        repeat: RepeatMatch | None,
        fault: FaultMatch | None,
        now: datetime,
    ) -> None:
        """History events: the contact in the ticket it joined, the repeat in the ticket it
        repeats, the fault link."""
        details: dict[str, Any] = {
            "contact_id": contact.id,
            "channel": contact.channel,
            "text": contact.text,
            "reason": contact.reason,
        }
        if repeat is not None:
            details["score"] = repeat.score
        if fault is not None:
            details["fault_id"] = fault.fault.id
        events: list[tuple[int, str, dict[str, Any]]] = []
        if ticket is not None and contact.outcome == "repeat":
            events.append((ticket.id, "contact_linked", details))
        if ticket is not None and fault is not None:
            events.append((ticket.id, "fault_linked", details))
        if repeat is not None and contact.outcome == "opened" and ticket is not None:
            old = s.scalars(select(TicketRow).where(TicketRow.number == repeat.ticket_number))
            earlier = old.first()
            if earlier is not None:
                events.append(
                    (earlier.id, "repeated_by", {**details, "ticket_number": ticket.number})
                )
        for ticket_id, kind, payload in events:
            s.add(
                EventRow(
                    ticket_id=ticket_id,
                    at=now,
                    actor=contact.actor,
                    kind=kind,
                    element_id=None,
                    task_id=None,
                    details=payload,
                )
            )


def _lock_customer(s: Session, customer: str) -> None:
    """Serialise the intake of one customer's contacts until the transaction ends: a
    transaction-scoped advisory lock on PostgreSQL; SQLite's write transactions are
    serial already."""
    if s.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.blake2b(f"ticketflow.intake:{customer}".encode(), digest_size=8).digest()
    s.execute(
        sql("SELECT pg_advisory_xact_lock(:key)"),
        {"key": int.from_bytes(digest, "big", signed=True)},
    )


def _headline(text: str, limit: int = 200) -> str:
    line = text.strip().splitlines()[0] if text.strip() else text
    return line if len(line) <= limit else line[: limit - 1] + "…"
