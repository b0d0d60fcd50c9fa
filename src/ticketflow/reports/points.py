"""Piece-rate points (计件积分) per staff member over a period, from ``tf_score``.

``tickets`` counts the distinct tickets that earned the member a piece; ``piece``,
``evaluation`` and ``deduction`` sum the points of those kinds (deductions are
negative); ``total`` sums every kind, including any a host plugin records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from ticketflow.catalog.store import unit
from ticketflow.engine import Engine
from ticketflow.reports.query import within
from ticketflow.store.models import ScoreRow


@dataclass(frozen=True)
class PointsRow:
    """One staff member's points in the period."""

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "staff",
        "tickets",
        "piece",
        "evaluation",
        "deduction",
        "total",
    )

    staff: str
    tickets: int
    piece: float
    evaluation: float
    deduction: float
    total: float

    def values(self) -> tuple[object, ...]:
        return (
            self.staff,
            self.tickets,
            f"{self.piece:g}",
            f"{self.evaluation:g}",
            f"{self.deduction:g}",
            f"{self.total:g}",
        )


def staff_points(
    engine: Engine,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    staff: str | None = None,
    session: Session | None = None,
) -> list[PointsRow]:
    """Points earned in ``[since, until)`` per staff member, most points first."""

    def kind_sum(kind: str) -> ColumnElement[Any]:
        return func.sum(case((ScoreRow.kind == kind, ScoreRow.points), else_=0.0))

    q = select(
        ScoreRow.staff,
        func.count(func.distinct(case((ScoreRow.kind == "piece", ScoreRow.ticket_id)))),
        kind_sum("piece"),
        kind_sum("evaluation"),
        kind_sum("deduction"),
        func.sum(ScoreRow.points),
    ).group_by(ScoreRow.staff)
    q = within(q, ScoreRow.at, since, until)
    if staff is not None:
        q = q.where(ScoreRow.staff == staff)
    with unit(engine.bind, session, read_only=True) as s:
        rows = [
            PointsRow(who, int(n), *(round(float(v or 0), 4) for v in sums))
            for who, n, *sums in s.execute(q).tuples()
        ]
    return sorted(rows, key=lambda r: (-r.total, r.staff))
