"""Business calendars: working hours, holidays and adjusted working days (调休).

A :class:`BusinessCalendar` knows when a desk works: intervals of local wall time per
weekday, a time zone, and a :class:`HolidaySource` that closes holidays and opens
adjusted working days. Its arithmetic takes and returns aware UTC datetimes and walks
whole working intervals, never minute by minute.

Holiday sources: :class:`ChineseHolidays` (the ``chinese-calendar`` package, with a
defined fallback for the years it does not know), :class:`CountryHolidays` (the
``holidays`` package) and :class:`NoHolidays` (a 24x7 desk).
"""

from __future__ import annotations

import enum
import logging
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, time, timedelta, timezone
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar  # type: ignore[import-untyped]
import holidays as holidays_pkg

from ticketflow.errors import InvalidDataError
from ticketflow.time.durations import parse_duration

log = logging.getLogger(__name__)

UTC = timezone.utc
TimeOfDay = time | str
"""A local time of day: ``time(9, 30)`` or ``"09:30"``; an interval may end at ``"24:00"``."""
Interval = tuple[TimeOfDay, TimeOfDay]
WeekHours = Mapping[int, Sequence[Interval]] | Mapping[str, Sequence[Interval]]
"""Working intervals per weekday: keys 0-6 (Monday-Sunday) or ``"mon"``..``"sun"``."""

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_DAY = timedelta(days=1)
_MAX_IDLE_DAYS = 400
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


class DayKind(enum.Enum):
    """What a holiday source says about one date."""

    REGULAR = "regular"  # the weekday's own working hours apply
    HOLIDAY = "holiday"  # closed all day, whatever the weekday
    WORKDAY = "workday"  # adjusted working day (调休): open even on a weekend


@runtime_checkable
class HolidaySource(Protocol):
    """Anything that classifies dates as regular days, holidays or adjusted working days."""

    def day_kind(self, day: date) -> DayKind: ...


# --- holiday sources -----------------------------------------------------------------


def _dates(values: Iterable[date], what: str) -> frozenset[date]:
    out: set[date] = set()
    for value in values:
        if isinstance(value, datetime) or not isinstance(value, date):
            raise InvalidDataError(f"{what}: {value!r} is not a datetime.date")
        out.add(value)
    return frozenset(out)


def _check_schedule(holidays: frozenset[date], workdays: frozenset[date], what: str) -> None:
    both = sorted(holidays & workdays)
    if both:
        raise InvalidDataError(
            f"{what}: {', '.join(d.isoformat() for d in both)} cannot be both a holiday "
            "and an adjusted working day"
        )
    weekdays = sorted(d for d in workdays if d.weekday() < 5)
    if weekdays:
        listed = ", ".join(f"{d.isoformat()} ({WEEKDAY_NAMES[d.weekday()]})" for d in weekdays)
        raise InvalidDataError(
            f"{what}: {listed} is not a weekend day; an adjusted working day (调休) is a "
            "Saturday or Sunday on which people work"
        )


class NoHolidays:
    """Every day follows its weekday's hours: a 24x7 desk, or hours that ignore holidays."""

    def day_kind(self, day: date) -> DayKind:
        return DayKind.REGULAR

    def __repr__(self) -> str:
        return "NoHolidays()"


