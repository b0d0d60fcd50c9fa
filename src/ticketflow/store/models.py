"""SQLAlchemy 2.0 models of everything ticketflow stores.

* ``tf_definition`` - deployed process versions (source XML and content hash).
* ``tf_ticket`` - one row per ticket: number, status, customer, priority, current data.
* ``tf_workflow_state`` - the compacted SpiffWorkflow instance state, one row per ticket,
  kept apart so ticket and worklist queries never read it.
* ``tf_task`` - one row per human task instance, open or finished, with the columns
  worklists filter and sort on (assignee, state, due_at, priority, process, region).
* ``tf_task_candidate`` - candidate groups of *open* tasks (rows go when the task closes).
* ``tf_event`` - append-only history: who did what, when, with which data changes.

``tf_ticket`` and ``tf_task`` carry a version counter (optimistic locking): a write based
on a stale read fails instead of overwriting someone else's change.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    select,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.selectable import ScalarSelect

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Primary keys: BIGINT on PostgreSQL, INTEGER (rowid alias) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("ticketflow stores only timezone-aware datetimes")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class DefinitionRow(Base):
    __tablename__ = "tf_definition"
    __table_args__ = (
        UniqueConstraint("process_id", "version", name="uq_tf_definition_process_version"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    process_id: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int]
    name: Mapped[str] = mapped_column(String(400))
    filename: Mapped[str] = mapped_column(String(1000))
    content_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[bytes] = mapped_column(LargeBinary)
    deployed_at: Mapped[datetime]
    deployed_by: Mapped[str | None] = mapped_column(String(200))
    #: Called processes pinned at deploy time: process id -> tf_definition.id.
    dependencies: Mapped[dict[str, Any]]


class TicketRow(Base):
    __tablename__ = "tf_ticket"
    __table_args__ = (
        Index("ix_tf_ticket_customer", "customer_id", "opened_at"),
        Index("ix_tf_ticket_status_process", "status", "process_id"),
        Index("ix_tf_ticket_business_key", "process_id", "business_key"),
        Index("ix_tf_ticket_status_due", "status", "due_at"),
        Index("ix_tf_ticket_process_opened", "process_id", "opened_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str | None] = mapped_column(String(40), unique=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("tf_definition.id"))
    process_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    customer_id: Mapped[str] = mapped_column(String(100))
    customer_tier: Mapped[str | None] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(40))
    priority: Mapped[int]
    region: Mapped[str | None] = mapped_column(String(100))
    subject: Mapped[str | None] = mapped_column(String(500))
    business_key: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[dict[str, Any]]
    opened_by: Mapped[str | None] = mapped_column(String(200))
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    end_element: Mapped[str | None] = mapped_column(String(200))
    #: SLA: when the ticket is due, when it breached, and its suspension bookkeeping.
    due_at: Mapped[datetime | None]
    sla_breached_at: Mapped[datetime | None]
    paused_at: Mapped[datetime | None]
    paused_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    lock_version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": lock_version}

    @classmethod
    def id_of(cls, number: str) -> ScalarSelect[int]:
        """The id of the ticket numbered ``number``, as a subquery (a unique index lookup).

        Rows listed per ticket (tasks, scores, outbox messages, channel notes) are indexed
        by ticket id; the ticket number they also carry is for display.
        """
        return select(cls.id).where(cls.number == number).scalar_subquery()


class WorkflowStateRow(Base):
    __tablename__ = "tf_workflow_state"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tf_ticket.id"), primary_key=True)
    state: Mapped[str] = mapped_column(Text)
    tree_size: Mapped[int]


class TaskRow(Base):
    __tablename__ = "tf_task"
    __table_args__ = (
        Index("ix_tf_task_assignee_worklist", "assignee", "state", "due_at"),
        Index("ix_tf_task_state_due", "state", "due_at"),
        Index("ix_tf_task_region_worklist", "region", "state", "due_at"),
        Index("ix_tf_task_ticket_state", "ticket_id", "state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tf_ticket.id"))
    ticket_number: Mapped[str] = mapped_column(String(40))
    definition_id: Mapped[int] = mapped_column(ForeignKey("tf_definition.id"))
    process_id: Mapped[str] = mapped_column(String(200))
    spiff_task_id: Mapped[str] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(400))
    lane: Mapped[str | None] = mapped_column(String(200))
    candidate_groups: Mapped[str] = mapped_column(String(1000))
    assignee: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20))
    priority: Mapped[int]
    region: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    completed_by: Mapped[str | None] = mapped_column(String(200))
    form_data: Mapped[dict[str, Any] | None]
    #: Plugin decisions about the task: dispatch reason, callback plan.
    details: Mapped[dict[str, Any] | None]
    lock_version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": lock_version}


class TaskCandidateRow(Base):
    __tablename__ = "tf_task_candidate"
    __table_args__ = (Index("ix_tf_task_candidate_group", "group_name", "task_id"),)

    task_id: Mapped[int] = mapped_column(ForeignKey("tf_task.id"), primary_key=True)
    group_name: Mapped[str] = mapped_column(String(200), primary_key=True)


class EventRow(Base):
    __tablename__ = "tf_event"
    __table_args__ = (Index("ix_tf_event_ticket", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tf_ticket.id"))
    at: Mapped[datetime]
    actor: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    element_id: Mapped[str | None] = mapped_column(String(200))
    task_id: Mapped[int | None] = mapped_column(BigId)
    details: Mapped[dict[str, Any]]


class OutboxRow(Base):
    """A side effect (notification, connector call) written with the state change that
    caused it and delivered after the commit, with retries."""

    __tablename__ = "tf_outbox"
    __table_args__ = (
        Index("ix_tf_outbox_due", "state", "next_attempt_at"),
        Index("ix_tf_outbox_ticket", "ticket_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tf_ticket.id"))
    ticket_number: Mapped[str | None] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict[str, Any]]
    idempotency_key: Mapped[str] = mapped_column(String(300), unique=True)
    state: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int]
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None]
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]


class IncidentRow(Base):
    """Something that needs a person: e.g. a side effect that failed every retry."""

    __tablename__ = "tf_incident"
    __table_args__ = (Index("ix_tf_incident_open", "resolved_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tf_ticket.id"))
    ticket_number: Mapped[str | None] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("tf_outbox.id"))
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(200))


class ScoreRow(Base):
    """Points earned by a staff member (piece rate, evaluation, deduction)."""

    __tablename__ = "tf_score"
    __table_args__ = (
        Index("ix_tf_score_staff", "staff", "at"),
        Index("ix_tf_score_ticket", "ticket_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tf_ticket.id"))
    ticket_number: Mapped[str] = mapped_column(String(40))
    task_id: Mapped[int | None] = mapped_column(BigId)
    staff: Mapped[str] = mapped_column(String(200))
    points: Mapped[float]
    kind: Mapped[str] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(String(500))
    at: Mapped[datetime]


class JobRow(Base):
    """Work due at a time: a BPMN timer of a ticket (and later SLA reminders, retries)."""

    __tablename__ = "tf_job"
    __table_args__ = (
        Index("ix_tf_job_due", "state", "due_at"),
        Index("ix_tf_job_ticket", "ticket_id", "state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tf_ticket.id"))
    kind: Mapped[str] = mapped_column(String(40))
    #: Unique per job: e.g. ticket id, workflow task id and due instant of a timer.
    key: Mapped[str] = mapped_column(String(300), unique=True)
    element_id: Mapped[str | None] = mapped_column(String(200))
    due_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict[str, Any]]
    attempts: Mapped[int]
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]


# Feature tables live beside the core ones; importing them here puts them on Base.metadata.
from ticketflow.store import catalog_models, channel_models, service_models  # noqa: E402, F401
