"""Tables of the service-centre features (see :mod:`ticketflow.service`).

* ``tf_service_contact`` - one row per customer contact received through
  :class:`~ticketflow.service.intake.Intake`: the text and its token string (the
  similarity index), and what the contact became: a new ticket, a repeat linked to an
  existing ticket, or a contact linked to a mass fault.
* ``tf_service_fault`` - declared network faults and planned outages (重大故障/计划停机).
* ``tf_service_alert`` - complaint spikes over a region's baseline.
* ``tf_service_kb_entry`` - knowledge-base (FAQ) entries.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ticketflow.store.models import Base, BigId


class ContactRow(Base):
    """A customer contact at intake, and the ticket and/or fault it is linked to."""

    __tablename__ = "tf_service_contact"
    __table_args__ = (
        Index("ix_tf_service_contact_customer", "customer_id", "received_at"),
        Index("ix_tf_service_contact_area", "region", "category", "received_at"),
        Index("ix_tf_service_contact_ticket", "ticket_id"),
        Index("ix_tf_service_contact_fault", "fault_id", "customer_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(40))
    region: Mapped[str | None] = mapped_column(String(100))
    category: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    #: The text's tokens (jieba), space-separated: what repeat detection compares.
    tokens: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime]
    actor: Mapped[str | None] = mapped_column(String(200))
    #: ``opened`` (a new ticket), ``repeat`` (linked to an existing ticket) or ``fault``
    #: (linked to a mass fault, no ticket).
    outcome: Mapped[str] = mapped_column(String(20))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tf_ticket.id"))
    ticket_number: Mapped[str | None] = mapped_column(String(40))
    #: The earlier ticket this contact repeats (open: linked to it; closed: a new ticket).
    repeat_of: Mapped[str | None] = mapped_column(String(40))
    fault_id: Mapped[int | None] = mapped_column(ForeignKey("tf_service_fault.id"))
    #: Similarity score (0-100) of a repeat link, and why the contact was linked.
    score: Mapped[float | None]
    reason: Mapped[str | None] = mapped_column(String(500))
    forced: Mapped[bool]


class FaultRow(Base):
    """A network fault or planned outage affecting some regions for a time window."""

    __tablename__ = "tf_service_fault"
    __table_args__ = (Index("ix_tf_service_fault_status", "status", "starts_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    tokens: Mapped[str] = mapped_column(Text)
    regions: Mapped[list[str]] = mapped_column(JSON)
    categories: Mapped[list[str]] = mapped_column(JSON)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    #: Open a ticket for each matching complaint (linked to the fault) besides linking it.
    open_tickets: Mapped[bool]
    status: Mapped[str] = mapped_column(String(20))
    declared_by: Mapped[str | None] = mapped_column(String(200))
    declared_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    resolution: Mapped[str | None] = mapped_column(Text)


class AlertRow(Base):
    """A spike: more complaints for a region and category than its baseline allows."""

    __tablename__ = "tf_service_alert"
    __table_args__ = (
        UniqueConstraint("region", "category", "bucket_start", name="uq_tf_service_alert_bucket"),
        Index("ix_tf_service_alert_raised", "raised_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(200))
    #: Start of the window bucket (one alert per region, category and bucket).
    bucket_start: Mapped[datetime]
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    count: Mapped[int] = mapped_column(Integer)
    baseline: Mapped[float]
    threshold: Mapped[int] = mapped_column(Integer)
    raised_at: Mapped[datetime]


class KnowledgeRow(Base):
    """A knowledge-base (FAQ) entry, often made from a resolved ticket."""

    __tablename__ = "tf_service_kb_entry"
    __table_args__ = (Index("ix_tf_service_kb_entry_retired", "retired_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    categories: Mapped[list[str]] = mapped_column(JSON)
    tokens: Mapped[str] = mapped_column(Text)
    source_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tf_ticket.id"))
    source_ticket_number: Mapped[str | None] = mapped_column(String(40))
    author: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    updated_by: Mapped[str | None] = mapped_column(String(200))
    retired_at: Mapped[datetime | None]
    retired_by: Mapped[str | None] = mapped_column(String(200))
    lock_version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": lock_version}  # noqa: RUF012
