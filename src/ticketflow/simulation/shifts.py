"""Shifts as simulated minutes, worked out on the engine's business calendars."""

from __future__ import annotations

from datetime import datetime, timedelta

from ticketflow.simulation.scenario import Shift
from ticketflow.time.calendar import BusinessCalendar, ChineseHolidays, NoHolidays


def calendar_for(
    days: list[int], hours: list[tuple[str, str]], timezone: str, holidays: bool
) -> BusinessCalendar:
    """A calendar open ``hours`` on ``days``; closed on public holidays if ``holidays``."""
    return BusinessCalendar(
        {day: list(hours) for day in days},
        timezone=timezone,
        holidays=ChineseHolidays() if holidays else NoHolidays(),
    )


def shift_intervals(
    shift: Shift, start: datetime, horizon_minutes: float, timezone: str, holidays: bool
) -> list[tuple[float, float]]:
    """The shift's working intervals from ``start`` (aware) over the horizon, in minutes."""
    calendar = calendar_for(shift.weekdays, shift.intervals, timezone, holidays)
    end = start + timedelta(minutes=horizon_minutes)
    return [
        ((s - start).total_seconds() / 60.0, (e - start).total_seconds() / 60.0)
        for s, e in calendar.working_intervals(start, end)
    ]


def overlap(intervals: list[tuple[float, float]], lo: float, hi: float) -> float:
    """Minutes of ``intervals`` inside [lo, hi)."""
    return sum(max(0.0, min(e, hi) - max(s, lo)) for s, e in intervals)
