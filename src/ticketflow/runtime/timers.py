"""BPMN timers on ticketflow's clock.

SpiffWorkflow's timer event definitions read ``datetime.now(timezone.utc)`` directly. The
engine sets :data:`CURRENT_CLOCK` around every step, and the timer module's ``datetime``
is replaced by a subclass whose ``now()`` asks that clock — so a simulated or fixed clock
decides when timers fire. Outside a step (no clock set) it is the real time, unchanged.

Timer expressions may be written as plain ISO 8601 text, as in Camunda Modeler
(``PT4H``, ``2026-12-01T09:00:00+08:00``, ``R/2026-01-01T02:00:00+08:00/P1D``), or as a
safe expression giving such a string.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions import timer as _spiff_timer
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from ticketflow.time.clock import Clock

CURRENT_CLOCK: contextvars.ContextVar[Clock | None] = contextvars.ContextVar(
    "ticketflow_clock", default=None
)

_ISO = re.compile(
    r"^(R\d*/)?("
    r"P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?"  # duration
    r"|\d{4}-\d{2}-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?"  # date / date-time
    r")(/(P(?!$)[0-9YMWDTHS.]+|\d{4}-\d{2}-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?))?$",
    re.IGNORECASE,
)


def is_iso_literal(text: str) -> bool:
    """``PT4H``, ``2026-12-01T09:00:00Z``, ``R3/PT10M``, ``R/2026-01-01T02:00:00+08:00/P1D``..."""
    return bool(_ISO.match(text.strip()))


class _ClockedDatetime(datetime):
    """``datetime`` whose ``now()`` follows :data:`CURRENT_CLOCK` when one is set."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> Any:
        clock = CURRENT_CLOCK.get()
        if clock is None:
            return datetime.now(tz)
        instant = clock.now()
        return (
            instant.astimezone(tz) if tz is not None else instant.astimezone().replace(tzinfo=None)
        )


_spiff_timer.datetime = _ClockedDatetime  # the seam: Spiff's timers now read our clock


@contextmanager
def clock_in_force(clock: Clock) -> Iterator[None]:
    """Make ``clock`` the time SpiffWorkflow's timers see, for the duration of a step."""
    token = CURRENT_CLOCK.set(clock)
    try:
        yield
    finally:
        CURRENT_CLOCK.reset(token)


def next_occurrence(
    kind: str, text: str, after: datetime, deployed_at: datetime
) -> datetime | None:
    """The first instant at or after ``after`` when a timer start event fires, or None.

    ``timeCycle`` ``R[n]/start/period`` repeats (n times, or for ever); ``timeDate`` fires
    once at its date; ``timeDuration`` once, that long after deployment.
    """
    if kind == "timeDate":
        at = TimerEventDefinition.parse_time_or_duration(text)
        at = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
        return at if at >= after else None
    if kind == "timeDuration":
        at = deployed_at + TimerEventDefinition.get_timedelta_from_start(
            TimerEventDefinition.parse_iso_duration(text), deployed_at
        )
        return at if at >= after else None
    cycles, first, period = TimerEventDefinition.parse_iso_recurring_interval(text)
    start: datetime = first if first.tzinfo else first.replace(tzinfo=timezone.utc)
    if start >= after:
        return start
    if period.total_seconds() <= 0:
        return None
    steps = -(-(after - start) // period)  # ceiling
    if 0 <= cycles <= steps:
        return None
    following: datetime = start + period * steps
    return following


@dataclass(frozen=True)
class WaitingTimer:
    """A timer event a ticket is waiting on."""

    spiff_task_id: str
    element_id: str
    due_at: datetime


def waiting_timers(workflow: Any) -> list[WaitingTimer]:
    """Every timer event the workflow (and its sub-workflows) waits on, with its due time."""
    found: list[WaitingTimer] = []
    for task in list(workflow.event_manager.tasks.values()):
        definition = getattr(task.task_spec, "event_definition", None)
        if not isinstance(definition, TimerEventDefinition):
            continue
        value = definition.details(task).value
        if value is None:
            continue
        due = TimerEventDefinition.get_datetime(value) if isinstance(value, str) else None
        if due is None:
            continue
        if due.tzinfo is None:
            due = due.replace(tzinfo=timezone.utc)
        found.append(
            WaitingTimer(str(task.id), task.task_spec.bpmn_id, due.astimezone(timezone.utc))
        )
    return found
