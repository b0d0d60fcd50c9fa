"""Hot spots (投诉热点) and top-N lists: how many tickets were opened, by category level,
SP, region, channel or customer, optionally per day / week / month.

A ticket counts once, in the period it was *opened* (``[since, until)``). Its category
at level *k* is the code in its data ``category_l<k>``; tickets not classified that deep
(e.g. solved at the front desk) count under ``(none)``. Its SP is its data ``sp_name``
if the intake recorded one, else the ``sp_name`` of the deepest category of its path
that names one; tickets in an SP category with no named provider count under
``(unnamed SP)``, tickets outside SP categories are left out of the SP report.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import ColumnElement, Select, String, cast, func, null, select
from sqlalchemy.orm import Session

from ticketflow.catalog.model import CATEGORY_KEYS, CategoryTree
from ticketflow.catalog.store import load_tree, unit
from ticketflow.engine import Engine
from ticketflow.errors import InvalidDataError
from ticketflow.reports.query import NONE, bucket, data_text, within
from ticketflow.store.models import TicketRow

#: What hot spots and top lists count by.
DIMENSIONS = ("category", "sp", "region", "channel", "customer")
UNNAMED_SP = "(unnamed SP)"


@dataclass(frozen=True)
class HotSpot:
    """Tickets opened in one time bucket (None: the whole period) for one key."""

    COLUMNS: ClassVar[tuple[str, ...]] = ("bucket", "key", "label", "count")

    bucket: str | None
    key: str
    label: str
    count: int

    def values(self) -> tuple[object, ...]:
        return (self.bucket or "", self.key, self.label, self.count)


@dataclass(frozen=True)
class TopEntry:
    """One line of a top-N list; ``share`` of every ticket counted in the period."""

    COLUMNS: ClassVar[tuple[str, ...]] = ("rank", "key", "label", "count", "share")

    rank: int
    key: str
    label: str
    count: int
    share: float

    def values(self) -> tuple[object, ...]:
        return (self.rank, self.key, self.label, self.count, f"{self.share:.4f}")


def hotspots(
    engine: Engine,
    by: str = "category",
    *,
    level: int = 1,
    bucket: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    process_id: str | None = "complaint",
    under: str | None = None,
    utc_offset: timedelta = timedelta(0),
    session: Session | None = None,
) -> list[HotSpot]:
    """Ticket counts by ``by`` (:data:`DIMENSIONS`; ``level`` 1-4 for categories), per
    ``bucket`` (day, week, month in local time ``utc_offset``) or for the whole period.

    ``under`` (a category code) keeps only tickets of that subtree. ``process_id`` None
    counts every process. Sorted by bucket, then most tickets first.
    """
    with unit(engine.bind, session, read_only=True) as s:
        tree = load_tree(s)
        counts = _counts(s, tree, by, level, bucket, since, until, process_id, under, utc_offset)
    rows = [HotSpot(b, key, _label(tree, by, key), n) for (b, key), n in counts.items()]
    return sorted(rows, key=lambda r: (r.bucket or "", -r.count, r.key))


def top(
    engine: Engine,
    by: str = "category",
    n: int = 15,
    *,
    level: int = 1,
    since: datetime | None = None,
    until: datetime | None = None,
    process_id: str | None = "complaint",
    under: str | None = None,
    session: Session | None = None,
) -> list[TopEntry]:
    """The ``n`` categories (at ``level``), SPs, regions, channels or customers with the
    most tickets opened in the period (ties by key); ``(none)`` (unclassified, no region)
    is not ranked but counts in ``share``, the part of every ticket of the report.
    Seed practice: top 15 campaigns, top 5 basic services (``under=`` their subtree)."""
    if n < 1:
        raise InvalidDataError(f"n must be at least 1, got {n}")
    spots = hotspots(
        engine,
        by,
        level=level,
        since=since,
        until=until,
        process_id=process_id,
        under=under,
        session=session,
    )
    total = sum(s.count for s in spots)
    ranked = [s for s in spots if s.key != NONE][:n]
    return [
        TopEntry(rank, s.key, s.label, s.count, s.count / total if total else 0.0)
        for rank, s in enumerate(ranked, 1)
    ]


def _counts(
    s: Session,
    tree: CategoryTree,
    by: str,
    level: int,
    size: str | None,
    since: datetime | None,
    until: datetime | None,
    process_id: str | None,
    under: str | None,
    utc_offset: timedelta,
) -> dict[tuple[str | None, str], int]:
    if by not in DIMENSIONS:
        raise InvalidDataError(f"hot spots are counted by {', '.join(DIMENSIONS)}, not {by!r}")
    if not 1 <= level <= 4:
        raise InvalidDataError(f"category level must be 1-4, got {level}")
    when: ColumnElement[Any] = (
        bucket(s.get_bind().dialect, TicketRow.opened_at, size, utc_offset)
        if size is not None
        else cast(null(), String)
    )
    keys: list[ColumnElement[Any]]
    if by == "category":
        keys = [data_text(CATEGORY_KEYS[level - 1])]
    elif by == "sp":
        keys = [data_text("sp_name"), *(data_text(k) for k in CATEGORY_KEYS)]
    else:
        column = {
            "region": TicketRow.region,
            "channel": TicketRow.channel,
            "customer": TicketRow.customer_id,
        }[by]
        keys = [func.nullif(column, "")]
    inner = select(when.label("bucket"), *(k.label(f"k{i}") for i, k in enumerate(keys)))
    inner = _filtered(
        inner, tree, level if by == "category" else None, since, until, process_id, under
    )
    sub = inner.subquery()
    cols = [sub.c.bucket, *(sub.c[f"k{i}"] for i in range(len(keys)))]
    rows = s.execute(select(*cols, func.count()).group_by(*cols)).tuples()
    counts: dict[tuple[str | None, str], int] = {}
    for row in rows:
        b, values, n = row[0], row[1:-1], int(row[-1])
        key = _sp(tree, values) if by == "sp" else (NONE if values[0] is None else str(values[0]))
        if key is not None:
            counts[(b, key)] = counts.get((b, key), 0) + n
    return counts


def _filtered(
    q: Select[Any],
    tree: CategoryTree,
    level: int | None,
    since: datetime | None,
    until: datetime | None,
    process_id: str | None,
    under: str | None,
) -> Select[Any]:
    q = within(q, TicketRow.opened_at, since, until)
    if process_id is not None:
        q = q.where(TicketRow.process_id == process_id)
    if under is not None:
        node = tree.get(under)
        if level is not None and level < node.level:
            raise InvalidDataError(
                f"level {level} is above category {under} (level {node.level}): "
                f"ask for level {node.level} or deeper"
            )
        q = q.where(data_text(CATEGORY_KEYS[node.level - 1]) == under)
    return q


def _sp(tree: CategoryTree, values: Iterable[Any]) -> str | None:
    """The SP of a group of tickets: data ``sp_name``, else from the category path."""
    named, *codes = (None if v is None else str(v) for v in values)
    if named:
        return named
    known = [c for c in codes if c and c in tree]
    if not known:
        return None
    deepest = known[-1]
    if tree.sp_name(deepest):
        return tree.sp_name(deepest)
    return UNNAMED_SP if tree.is_sp(deepest) else None


def _label(tree: CategoryTree, by: str, key: str) -> str:
    if by == "category" and key in tree:
        return tree.label(key)
    return key
