"""Who the service-centre features tell, and how: notifications through the outbox.

Fault notices, recovery notices and spike warnings are written to ``tf_outbox`` in the
same transaction as the change that causes them, and delivered after the commit by
``Engine.deliver_outbox`` (the ``ticketflow_notify`` plugins: SMS, e-mail, ...). Each has
an idempotency key, so a repeated action never sends the same notice twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from ticketflow.engine import Engine
from ticketflow.hooks.types import NOTIFY_CHANNELS, CustomerInfo, Notification
from ticketflow.runtime.connectors import run_with_timeout
from ticketflow.store.models import TicketRow

log = logging.getLogger("ticketflow.service")


def lookup_customer(engine: Engine, customer: str) -> CustomerInfo | None:
    """The CRM's record of ``customer`` (``ticketflow_customer_lookup``), bounded by the
    engine's ``customer_lookup_timeout``; None when unknown or the lookup fails."""
    try:
        info: CustomerInfo | None = run_with_timeout(
            lambda: engine.plugins.hook.ticketflow_customer_lookup(customer_id=customer),
            engine.customer_lookup_timeout,
            f"customer lookup for {customer}",
        )
    except Exception as exc:  # intake and notices go on without the CRM
        log.warning("customer lookup for %s failed: %s", customer, exc)
        return None
    return info


@dataclass(frozen=True)
class Notices:
    """Addresses and channel of service-centre notifications.

    ``customer_address`` turns a customer id into an address on ``channel``; without it the
    CRM lookup (``ticketflow_customer_lookup``) gives the phone number (SMS, voice, fax) or
    the e-mail address. ``staff_address`` turns a user or group id (``supervisor_group``)
    into an address; without it spike warnings are recorded but not sent.
    """

    channel: str = "sms"
    customer_address: Callable[[str], str | None] | None = None
    staff_address: Callable[[str], str | None] | None = None
    supervisor_group: str = "supervisor"

    def __post_init__(self) -> None:
        if self.channel not in NOTIFY_CHANNELS:
            raise ValueError(
                f"notice channel must be one of {', '.join(NOTIFY_CHANNELS)}, got {self.channel!r}"
            )

    def address_of_customer(
        self, engine: Engine, customer: str, info: CustomerInfo | None = None
    ) -> str | None:
        """The customer's address on :attr:`channel`, or None when none is known (``info``:
        the CRM's record, when the caller already has it)."""
        if self.customer_address is not None:
            return self.customer_address(customer)
        info = info or lookup_customer(engine, customer)
        if info is None:
            return None
        return info.email if self.channel == "email" else info.phone

    def send(
        self,
        engine: Engine,
        s: Session,
        *,
        to: str,
        body: str,
        subject: str,
        role: str,
        key: str,
        now: datetime,
        ticket: TicketRow | None = None,
    ) -> bool:
        """Queue one notice in the outbox; False when the same key was queued before."""
        note = Notification(
            self.channel,
            to,
            body,
            subject,
            role,
            ticket.number if ticket is not None else None,
        )
        row = engine.outbox.enqueue(s, ticket, "notify", note.to_payload(), key, now)
        return row is not None
