"""The transactional outbox: side effects written with the state change, delivered after.

A notification or connector call is a row in ``tf_outbox`` inserted in the same
transaction as the ticket change that caused it, so it exists exactly when the change
does. :meth:`Outbox.deliver` claims due rows under a lease (``FOR UPDATE SKIP LOCKED``
on PostgreSQL, so several workers share the work), calls the delivery hook outside any
transaction, and records the outcome: delivered, or retried later with exponential
backoff, or — after the last attempt — a dead letter with an incident for a person.

A failure that retrying cannot fix (see :func:`permanent`) goes straight to the dead
letters. Each row has an idempotency key, unique in the table: queueing the same effect twice
stores it once, and the key travels with every attempt (e-mail Message-ID, HTTP
``Idempotency-Key``) so a receiver can drop a repeated delivery.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ticketflow.hooks.types import ConnectorCall, Notification
from ticketflow.store.models import IncidentRow, OutboxRow, TicketRow

if TYPE_CHECKING:
    from ticketflow.engine import Engine

log = logging.getLogger("ticketflow.outbox")


def permanent(exc: BaseException) -> bool:
    """A failure that retrying cannot fix: bad input (ValueError, TypeError), no plugin for
    the channel or operation (LookupError), or a ticketflow error raised by a plugin.
    Network and server errors (OSError, timeouts, SMTP errors...) are retried."""
    from ticketflow.errors import TicketflowError

    return isinstance(exc, (TicketflowError, ValueError, TypeError, LookupError))


LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class OutboxView:
    id: int
    ticket_number: str | None
    kind: str
    payload: dict[str, Any]
    idempotency_key: str
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    result: dict[str, Any] | None
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def from_row(cls, r: OutboxRow) -> OutboxView:
        return cls(
            r.id,
            r.ticket_number,
            r.kind,
            dict(r.payload),
            r.idempotency_key,
            r.state,
            r.attempts,
            r.next_attempt_at,
            r.last_error,
            dict(r.result) if r.result is not None else None,
            r.created_at,
            r.delivered_at,
        )


@dataclass(frozen=True)
class IncidentView:
    id: int
    ticket_number: str | None
    kind: str
    message: str
    outbox_id: int | None
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None

    @classmethod
    def from_row(cls, r: IncidentRow) -> IncidentView:
        return cls(
            r.id,
            r.ticket_number,
            r.kind,
            r.message,
            r.outbox_id,
            r.created_at,
            r.resolved_at,
            r.resolved_by,
        )


@dataclass(frozen=True)
class DeliveryReport:
    """What one :meth:`Outbox.deliver` pass did."""

    delivered: int
    retried: int
    dead: int

    @property
    def attempted(self) -> int:
        return self.delivered + self.retried + self.dead


class Outbox:
    """Queueing and delivery of side effects for one Engine."""

    def __init__(
        self,
        engine: Engine,
        max_attempts: int = 6,
        backoff: timedelta = timedelta(seconds=30),
        max_backoff: timedelta = timedelta(hours=1),
    ) -> None:
        if max_attempts < 1:
            raise ValueError("outbox max_attempts must be at least 1")
        self.engine = engine
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    # --- queueing (inside the caller's transaction) ------------------------------------

    def enqueue(
        self,
        s: Session,
        ticket: TicketRow | None,
        kind: str,
        payload: Mapping[str, Any],
        key: str,
        now: datetime,
    ) -> OutboxRow | None:
        """Add a side effect; an existing row with the same key makes this a no-op."""
        scope = ticket.number if ticket is not None else "global"
        full_key = f"{scope}:{kind}:{key}" if key else f"{scope}:{kind}:{uuid.uuid4().hex}"
        if s.scalars(select(OutboxRow.id).where(OutboxRow.idempotency_key == full_key)).first():
            return None
        row = OutboxRow(
            ticket_id=ticket.id if ticket is not None else None,
            ticket_number=ticket.number if ticket is not None else None,
            kind=kind,
            payload=dict(payload),
            idempotency_key=full_key,
            state="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        s.add(row)
        return row

    # --- delivery (outside any ticket transaction) ---------------------------------------

    def deliver(self, limit: int = 100) -> DeliveryReport:
        """Deliver up to ``limit`` due messages; safe to run in several processes at once."""
        claimed = self._claim(limit)
        delivered = retried = dead = 0
        for row_id, kind, payload, key, ticket_number in claimed:
            if not self._renew(row_id):
                continue  # another worker took it over after our lease ran out
            try:
                result = self._perform(kind, payload, key, ticket_number)
            except Exception as exc:  # any failure is recorded, never lost
                outcome = self._failed(row_id, f"{type(exc).__name__}: {exc}", permanent(exc))
                if outcome == "dead":
                    dead += 1
                else:
                    retried += 1
                continue
            self._delivered(row_id, result)
            delivered += 1
        return DeliveryReport(delivered, retried, dead)

    def _claim(self, limit: int) -> list[tuple[int, str, dict[str, Any], str, str | None]]:
        now = self.engine.clock.now()
        with Session(self.engine.bind) as s, s.begin():
            q = (
                select(OutboxRow)
                .where(
                    OutboxRow.state == "pending",
                    OutboxRow.next_attempt_at <= now,
                    or_(OutboxRow.lease_until.is_(None), OutboxRow.lease_until < now),
                )
                .order_by(OutboxRow.next_attempt_at, OutboxRow.id)
                .limit(limit)
            )
            if self.engine.bind.dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)
            rows = list(s.scalars(q))
            for row in rows:
                row.lease_owner = self.worker_id
                row.lease_until = now + LEASE
            return [
                (r.id, r.kind, dict(r.payload), r.idempotency_key, r.ticket_number) for r in rows
            ]

    def _renew(self, row_id: int) -> bool:
        """Extend our lease just before the attempt; False if the message is no longer ours."""
        now = self.engine.clock.now()
        with Session(self.engine.bind) as s, s.begin():
            result = s.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.id == row_id,
                    OutboxRow.lease_owner == self.worker_id,
                    OutboxRow.state == "pending",
                )
                .values(lease_until=now + LEASE)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def _perform(
        self, kind: str, payload: dict[str, Any], key: str, ticket_number: str | None
    ) -> dict[str, Any] | None:
        hook = self.engine.plugins.hook
        if kind == "notify":
            message = Notification.from_payload(payload, key)
            if hook.ticketflow_notify(message=message) is None:
                raise LookupError(f"no plugin delivers {message.channel} notifications")
            return None
        if kind == "connector":
            call = ConnectorCall(
                operation=payload["operation"],
                params=payload.get("params", {}),
                ticket_number=ticket_number,
                element_id=payload.get("element_id"),
                idempotency_key=key,
                timeout=float(payload.get("timeout", ConnectorCall.timeout)),
                synchronous=False,
            )
            result = hook.ticketflow_connector(call=call)
            if result is None:
                raise LookupError(f"no plugin performs connector operation '{call.operation}'")
            return dict(result)
        raise ValueError(f"unknown outbox kind {kind!r}")

    def _mine(self, s: Session, row_id: int) -> OutboxRow | None:
        row = s.get(OutboxRow, row_id, with_for_update=True)
        if row is None or row.lease_owner != self.worker_id or row.state != "pending":
            log.warning("outbox message %s lost its lease; leaving it to its new owner", row_id)
            return None
        return row

    def _delivered(self, row_id: int, result: dict[str, Any] | None) -> None:
        now = self.engine.clock.now()
        with Session(self.engine.bind) as s, s.begin():
            row = self._mine(s, row_id)
            if row is None:
                return
            row.state = "delivered"
            row.attempts += 1
            row.delivered_at = now
            row.result = result
            row.lease_owner = row.lease_until = None

    def _failed(self, row_id: int, error: str, permanent: bool = False) -> str:
        now = self.engine.clock.now()
        with Session(self.engine.bind) as s, s.begin():
            row = self._mine(s, row_id)
            if row is None:
                return "lost"
            row.attempts += 1
            row.last_error = error[:2000]
            row.lease_owner = row.lease_until = None
            if permanent or row.attempts >= self.max_attempts:
                row.state = "dead"
                s.add(
                    IncidentRow(
                        ticket_id=row.ticket_id,
                        ticket_number=row.ticket_number,
                        kind=f"{row.kind}_failed",
                        outbox_id=row.id,
                        created_at=now,
                        message=f"{row.kind} {self._describe(row)} failed {row.attempts} times"
                        f"{' (a permanent error, not retried)' if permanent else ''}; "
                        f"last error: {row.last_error}",
                    )
                )
                log.error(
                    "outbox message %s is dead after %s attempts: %s", row_id, row.attempts, error
                )
                return "dead"
            delay = min(self.backoff * (2 ** (row.attempts - 1)), self.max_backoff)
            row.next_attempt_at = now + delay
            log.info(
                "outbox message %s failed (attempt %s), retry at %s: %s",
                row_id,
                row.attempts,
                row.next_attempt_at,
                error,
            )
            return "retry"

    @staticmethod
    def _describe(row: OutboxRow) -> str:
        if row.kind == "notify":
            return f"{row.payload.get('channel')} to {row.payload.get('to')}"
        return f"operation '{row.payload.get('operation')}'"

    # --- reading and repair -------------------------------------------------------------

    def messages(
        self, s: Session, *, state: str | None = None, ticket: str | None = None, limit: int = 100
    ) -> list[OutboxView]:
        q = select(OutboxRow).order_by(OutboxRow.id).limit(limit)
        if state is not None:
            q = q.where(OutboxRow.state == state)
        if ticket is not None:
            q = q.where(OutboxRow.ticket_id == TicketRow.id_of(ticket))  # ix_tf_outbox_ticket
        return [OutboxView.from_row(r) for r in s.scalars(q)]

    def incidents(
        self, s: Session, *, open_only: bool = True, limit: int = 100
    ) -> list[IncidentView]:
        q = select(IncidentRow).order_by(IncidentRow.id).limit(limit)
        if open_only:
            q = q.where(IncidentRow.resolved_at.is_(None))
        return [IncidentView.from_row(r) for r in s.scalars(q)]

    def retry_incident(self, incident_id: int, user: str) -> IncidentView:
        """Resolve an incident by sending its dead message again (attempts start over)."""
        from ticketflow.errors import NotFoundError, TaskStateError

        now = self.engine.clock.now()
        with Session(self.engine.bind) as s, s.begin():
            incident = s.get(IncidentRow, incident_id)
            if incident is None:
                raise NotFoundError(f"incident {incident_id} does not exist")
            if incident.resolved_at is not None:
                raise TaskStateError(
                    f"incident {incident_id} was already resolved by '{incident.resolved_by}'"
                )
            if incident.outbox_id is not None:
                row = s.get(OutboxRow, incident.outbox_id)
                if row is not None and row.state == "dead":
                    row.state = "pending"
                    row.attempts = 0
                    row.next_attempt_at = now
            incident.resolved_at = now
            incident.resolved_by = user
            s.flush()
            return IncidentView.from_row(incident)
