"""What the channels added to tickets: notes, attachments and the inbound mail log.

The engine's history (``Engine.history``) records what the workflow did; these are the
channel-side records next to it, read by ticket number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from ticketflow.channels.base import unit
from ticketflow.channels.mail_in import IngestResult
from ticketflow.errors import NotFoundError
from ticketflow.store.channel_models import ChannelAttachmentRow, ChannelNoteRow, InboundMailRow
from ticketflow.store.models import TicketRow

if TYPE_CHECKING:
    from ticketflow.engine import Engine


@dataclass(frozen=True)
class NoteView:
    """A remark added to a ticket through a channel."""

    id: int
    ticket_number: str
    task_id: int | None
    source: str
    author: str
    text: str
    at: datetime


@dataclass(frozen=True)
class AttachmentView:
    """A stored file (without its content: see :func:`attachment_content`)."""

    id: int
    ticket_number: str
    filename: str
    content_type: str
    size: int
    sha256: str
    added_by: str
    at: datetime


def notes(engine: Engine, number: str, *, session: Session | None = None) -> list[NoteView]:
    """The ticket's channel notes, oldest first."""
    engine.ticket(number, session=session)  # TicketNotFoundError for a wrong number
    with unit(engine, session, read_only=True) as s:
        rows = s.scalars(
            select(ChannelNoteRow)
            .where(ChannelNoteRow.ticket_id == TicketRow.id_of(number))
            .order_by(ChannelNoteRow.id)
        )
        return [
            NoteView(r.id, r.ticket_number, r.task_id, r.source, r.author, r.text, r.at)
            for r in rows
        ]


def attachments(
    engine: Engine, number: str, *, session: Session | None = None
) -> list[AttachmentView]:
    """The files that came with replies about the ticket, oldest first."""
    engine.ticket(number, session=session)
    with unit(engine, session, read_only=True) as s:
        q = select(ChannelAttachmentRow).where(
            ChannelAttachmentRow.ticket_id == TicketRow.id_of(number)
        )
        return [_attachment(r) for r in s.scalars(q.order_by(ChannelAttachmentRow.id))]


def attachment_content(
    engine: Engine, attachment_id: int, *, session: Session | None = None
) -> tuple[AttachmentView, bytes]:
    """One attachment and its bytes."""
    with unit(engine, session, read_only=True) as s:
        row = s.get(ChannelAttachmentRow, attachment_id)
        if row is None:
            raise NotFoundError(f"attachment {attachment_id} does not exist")
        return _attachment(row), bytes(row.content)


def inbound_mail(
    engine: Engine,
    *,
    ticket: str | None = None,
    status: str | None = None,
    limit: int = 100,
    session: Session | None = None,
) -> list[IngestResult]:
    """Ingested e-mails, newest first, by ticket and status."""
    with unit(engine, session, read_only=True) as s:
        q = select(InboundMailRow).order_by(InboundMailRow.id.desc()).limit(limit)
        if ticket is not None:
            q = q.where(InboundMailRow.ticket_number == ticket)
        if status is not None:
            q = q.where(InboundMailRow.status == status)
        return [IngestResult.from_row(r) for r in s.scalars(q)]


def _attachment(r: ChannelAttachmentRow) -> AttachmentView:
    return AttachmentView(
        r.id, r.ticket_number, r.filename, r.content_type, r.size, r.sha256, r.added_by, r.at
    )
