"""Tables of the intake channels (see :mod:`ticketflow.channels`).

* ``tf_reply_token`` - a task mailed to its handler: whom it is bound to, until when, and
  when it was used to complete the task. The token itself is never stored: it is an HMAC
  of this row under a secret the database does not hold.
* ``tf_inbound_mail`` - every e-mail reply ingested, keyed by Message-ID, with what it did.
* ``tf_channel_note`` - a remark added to a ticket from a channel (an e-mail reply without
  form fields, the comment of a completing reply, the text of a rating SMS).
* ``tf_channel_attachment`` - files that came with a reply, linked to their ticket.
* ``tf_sms_inbound`` - every SMS received, with what it did.
* ``tf_sms_draft`` - a free-text SMS waiting for an agent to turn it into a ticket.
* ``tf_sms_survey`` - a callback (回访) survey SMS awaiting the customer's rating.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ticketflow.store.models import Base, BigId


class ReplyTokenRow(Base):
    __tablename__ = "tf_reply_token"
    __table_args__ = (Index("ix_tf_reply_token_task", "task_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tf_ticket.id"))
    ticket_number: Mapped[str] = mapped_column(String(40))
    task_id: Mapped[int] = mapped_column(ForeignKey("tf_task.id"))
    user_id: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(320))
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class InboundMailRow(Base):
    __tablename__ = "tf_inbound_mail"
    __table_args__ = (Index("ix_tf_inbound_mail_ticket", "ticket_number", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: The Message-ID, or ``sha256:<digest of the raw bytes>`` for a message without one.
    message_key: Mapped[str] = mapped_column(String(300), unique=True)
    sender: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(String(500))
    received_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    ticket_number: Mapped[str | None] = mapped_column(String(40))
    task_id: Mapped[int | None] = mapped_column(BigId)
    token_id: Mapped[int | None] = mapped_column(ForeignKey("tf_reply_token.id"))
    user_id: Mapped[str | None] = mapped_column(String(200))
    fields: Mapped[dict[str, Any] | None]
    size: Mapped[int]


class ChannelNoteRow(Base):
    __tablename__ = "tf_channel_note"
    __table_args__ = (Index("ix_tf_channel_note_ticket", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tf_ticket.id"))
    ticket_number: Mapped[str] = mapped_column(String(40))
    task_id: Mapped[int | None] = mapped_column(BigId)
    source: Mapped[str] = mapped_column(String(20))
    author: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]
    inbound_mail_id: Mapped[int | None] = mapped_column(ForeignKey("tf_inbound_mail.id"))


class ChannelAttachmentRow(Base):
    __tablename__ = "tf_channel_attachment"
    __table_args__ = (Index("ix_tf_channel_attachment_ticket", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tf_ticket.id"))
    ticket_number: Mapped[str] = mapped_column(String(40))
    inbound_mail_id: Mapped[int | None] = mapped_column(ForeignKey("tf_inbound_mail.id"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(200))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    added_by: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime]


class SmsInboundRow(Base):
    __tablename__ = "tf_sms_inbound"
    __table_args__ = (Index("ix_tf_sms_inbound_sender", "sender", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: The gateway's own id of the message, when it gives one (a resent SMS is stored once).
    gateway_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    sender: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    ticket_number: Mapped[str | None] = mapped_column(String(40))


class SmsDraftRow(Base):
    __tablename__ = "tf_sms_draft"
    __table_args__ = (Index("ix_tf_sms_draft_state", "state", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    inbound_id: Mapped[int] = mapped_column(ForeignKey("tf_sms_inbound.id"))
    sender: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(20))
    ticket_number: Mapped[str | None] = mapped_column(String(40))
    handled_by: Mapped[str | None] = mapped_column(String(200))
    handled_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(String(500))


class SmsSurveyRow(Base):
    __tablename__ = "tf_sms_survey"
    __table_args__ = (Index("ix_tf_sms_survey_phone", "phone", "state", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tf_ticket.id"))
    ticket_number: Mapped[str] = mapped_column(String(40))
    task_id: Mapped[int] = mapped_column(ForeignKey("tf_task.id"))
    phone: Mapped[str] = mapped_column(String(40))
    sent_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(20))
    rating: Mapped[int | None]
    answered_at: Mapped[datetime | None]
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("tf_sms_inbound.id"))
