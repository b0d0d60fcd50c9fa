"""SQL building blocks shared by the reports: ticket data fields, periods, time buckets.

Everything is computed by the database (SQLite and PostgreSQL); Python only merges the
few aggregated rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal_column
from sqlalchemy.engine import Dialect

from ticketflow.errors import InvalidDataError
from ticketflow.store.models import TicketRow

#: Time buckets of the time-series reports.
BUCKETS = ("day", "week", "month")
#: Key of rows that have no value (unclassified, no region...).
NONE = "(none)"


def data_text(key: str) -> ColumnElement[Any]:
    """A ticket data field as text; NULL when missing or empty."""
    return func.nullif(TicketRow.data[key].as_string(), "")


def check_period(since: datetime | None, until: datetime | None) -> None:
    """Periods are half-open ``[since, until)`` of timezone-aware instants."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise InvalidDataError(f"{name} must be timezone-aware, got {value.isoformat()}")
    if since is not None and until is not None and until <= since:
        raise InvalidDataError(
            f"until ({until.isoformat()}) must be after since ({since.isoformat()})"
        )


def within(
    q: Select[Any], column: Any, since: datetime | None, until: datetime | None
) -> Select[Any]:
    """``q`` limited to rows whose ``column`` lies in ``[since, until)``."""
    check_period(since, until)
    if since is not None:
        q = q.where(column >= since)
    if until is not None:
        q = q.where(column < until)
    return q


def offset_minutes(utc_offset: timedelta) -> int:
    """The offset in whole minutes, checked to be a real UTC offset (-14 h .. +14 h)."""
    minutes, rest = divmod(utc_offset.total_seconds(), 60)
    if rest or abs(minutes) > 14 * 60:
        raise InvalidDataError(
            f"utc_offset must be whole minutes between -14 h and +14 h, got {utc_offset}"
        )
    return int(minutes)


def bucket(dialect: Dialect, column: Any, size: str, utc_offset: timedelta) -> ColumnElement[Any]:
    """The time bucket of a stored UTC instant as text, in the local time ``utc_offset``:
    ``2026-11-23`` (day), the Monday ``2026-11-23`` (ISO week), ``2026-11`` (month)."""
    if size not in BUCKETS:
        raise InvalidDataError(f"bucket must be one of {', '.join(BUCKETS)}, got {size!r}")
    minutes = offset_minutes(utc_offset)
    if dialect.name == "sqlite":
        local = func.datetime(column, f"{minutes:+d} minutes")
        if size == "day":
            return func.strftime("%Y-%m-%d", local)
        if size == "week":
            return func.date(local, "weekday 0", "-6 days")
        return func.strftime("%Y-%m", local)
    if dialect.name == "postgresql":
        pg_local = func.timezone("UTC", column) + literal_column(f"interval '{minutes} minutes'")
        if size == "day":
            return func.to_char(pg_local, "YYYY-MM-DD")
        if size == "week":
            return func.to_char(func.date_trunc("week", pg_local), "YYYY-MM-DD")
        return func.to_char(pg_local, "YYYY-MM")
    raise InvalidDataError(f"reports support SQLite and PostgreSQL, not {dialect.name}")