class ChineseHolidays:
    """Mainland China's public holidays and adjusted working days (调休).

    The data comes from the ``chinese-calendar`` package, which knows a fixed range of
    years (2004-2026 in 1.11). For any other year the official schedule is unknown:
    only weekends close, plus ``extra_holidays``; ``extra_workdays`` open; a warning is
    logged once per year. When the State Council publishes a year's schedule, pass it
    to :meth:`add_year`; it then takes precedence over the package for that year.

    ``extra_holidays`` and ``extra_workdays`` apply in every year and win over both.
    Share one instance among calendars so that :meth:`add_year` reaches all of them.
    """

    def __init__(
        self, *, extra_holidays: Iterable[date] = (), extra_workdays: Iterable[date] = ()
    ) -> None:
        self.extra_holidays = _dates(extra_holidays, "extra_holidays")
        self.extra_workdays = _dates(extra_workdays, "extra_workdays")
        _check_schedule(self.extra_holidays, self.extra_workdays, "ChineseHolidays")
        self._lock = threading.Lock()
        self._added: dict[int, tuple[frozenset[date], frozenset[date]]] = {}
        self._package: dict[int, tuple[frozenset[date], frozenset[date]] | None] = {}
        self._warned: set[int] = set()

    def covers(self, year: int) -> bool:
        """Whether the official schedule of ``year`` is known (package or :meth:`add_year`)."""
        return year in self._added or self._package_year(year) is not None

    def add_year(self, year: int, holidays: Iterable[date], workdays: Iterable[date] = ()) -> None:
        """Set the official schedule of ``year``: its holidays and adjusted working days."""
        hols = _dates(holidays, f"add_year({year}) holidays")
        works = _dates(workdays, f"add_year({year}) workdays")
        stray = sorted(d for d in hols | works if d.year != year)
        if stray:
            raise InvalidDataError(
                f"add_year({year}): {', '.join(d.isoformat() for d in stray)} not in {year}"
            )
        _check_schedule(hols, works, f"add_year({year})")
        with self._lock:
            self._added[year] = (hols, works)
            self._warned.discard(year)

    def day_kind(self, day: date) -> DayKind:
        if day in self.extra_workdays:
            return DayKind.WORKDAY
        if day in self.extra_holidays:
            return DayKind.HOLIDAY
        table = self._added.get(day.year) or self._package_year(day.year)
        if table is None:
            self._warn_uncovered(day.year)
            return DayKind.REGULAR
        holidays, workdays = table
        if day in holidays:
            return DayKind.HOLIDAY
        if day in workdays:
            return DayKind.WORKDAY
        return DayKind.REGULAR

    def _package_year(self, year: int) -> tuple[frozenset[date], frozenset[date]] | None:
        try:
            return self._package[year]
        except KeyError:
            pass
        table: tuple[frozenset[date], frozenset[date]] | None
        try:
            chinese_calendar.is_workday(date(year, 1, 1))
        except NotImplementedError:
            table = None
        else:
            holidays: set[date] = set()
            workdays: set[date] = set()
            day = date(year, 1, 1)
            while day.year == year:
                closed, name = chinese_calendar.get_holiday_detail(day)
                if name is not None:
                    (holidays if closed else workdays).add(day)
                day += _DAY
            table = (frozenset(holidays), frozenset(workdays))
        with self._lock:
            self._package[year] = table
        return table

    def _warn_uncovered(self, year: int) -> None:
        with self._lock:
            if year in self._warned:
                return
            self._warned.add(year)
        extra = sum(1 for d in self.extra_holidays if d.year == year)
        works = sum(1 for d in self.extra_workdays if d.year == year)
        log.warning(
            "chinese-calendar has no holiday data for %d: using weekends plus %d configured "
            "holiday(s) and %d adjusted working day(s); add the official schedule with "
            "ChineseHolidays.add_year(%d, holidays=[...], workdays=[...])",
            year,
            extra,
            works,
            year,
        )

    def __repr__(self) -> str:
        return (
            f"ChineseHolidays(extra_holidays={len(self.extra_holidays)}, "
            f"extra_workdays={len(self.extra_workdays)}, added_years={sorted(self._added)})"
        )


class CountryHolidays:
    """Public holidays of a country (and subdivision) from the ``holidays`` package.

    Weekend working days the package knows (``weekend_workdays``) count as adjusted
    working days.
    """

    def __init__(self, country: str, subdiv: str | None = None) -> None:
        try:
            holidays_pkg.country_holidays(country, subdiv=subdiv, years=[])
        except NotImplementedError as exc:
            where = f"{country!r}" + (f" subdivision {subdiv!r}" if subdiv else "")
            raise InvalidDataError(
                f"the holidays package does not know {where}: {exc} "
                "(use an ISO 3166 code such as 'US', 'GB' or 'DE')"
            ) from None
        self.country = country
        self.subdiv = subdiv
        self._lock = threading.Lock()
        self._years: dict[int, tuple[frozenset[date], frozenset[date]]] = {}

    def day_kind(self, day: date) -> DayKind:
        holidays, workdays = self._year(day.year)
        if day in holidays:
            return DayKind.HOLIDAY
        if day in workdays:
            return DayKind.WORKDAY
        return DayKind.REGULAR

    def _year(self, year: int) -> tuple[frozenset[date], frozenset[date]]:
        try:
            return self._years[year]
        except KeyError:
            pass
        table = holidays_pkg.country_holidays(self.country, subdiv=self.subdiv, years=year)
        extra: Iterable[date] = getattr(table, "weekend_workdays", ())
        entry = (frozenset(table.keys()), frozenset(d for d in extra if d.year == year))
        with self._lock:
            self._years[year] = entry
        return entry

    def __repr__(self) -> str:
        sub = f", subdiv={self.subdiv!r}" if self.subdiv else ""
        return f"CountryHolidays({self.country!r}{sub})"


# --- working hours ---------------------------------------------------------------------

_Hours = tuple[tuple[timedelta, timedelta], ...]


