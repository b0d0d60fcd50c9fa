"""Values that flow between ticketflow and its plugins.

Hooks that run inside the engine's transaction receive a :class:`HookContext`: it gives
the plugin the engine, the open session (to read consistently, or to write its own rows
in the same transaction) and ways to queue side effects — notifications and connector
calls go to the transactional outbox and are delivered only after the commit.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ticketflow.engine import Engine
    from ticketflow.views import TicketView

#: Channels a notification can go out on.
NOTIFY_CHANNELS = ("sms", "email", "voice", "fax")


@dataclass(frozen=True)
class CustomerInfo:
    """What the host's CRM/billing system knows of a customer (``ticketflow_customer_lookup``)."""

    customer_id: str
    name: str | None = None
    tier: str | None = None
    region: str | None = None
    account_manager: str | None = None
    phone: str | None = None
    email: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_data(self) -> dict[str, Any]:
        """The JSON form stored in the ticket's data under ``customer``."""
        return {
            "name": self.name,
            "tier": self.tier,
            "region": self.region,
            "account_manager": self.account_manager,
            "phone": self.phone,
            "email": self.email,
            **dict(self.extra),
        }


@dataclass(frozen=True)
class TaskProposal:
    """A task about to be created, with the assignment the BPMN file gives it."""

    ticket_number: str
    process_id: str
    element_id: str
    name: str
    lane: str | None
    candidate_groups: tuple[str, ...]
    assignee: str | None
    region: str | None
    priority: int
    data: Mapping[str, Any]
    #: The process the element belongs to (differs from ``process_id`` inside a call activity).
    element_process_id: str = ""


@dataclass(frozen=True)
class Assignment:
    """A dispatch decision: ``None`` fields keep what the BPMN file chose."""

    candidate_groups: tuple[str, ...] | None = None
    assignee: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class CallbackPlan:
    """How and when the customer is called back (``ticketflow_plan_callback``)."""

    channel: str  # "phone", "sms", "email", "voice"
    due_in: timedelta | None = None
    candidate_groups: tuple[str, ...] | None = None
    note: str | None = None


@dataclass(frozen=True)
class Score:
    """Points for a staff member (piece-rate, evaluation, deduction...)."""

    staff: str
    points: float
    kind: str = "piece"
    note: str | None = None


@dataclass(frozen=True)
class Notification:
    """A message to deliver after commit (``ticketflow_notify``)."""

    channel: str
    to: str
    body: str
    subject: str | None = None
    recipient_role: str | None = None  # customer, handler, account_manager, ...
    ticket_number: str | None = None
    idempotency_key: str = ""
    attachments: tuple[tuple[str, bytes, str], ...] = ()  # (filename, content, mime type)

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "channel": self.channel,
            "to": self.to,
            "body": self.body,
            "subject": self.subject,
            "recipient_role": self.recipient_role,
            "ticket_number": self.ticket_number,
        }
        if self.attachments:
            payload["attachments"] = [
                [name, base64.b64encode(content).decode("ascii"), mime]
                for name, content, mime in self.attachments
            ]
        return payload

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any], idempotency_key: str) -> Notification:
        return cls(
            channel=payload["channel"],
            to=payload["to"],
            body=payload["body"],
            subject=payload.get("subject"),
            recipient_role=payload.get("recipient_role"),
            ticket_number=payload.get("ticket_number"),
            idempotency_key=idempotency_key,
            attachments=tuple(
                (name, base64.b64decode(content), mime)
                for name, content, mime in payload.get("attachments", [])
            ),
        )


@dataclass(frozen=True)
class ConnectorCall:
    """An operation on an external system (BOSS, CRM, NSP, DSMP, OA...)."""

    operation: str
    params: Mapping[str, Any]
    ticket_number: str | None = None
    element_id: str | None = None
    idempotency_key: str = ""
    timeout: float = 10.0
    synchronous: bool = True


class HookContext:
    """Given to hooks that run inside the engine's transaction."""

    def __init__(
        self,
        engine: Engine,
        session: Session,
        now: datetime,
        actor: str | None,
        ticket: TicketView | None = None,
    ) -> None:
        self.engine = engine
        self.session = session
        self.now = now
        self.actor = actor
        self.ticket = ticket
        self._outbox: list[tuple[str, dict[str, Any], str]] = []
        self._scores: list[tuple[Score, int | None]] = []

    def notify(
        self,
        channel: str,
        to: str,
        body: str,
        *,
        subject: str | None = None,
        recipient_role: str | None = None,
        key: str | None = None,
        attachments: Sequence[tuple[str, bytes, str]] = (),
    ) -> None:
        """Queue a notification; it is delivered after the commit, with retries.

        ``key`` makes it idempotent: queueing the same key twice for a ticket sends once.
        ``attachments`` are ``(filename, content, mime type)`` triples (e-mail).
        """
        if channel not in NOTIFY_CHANNELS:
            raise ValueError(
                f"notification channel must be one of {NOTIFY_CHANNELS}, got {channel!r}"
            )
        note = Notification(
            channel,
            to,
            body,
            subject,
            recipient_role,
            self.ticket.number if self.ticket else None,
            attachments=tuple(attachments),
        )
        self._outbox.append(("notify", note.to_payload(), key or ""))

    def call(
        self,
        operation: str,
        params: Mapping[str, Any],
        *,
        key: str | None = None,
        element_id: str | None = None,
        timeout: float | None = None,
    ) -> None:
        """Queue an asynchronous connector call, delivered after the commit with retries."""
        payload: dict[str, Any] = {
            "operation": operation,
            "params": dict(params),
            "ticket_number": self.ticket.number if self.ticket else None,
        }
        if element_id is not None:
            payload["element_id"] = element_id
        if timeout is not None:
            payload["timeout"] = timeout
        self._outbox.append(("connector", payload, key or ""))

    def score(self, score: Score, task_id: int | None = None) -> None:
        """Record points for a staff member in this transaction."""
        self._scores.append((score, task_id))
