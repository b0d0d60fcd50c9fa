"""Service-level agreements: time limits by urgency and customer tier, in business time.

``Engine(sla=SlaPolicy(...))`` gives every ticket a ``due_at`` (the ticket limit) and
every task one (its step limit), counted on the business calendar of the ticket's region.
Reminders (催办) fire at fractions of a task's limit (50 % and 80 % by default),
escalation when it is exceeded: each is recorded in the ticket's history, offered to
plugins (``ticketflow_sla_event``), and — when the policy can find an address for the
people concerned — sent through the notify hooks. A breached task is also offered to the
escalation group (the supervisors) and its priority raised; a VIP breach alerts the
customer's account manager. Suspending a ticket stops its clock; resuming moves every
limit on by the business time it spent suspended.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ticketflow.time.calendar import BusinessCalendar, CalendarRegistry

URGENCIES = ("normal", "urgent", "critical")

#: Ticket limits in business hours, by (urgency, tier); ``*`` matches any tier.
DEFAULT_TICKET_LIMITS: Mapping[tuple[str, str], timedelta] = {
    ("critical", "vip"): timedelta(hours=4),
    ("critical", "key_account"): timedelta(hours=4),
    ("critical", "*"): timedelta(hours=8),
    ("urgent", "vip"): timedelta(hours=8),
    ("urgent", "key_account"): timedelta(hours=8),
    ("urgent", "*"): timedelta(hours=24),
    ("normal", "vip"): timedelta(hours=16),
    ("normal", "key_account"): timedelta(hours=16),
    ("normal", "gold"): timedelta(hours=24),
    ("normal", "*"): timedelta(hours=48),
}


@dataclass(frozen=True)
class SlaPolicy:
    """Limits, reminder levels and escalation; every field has a sensible default.

    ``step_limits`` maps a BPMN element id to its limit (or to a matrix like
    ``ticket_limits``); other steps get ``step_fraction`` of the ticket limit.
    ``contacts`` turns a user or group id into an address for ``notify_channel``; without
    it, reminders and escalations are recorded and offered to plugins but not sent.
    """

    ticket_limits: Mapping[tuple[str, str], timedelta] = field(
        default_factory=lambda: dict(DEFAULT_TICKET_LIMITS)
    )
    step_limits: Mapping[str, timedelta | Mapping[tuple[str, str], timedelta]] = field(
        default_factory=dict
    )
    step_fraction: float = 0.25
    reminders: tuple[float, ...] = (0.5, 0.8)
    escalate_to: str | None = "supervisor"
    escalation_priority: int = 95
    vip_tiers: frozenset[str] = frozenset({"vip", "key_account"})
    urgency_field: str = "urgency"
    default_urgency: str = "normal"
    calendars: CalendarRegistry | BusinessCalendar | None = None
    contacts: Callable[[str], str | None] | None = None
    notify_channel: str = "sms"

    def __post_init__(self) -> None:
        if not all(0 < level < 1 for level in self.reminders):
            raise ValueError(f"reminder levels are fractions between 0 and 1, got {self.reminders}")
        if not 0 < self.step_fraction <= 1:
            raise ValueError(f"step_fraction must be in (0, 1], got {self.step_fraction}")

    def urgency(self, data: Mapping[str, object]) -> str:
        value = data.get(self.urgency_field)
        return value if isinstance(value, str) and value else self.default_urgency

    def ticket_limit(self, urgency: str, tier: str | None) -> timedelta | None:
        return _lookup(self.ticket_limits, urgency, tier)

    def step_limit(self, element_id: str, urgency: str, tier: str | None) -> timedelta | None:
        configured = self.step_limits.get(element_id)
        if isinstance(configured, timedelta):
            return configured
        if configured is not None:
            return _lookup(configured, urgency, tier)
        whole = self.ticket_limit(urgency, tier)
        return whole * self.step_fraction if whole is not None else None

    def calendar(self, region: str | None) -> BusinessCalendar:
        if isinstance(self.calendars, BusinessCalendar):
            return self.calendars
        if isinstance(self.calendars, CalendarRegistry):
            return self.calendars.for_(region=region)
        return _default_calendar()

    def due(self, start: datetime, limit: timedelta, region: str | None) -> datetime:
        return self.calendar(region).add(start, limit)


def _lookup(
    table: Mapping[tuple[str, str], timedelta], urgency: str, tier: str | None
) -> timedelta | None:
    return table.get((urgency, tier or "*")) or table.get((urgency, "*"))


_DEFAULT: list[BusinessCalendar] = []


def _default_calendar() -> BusinessCalendar:
    if not _DEFAULT:
        _DEFAULT.append(BusinessCalendar())
    return _DEFAULT[0]