def _offset(value: TimeOfDay, where: str) -> timedelta:
    """A time of day as an offset from midnight (``"24:00"`` → 24 hours)."""
    if isinstance(value, time):
        if value.tzinfo is not None:
            raise InvalidDataError(f"{where}: {value} has a time zone; give local wall times")
        return timedelta(
            hours=value.hour,
            minutes=value.minute,
            seconds=value.second,
            microseconds=value.microsecond,
        )
    if isinstance(value, str):
        match = _TIME.match(value.strip())
        if match:
            h, m, s = int(match[1]), int(match[2]), int(match[3] or 0)
            if (h < 24 and m < 60 and s < 60) or (h, m, s) == (24, 0, 0):
                return timedelta(hours=h, minutes=m, seconds=s)
    raise InvalidDataError(f"{where}: {value!r} is not a time of day (HH:MM, 00:00-24:00)")


def _fmt(offset: timedelta) -> str:
    minutes, seconds = divmod(int(offset.total_seconds()), 60)
    text = f"{minutes // 60:02d}:{minutes % 60:02d}"
    return f"{text}:{seconds:02d}" if seconds else text


def _parse_intervals(intervals: Sequence[Interval], where: str) -> _Hours:
    if isinstance(intervals, (str, bytes)) or not isinstance(intervals, Sequence):
        raise InvalidDataError(f"{where}: expected a list of (start, end) pairs")
    parsed: list[tuple[timedelta, timedelta]] = []
    for item in intervals:
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise InvalidDataError(f"{where}: {item!r} is not a (start, end) pair")
        start = _offset(item[0], where)
        end = _offset(item[1], where)
        if isinstance(item[1], time) and end == timedelta(0):
            end = _DAY  # time(0) as an end means midnight at the end of the day
        if end <= start:
            raise InvalidDataError(
                f"{where}: interval {_fmt(start)}-{_fmt(end)} ends before it starts "
                "(an overnight shift is two intervals, e.g. 22:00-24:00 and 00:00-06:00 "
                "on the next day)"
            )
        parsed.append((start, end))
    parsed.sort()
    merged: list[tuple[timedelta, timedelta]] = []
    for start, end in parsed:
        if merged and start < merged[-1][1]:
            prev = merged[-1]
            raise InvalidDataError(
                f"{where}: intervals {_fmt(prev[0])}-{_fmt(prev[1])} and "
                f"{_fmt(start)}-{_fmt(end)} overlap"
            )
        if merged and start == merged[-1][1]:
            merged[-1] = (merged[-1][0], end)  # touching intervals join
        else:
            merged.append((start, end))
    return tuple(merged)


def _weekday(key: int | str) -> int:
    if isinstance(key, int) and not isinstance(key, bool) and 0 <= key <= 6:
        return key
    if isinstance(key, str):
        for index, name in enumerate(WEEKDAY_NAMES):
            if key.strip().lower() in (name.lower(), name[:3].lower()):
                return index
    raise InvalidDataError(
        f"working hours: {key!r} is not a weekday (use 0-6 for Monday-Sunday, or 'mon'..'sun')"
    )


def weekly_hours(*intervals: Interval, days: Iterable[int] = range(5)) -> dict[int, list[Interval]]:
    """The same intervals on each of ``days`` (default Monday-Friday).

    ``weekly_hours(("08:00", "20:00"), days=range(7))`` is a seven-day desk.
    """
    return {day: list(intervals) for day in days}


DEFAULT_HOURS: dict[int, list[Interval]] = weekly_hours(("09:00", "12:00"), ("13:30", "18:00"))
"""Monday-Friday 09:00-12:00 and 13:30-18:00."""


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise InvalidDataError(
            f"unknown time zone {name!r} (use an IANA name such as 'Asia/Shanghai')"
        ) from None


# --- the calendar ------------------------------------------------------------------------


