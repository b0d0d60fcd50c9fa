"""Read-only snapshots returned by the :class:`~ticketflow.Engine` API.

They are plain frozen dataclasses, detached from any database session, safe to keep,
compare and serialize (``to_dict``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from ticketflow.definitions.forms import FormField
from ticketflow.store.models import DefinitionRow, EventRow, ScoreRow, TaskRow, TicketRow

T = TypeVar("T")


@dataclass(frozen=True)
class TaskView:
    """A human task (open or finished) of a ticket."""

    id: int
    ticket_number: str
    process_id: str
    element_id: str
    name: str
    state: str
    candidate_groups: tuple[str, ...]
    assignee: str | None
    priority: int
    region: str | None
    created_at: datetime
    due_at: datetime | None
    claimed_at: datetime | None
    completed_at: datetime | None
    completed_by: str | None
    form_data: dict[str, Any] | None
    form: tuple[FormField, ...] = ()
    documentation: str | None = None
    #: Plugin decisions: ``dispatch`` (the reason) and ``callback_plan``.
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(
        cls, row: TaskRow, form: tuple[FormField, ...] = (), documentation: str | None = None
    ) -> TaskView:
        return cls(
            id=row.id,
            ticket_number=row.ticket_number,
            process_id=row.process_id,
            element_id=row.element_id,
            name=row.name,
            state=row.state,
            candidate_groups=tuple(g for g in row.candidate_groups.split(",") if g),
            assignee=row.assignee,
            priority=row.priority,
            region=row.region,
            created_at=row.created_at,
            due_at=row.due_at,
            claimed_at=row.claimed_at,
            completed_at=row.completed_at,
            completed_by=row.completed_by,
            form_data=dict(row.form_data) if row.form_data is not None else None,
            form=form,
            documentation=documentation,
            details=dict(row.details or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["form"] = [f.to_dict() for f in self.form]
        return d


@dataclass(frozen=True)
class TicketView:
    """A ticket with its current data and open tasks."""

    id: int
    number: str
    process_id: str
    definition_version: int
    status: str
    customer_id: str
    customer_tier: str | None
    channel: str
    priority: int
    region: str | None
    subject: str | None
    business_key: str | None
    data: dict[str, Any]
    opened_by: str | None
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    end_element: str | None
    open_tasks: tuple[TaskView, ...] = field(default=())
    due_at: datetime | None = None
    sla_breached_at: datetime | None = None

    @classmethod
    def from_row(cls, row: TicketRow, version: int, tasks: tuple[TaskView, ...] = ()) -> TicketView:
        assert row.number is not None
        return cls(
            id=row.id,
            number=row.number,
            process_id=row.process_id,
            definition_version=version,
            status=row.status,
            customer_id=row.customer_id,
            customer_tier=row.customer_tier,
            channel=row.channel,
            priority=row.priority,
            region=row.region,
            subject=row.subject,
            business_key=row.business_key,
            data=dict(row.data),
            opened_by=row.opened_by,
            opened_at=row.opened_at,
            updated_at=row.updated_at,
            closed_at=row.closed_at,
            end_element=row.end_element,
            open_tasks=tasks,
            due_at=row.due_at,
            sla_breached_at=row.sla_breached_at,
        )

    def task(self, element_id: str) -> TaskView:
        """The open task waiting at ``element_id`` (KeyError if none)."""
        for t in self.open_tasks:
            if t.element_id == element_id:
                return t
        waiting = ", ".join(t.element_id for t in self.open_tasks) or "nothing"
        raise KeyError(
            f"ticket {self.number} has no open task at '{element_id}' (waiting at: {waiting})"
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["open_tasks"] = [t.to_dict() for t in self.open_tasks]
        return d


@dataclass(frozen=True)
class EventView:
    """One entry of a ticket's history."""

    id: int
    ticket_number: str
    at: datetime
    actor: str | None
    kind: str
    element_id: str | None
    task_id: int | None
    details: dict[str, Any]

    @classmethod
    def from_row(cls, row: EventRow, number: str) -> EventView:
        return cls(
            row.id,
            number,
            row.at,
            row.actor,
            row.kind,
            row.element_id,
            row.task_id,
            dict(row.details),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DefinitionView:
    """A deployed version of a process."""

    id: int
    process_id: str
    version: int
    name: str
    filename: str
    content_hash: str
    deployed_at: datetime

    @classmethod
    def from_row(cls, row: DefinitionRow) -> DefinitionView:
        return cls(
            row.id,
            row.process_id,
            row.version,
            row.name,
            row.filename,
            row.content_hash,
            row.deployed_at,
        )


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a query: ``items`` plus the ``total`` that matched."""

    items: tuple[T, ...]
    total: int
    offset: int
    limit: int

    def __iter__(self) -> Any:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class MigrationReport:
    """What :meth:`Engine.migrate_all` did: tickets moved, and reasons for those that could not."""

    migrated: tuple[str, ...]
    refused: dict[str, list[str]]


@dataclass(frozen=True)
class ScoreView:
    """Points recorded for a staff member."""

    id: int
    ticket_number: str
    task_id: int | None
    staff: str
    points: float
    kind: str
    note: str | None
    at: datetime

    @classmethod
    def from_row(cls, row: ScoreRow) -> ScoreView:
        return cls(
            row.id,
            row.ticket_number,
            row.task_id,
            row.staff,
            row.points,
            row.kind,
            row.note,
            row.at,
        )
