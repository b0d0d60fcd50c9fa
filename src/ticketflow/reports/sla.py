"""SLA compliance and overdue work by department, region, category.

They read task and ticket rows only (no workflow is loaded). A task's *department* is its
first candidate group (the complaint's handling department, the dispatcher's desk...);
its *region* the ticket's region; its *category* the ticket's level-1 category
(``category_l1`` in the ticket data) or ``(none)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ticketflow.engine import Engine
from ticketflow.errors import InvalidDataError
from ticketflow.store.models import TaskRow, TicketRow

DIMENSIONS = ("department", "region", "category")
NONE = "(none)"


@dataclass(frozen=True)
class ComplianceRow:
    """SLA compliance of one department, region or category."""

    key: str
    completed: int
    on_time: int
    late: int
    open_overdue: int

    @property
    def compliance(self) -> float | None:
        """Share of completed tasks done by their due time (None when there are none)."""
        return self.on_time / self.completed if self.completed else None


@dataclass(frozen=True)
class OverdueTask:
    key: str
    ticket_number: str
    task_id: int
    element_id: str
    name: str
    assignee: str | None
    due_at: datetime
    overdue_by_hours: float


def _key(by: str, task: TaskRow, ticket: TicketRow) -> str:
    if by == "department":
        return task.candidate_groups.split(",")[0] or NONE
    if by == "region":
        return ticket.region or NONE
    value = (ticket.data or {}).get("category_l1")
    return str(value) if value else NONE


def _check(by: str) -> None:
    if by not in DIMENSIONS:
        raise InvalidDataError(
            f"report dimension must be one of {', '.join(DIMENSIONS)}, got {by!r}"
        )


def sla_compliance(
    engine: Engine,
    by: str = "department",
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    process_id: str | None = None,
    now: datetime | None = None,
) -> list[ComplianceRow]:
    """Tasks with a due time, completed in [since, until), on time or late; and open ones
    overdue at ``now`` — grouped by ``by``, sorted by compliance (worst first)."""
    _check(by)
    now = now or engine.clock.now()
    counts: dict[str, list[int]] = {}
    with Session(engine.bind) as s:
        q = (
            select(TaskRow, TicketRow)
            .join(TicketRow, TicketRow.id == TaskRow.ticket_id)
            .where(TaskRow.due_at.is_not(None))
        )
        if process_id is not None:
            q = q.where(TaskRow.process_id == process_id)
        for task, ticket in s.execute(q).tuples():
            row = counts.setdefault(_key(by, task, ticket), [0, 0, 0, 0])
            assert task.due_at is not None
            if task.state == "completed" and task.completed_at is not None:
                if (since and task.completed_at < since) or (until and task.completed_at >= until):
                    continue
                row[0] += 1
                row[1 if task.completed_at <= task.due_at else 2] += 1
            elif task.state in ("open", "suspended") and task.due_at < now:
                row[3] += 1
    rows = [ComplianceRow(k, *v) for k, v in counts.items()]
    return sorted(rows, key=lambda r: (r.compliance if r.compliance is not None else 2.0, r.key))


def overdue(
    engine: Engine,
    by: str = "department",
    *,
    now: datetime | None = None,
    keys: Sequence[str] | None = None,
    limit: int = 1000,
) -> dict[str, list[OverdueTask]]:
    """Open tasks past their due time, grouped by ``by``, most overdue first."""
    _check(by)
    now = now or engine.clock.now()
    groups: dict[str, list[OverdueTask]] = {}
    with Session(engine.bind) as s:
        q = (
            select(TaskRow, TicketRow)
            .join(TicketRow, TicketRow.id == TaskRow.ticket_id)
            .where(TaskRow.state.in_(("open", "suspended")), TaskRow.due_at < now)
            .order_by(TaskRow.due_at)
            .limit(limit)
        )
        for task, ticket in s.execute(q).tuples():
            key = _key(by, task, ticket)
            if keys is not None and key not in keys:
                continue
            assert task.due_at is not None
            groups.setdefault(key, []).append(
                OverdueTask(
                    key,
                    task.ticket_number,
                    task.id,
                    task.element_id,
                    task.name,
                    task.assignee,
                    task.due_at,
                    round((now - task.due_at).total_seconds() / 3600, 2),
                )
            )
    return groups