class BusinessCalendar:
    """Working hours in a time zone, minus holidays, plus adjusted working days.

    ``hours`` maps weekdays to (start, end) local-time intervals (default
    :data:`DEFAULT_HOURS`); an interval may end at ``"24:00"``. ``holidays`` defaults to
    a new :class:`ChineseHolidays`. On an adjusted working day the desk keeps
    ``adjusted_workday_hours`` (default: Monday's hours, or the first weekday that has
    any). All instants taken and returned are aware datetimes; results are in UTC.
    """

    def __init__(
        self,
        hours: WeekHours | None = None,
        *,
        timezone: str = "Asia/Shanghai",
        holidays: HolidaySource | None = None,
        adjusted_workday_hours: Sequence[Interval] | None = None,
        name: str = "default",
    ) -> None:
        self.name = name
        self.timezone = timezone
        self._tz = _zone(timezone)
        week: list[_Hours] = [() for _ in range(7)]
        source = DEFAULT_HOURS if hours is None else hours
        if not isinstance(source, Mapping):
            raise InvalidDataError("working hours: expected a mapping of weekday → intervals")
        seen: set[int] = set()
        for key, intervals in source.items():
            day = _weekday(key)
            if day in seen:
                raise InvalidDataError(f"working hours: {WEEKDAY_NAMES[day]} is given twice")
            seen.add(day)
            week[day] = _parse_intervals(intervals, f"working hours for {WEEKDAY_NAMES[day]}")
        if not any(week):
            raise InvalidDataError(f"calendar {name!r} has no working hours on any weekday")
        self._week = tuple(week)
        if adjusted_workday_hours is None:
            self._adjusted = next(h for h in week if h)
        else:
            self._adjusted = _parse_intervals(
                adjusted_workday_hours, "working hours on adjusted working days"
            )
        if holidays is not None and not isinstance(holidays, HolidaySource):
            raise InvalidDataError(f"holidays: {holidays!r} has no day_kind(date) method")
        self.holidays: HolidaySource = ChineseHolidays() if holidays is None else holidays

    @classmethod
    def always_open(
        cls, *, timezone: str = "Asia/Shanghai", name: str = "24x7"
    ) -> BusinessCalendar:
        """A 24x7 desk: every instant is working time."""
        return cls(
            weekly_hours(("00:00", "24:00"), days=range(7)),
            timezone=timezone,
            holidays=NoHolidays(),
            name=name,
        )

    # --- days ---

    def day_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The working intervals of a local date, as UTC (start, end) pairs, in order."""
        kind = self.holidays.day_kind(day)
        if kind is DayKind.HOLIDAY:
            return []
        hours = self._adjusted if kind is DayKind.WORKDAY else self._week[day.weekday()]
        midnight = datetime.combine(day, time(0), tzinfo=self._tz)
        out: list[tuple[datetime, datetime]] = []
        for start, end in hours:
            # Wall-clock addition, then UTC: a DST change inside an interval is honoured.
            s = (midnight + start).astimezone(UTC)
            e = (midnight + end).astimezone(UTC)
            if out and s < out[-1][1]:
                s = out[-1][1]
            if e > s:
                out.append((s, e))
        return out

    def is_working_day(self, day: date) -> bool:
        """Whether a local date has any working time."""
        return bool(self.day_intervals(day))

    # --- instants ---

    def is_working_time(self, t: datetime) -> bool:
        """Whether ``t`` lies inside a working interval (start included, end excluded)."""
        t = _utc(t, "t")
        return next(self._forward(t))[0] == t

    def next_working_time(self, t: datetime) -> datetime:
        """``t`` itself if it is working time, else the start of the next working interval."""
        return next(self._forward(_utc(t, "t")))[0]

    def working_intervals(
        self, start: datetime, end: datetime
    ) -> Iterator[tuple[datetime, datetime]]:
        """The working intervals between ``start`` and ``end``, clipped to them, in order."""
        start, end = _utc(start, "start"), _utc(end, "end")
        if end <= start:
            return
        for s, e in self._forward(start):
            if s >= end:
                return
            yield s, min(e, end)

    def add(self, start: datetime, duration: timedelta | str) -> datetime:
        """The instant at which ``duration`` of working time has elapsed since ``start``.

        The earliest such instant: it may be the end of a working interval (12:00, 18:00
        on Friday), never a closed instant after it. A negative duration goes back and
        returns an instant inside working time. ``duration`` may be ISO 8601 (``PT8H``,
        ``-PT2H``).
        """
        start = _utc(start, "start")
        remaining = _duration(duration)
        if remaining > timedelta(0):
            for s, e in self._forward(start):
                if remaining <= e - s:
                    return s + remaining
                remaining -= e - s
        elif remaining < timedelta(0):
            remaining = -remaining
            for s, e in self._backward(start):
                if remaining <= e - s:
                    return e - remaining
                remaining -= e - s
        return start

    def business_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time from ``a`` to ``b``; negative if ``b`` is before ``a``."""
        a, b = _utc(a, "a"), _utc(b, "b")
        if b < a:
            return -self.business_time_between(b, a)
        total = timedelta(0)
        for s, e in self.working_intervals(a, b):
            total += e - s
        return total

    def add_days(self, start: datetime, days: int) -> datetime:
        """The same local time ``days`` working days later (earlier if negative).

        Counts working days after (before) the local date of ``start``: Friday + 1 and
        Saturday + 1 are both Monday. The result keeps the local wall time of ``start``
        even if that is outside working hours; see :meth:`next_working_time`.
        """
        start = _utc(start, "start")
        if isinstance(days, bool) or not isinstance(days, int):
            raise InvalidDataError(f"add_days needs a whole number of days, got {days!r}")
        if days == 0:
            return start
        local = start.astimezone(self._tz)
        step = _DAY if days > 0 else -_DAY
        day, left, idle = local.date(), abs(days), 0
        while left:
            day = _step(day, step)
            if self.is_working_day(day):
                left, idle = left - 1, 0
            else:
                idle += 1
                self._check_idle(idle, day)
        result = datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=self._tz)
        return result.astimezone(UTC)

    # --- iteration ---

    def _forward(self, t: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working intervals from ``t`` on, the first clipped to start at ``t``."""
        day = _step(t.astimezone(self._tz).date(), -_DAY)
        last, idle = t, 0
        while True:
            intervals = self.day_intervals(day)
            for s, e in intervals:
                s = max(s, last)
                if e > s:
                    yield s, e
                    last = e
            idle = 0 if intervals else idle + 1
            self._check_idle(idle, day)
            day = _step(day, _DAY)

    def _backward(self, t: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working intervals before ``t``, latest first, the first clipped to end at ``t``."""
        day = _step(t.astimezone(self._tz).date(), _DAY)
        first, idle = t, 0
        while True:
            intervals = self.day_intervals(day)
            for s, e in reversed(intervals):
                e = min(e, first)
                if e > s:
                    yield s, e
                    first = s
            idle = 0 if intervals else idle + 1
            self._check_idle(idle, day)
            day = _step(day, -_DAY)

    def _check_idle(self, idle: int, day: date) -> None:
        if idle > _MAX_IDLE_DAYS:
            raise InvalidDataError(
                f"calendar {self.name!r} has no working time in the {_MAX_IDLE_DAYS} days "
                f"around {day.isoformat()}: check its hours and holidays"
            )

    def __repr__(self) -> str:
        return (
            f"BusinessCalendar(name={self.name!r}, timezone={self.timezone!r}, "
            f"holidays={self.holidays!r})"
        )


def _utc(t: datetime, what: str) -> datetime:
    if not isinstance(t, datetime):
        raise InvalidDataError(f"{what} must be a datetime, got {t!r}")
    if t.tzinfo is None or t.utcoffset() is None:
        raise InvalidDataError(f"{what} must be a timezone-aware datetime, got {t.isoformat()}")
    return t.astimezone(UTC)


def _duration(value: timedelta | str) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            if text.startswith("-"):
                return -parse_duration(text[1:])
            return parse_duration(text)
        except ValueError as exc:
            raise InvalidDataError(str(exc)) from None
    raise InvalidDataError(f"a duration must be a timedelta or ISO 8601 text, got {value!r}")


def _step(day: date, step: timedelta) -> date:
    try:
        return day + step
    except OverflowError:
        raise InvalidDataError("business-time arithmetic went beyond the supported dates") from None


# --- registry ----------------------------------------------------------------------------


class CalendarRegistry:
    """Calendars per region and team, with a default.

    :meth:`for_` looks up (region, team), then team alone, then region alone, then the
    default: a 24x7 VIP team keeps its hours in every region.
    """

    def __init__(self, default: BusinessCalendar | None = None) -> None:
        self._default = default if default is not None else BusinessCalendar()
        self._calendars: dict[tuple[str | None, str | None], BusinessCalendar] = {}
        self._lock = threading.Lock()

    @property
    def default(self) -> BusinessCalendar:
        return self._default

    def register(
        self, calendar: BusinessCalendar, *, region: str | None = None, team: str | None = None
    ) -> None:
        """Use ``calendar`` for this region and/or team; neither replaces the default."""
        if not isinstance(calendar, BusinessCalendar):
            raise InvalidDataError(f"register needs a BusinessCalendar, got {calendar!r}")
        with self._lock:
            if region is None and team is None:
                self._default = calendar
            else:
                self._calendars[(region, team)] = calendar

    def for_(self, *, region: str | None = None, team: str | None = None) -> BusinessCalendar:
        """The calendar for a region and team (either may be None)."""
        for key in ((region, team), (None, team), (region, None)):
            if key != (None, None):
                found = self._calendars.get(key)
                if found is not None:
                    return found
        return self._default

    def __repr__(self) -> str:
        keys = ", ".join(f"{r}/{t}" for r, t in self._calendars)
        return f"CalendarRegistry(default={self._default.name!r}, calendars=[{keys}])"
