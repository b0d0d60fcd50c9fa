"""Ingesting e-mail replies of offline handlers: :func:`ingest_message`.

One reply is one transaction: the inbound record, the task's completion (through
:meth:`Engine.complete`, as the handler), the note, the attachments and the answer mail all
commit together or not at all. A refused reply changes nothing but its own record and the
answer naming what was wrong. The same message (by Message-ID) is ingested once; handing it
in again returns the first result with ``duplicate=True``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ticketflow.channels.base import require_plugin, unit
from ticketflow.channels.directory import Handler
from ticketflow.channels.errors import ReplyTokenError
from ticketflow.channels.mail_out import OfflineMail, queue_mail
from ticketflow.channels.mail_parse import ParsedMail, parse_mail
from ticketflow.channels.reply_format import read_reply, to_form_values
from ticketflow.channels.tokens import TOKEN_PATTERN, TokenGrant, find_tokens
from ticketflow.errors import (
    FormValidationError,
    NotFoundError,
    PermissionDeniedError,
    ProcessExecutionError,
    TaskStateError,
)
from ticketflow.store.channel_models import ChannelAttachmentRow, ChannelNoteRow, InboundMailRow
from ticketflow.store.models import TicketRow

if TYPE_CHECKING:
    from ticketflow.engine import Engine

#: Outcomes of a reply.
COMPLETED, NOTED, REFUSED, IGNORED = "completed", "noted", "refused", "ignored"


@dataclass(frozen=True)
class IngestResult:
    """What one e-mail did: ``completed`` its task, ``noted`` (annotated the ticket),
    ``refused`` (``reason`` says why; the sender was answered) or ``ignored`` (automatic
    mail such as a bounce or vacation notice, never answered)."""

    status: str
    message_key: str
    sender: str | None
    reason: str | None = None
    ticket_number: str | None = None
    task_id: int | None = None
    user_id: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    duplicate: bool = False

    @classmethod
    def from_row(cls, row: InboundMailRow, duplicate: bool = False) -> IngestResult:
        return cls(
            row.status,
            row.message_key,
            row.sender,
            row.reason,
            row.ticket_number,
            row.task_id,
            row.user_id,
            dict(row.fields or {}),
            duplicate,
        )


class _Refusal(Exception):
    def __init__(self, reason: str, grant: TokenGrant | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.grant = grant


def ingest_message(engine: Engine, raw: bytes, *, session: Session | None = None) -> IngestResult:
    """Read one reply (the raw RFC 5322 bytes) and act on it; see the module doc.

    Raises :class:`~ticketflow.channels.errors.MailFormatError` for bytes that are no
    e-mail, and the engine's database errors (nothing stored; try again later).
    """
    config = require_plugin(engine, OfflineMail)
    mail = parse_mail(raw, max_bytes=config.max_message_bytes)
    now = engine.clock.now()
    try:
        with unit(engine, session) as s:
            earlier = _recorded(s, mail.message_key)
            if earlier is not None:
                return IngestResult.from_row(earlier, duplicate=True)
            row = InboundMailRow(
                message_key=mail.message_key,
                sender=mail.sender[:320] or None,
                subject=mail.subject[:500],
                received_at=now,
                status="processing",
                size=mail.size,
            )
            s.add(row)
            s.flush()
            _process(engine, config, s, mail, row, now)
            s.flush()
            return IngestResult.from_row(row)
    except IntegrityError:
        # Another worker recorded the same Message-ID at the same moment.
        with unit(engine, session) as s:
            earlier = _recorded(s, mail.message_key)
            if earlier is None:
                raise
            return IngestResult.from_row(earlier, duplicate=True)


def _recorded(s: Session, key: str) -> InboundMailRow | None:
    return s.scalars(select(InboundMailRow).where(InboundMailRow.message_key == key)).first()


def _process(
    engine: Engine,
    config: OfflineMail,
    s: Session,
    mail: ParsedMail,
    row: InboundMailRow,
    now: datetime,
) -> None:
    if mail.auto_generated:
        row.status = IGNORED
        row.reason = "automatic message (bounce, vacation or list mail): not answered"
        return
    handler: Handler | None = None
    try:
        grant, handler = _authenticate(config, s, mail, now)
        row.ticket_number, row.task_id, row.token_id = (
            grant.ticket_number,
            grant.task_id,
            grant.token_id,
        )
        row.user_id = handler.user.id
        with s.begin_nested():
            outcome = _act(engine, config, s, mail, row, grant, handler, now)
    except _Refusal as refusal:
        row.status = REFUSED
        row.reason = refusal.reason
        _answer(engine, s, mail, row, refusal.reason, refusal.grant, handler)
        return
    row.status = outcome
    if config.confirm:
        _confirm(engine, s, mail, row, handler)


def _authenticate(
    config: OfflineMail, s: Session, mail: ParsedMail, now: datetime
) -> tuple[TokenGrant, Handler]:
    tokens = find_tokens(*mail.recipients, mail.subject, mail.body)
    if not tokens:
        raise _Refusal(
            "no reply token found: reply to the task mail itself (its subject and Reply-To "
            "address carry the token, e.g. tf42-...)"
        )
    handler = config.directory.by_email(mail.sender) if mail.sender else None
    if handler is None:
        raise _Refusal(f"the sender address {mail.sender or '(none)'!r} belongs to no user")
    try:
        grant = config.tokens.verify(s, tokens[0], now, lock=True)
    except ReplyTokenError as exc:
        raise _Refusal(str(exc)) from None
    if grant.user_id != handler.user.id:
        raise _Refusal(
            f"this task was mailed to user {grant.user_id!r}; a reply from {mail.sender} "
            f"(user {handler.user.id!r}) cannot answer it"
        )
    return grant, handler


def _act(
    engine: Engine,
    config: OfflineMail,
    s: Session,
    mail: ParsedMail,
    row: InboundMailRow,
    grant: TokenGrant,
    handler: Handler,
    now: datetime,
) -> str:
    try:
        task = engine.task(grant.task_id, session=s)
    except NotFoundError as exc:
        raise _Refusal(str(exc)) from None
    content = read_reply(mail.reply, task.form)
    where = f"ticket {grant.ticket_number}, task {task.id} '{task.element_id}'"
    outcome = NOTED
    if content.fields or content.errors:
        if grant.used_at is not None:
            raise _Refusal(
                f"{where}: this reply token already completed the task at "
                f"{grant.used_at:%Y-%m-%d %H:%M} UTC"
            )
        if content.errors:
            raise _Refusal(_form_errors(where, content.errors), grant)
        values = to_form_values(content.fields, task.form)
        try:
            engine.complete(task.id, handler.user, values, session=s)
        except FormValidationError as exc:
            raise _Refusal(_form_errors(where, exc.errors), grant) from None
        except (TaskStateError, PermissionDeniedError, ProcessExecutionError) as exc:
            raise _Refusal(str(exc)) from None
        config.tokens.mark_used(s, grant, now)
        row.fields = engine.task(task.id, session=s).form_data or {}
        outcome = COMPLETED
    elif not content.comment and not mail.attachments:
        raise _Refusal(
            f"{where}: the reply is empty - write 'field: value' lines to complete the task, "
            "or text to add a note",
            grant,
        )
    ticket = s.scalars(select(TicketRow).where(TicketRow.number == grant.ticket_number)).one()
    if content.comment:
        s.add(
            ChannelNoteRow(
                ticket_id=ticket.id,
                ticket_number=grant.ticket_number,
                task_id=task.id,
                source="email",
                author=handler.user.id,
                text=content.comment,
                at=now,
                inbound_mail_id=row.id,
            )
        )
    skipped = _store_attachments(config, s, mail, row, ticket, handler, now)
    if skipped:
        row.reason = "attachments left out: " + "; ".join(skipped)
    return outcome


def _store_attachments(
    config: OfflineMail,
    s: Session,
    mail: ParsedMail,
    row: InboundMailRow,
    ticket: TicketRow,
    handler: Handler,
    now: datetime,
) -> list[str]:
    skipped: list[str] = []
    for n, item in enumerate(mail.attachments, 1):
        if n > config.max_attachments:
            skipped.append(f"{item.filename} (more than {config.max_attachments} files)")
            continue
        if len(item.content) > config.max_attachment_bytes:
            skipped.append(
                f"{item.filename} ({len(item.content)} bytes; the limit is "
                f"{config.max_attachment_bytes})"
            )
            continue
        s.add(
            ChannelAttachmentRow(
                ticket_id=ticket.id,
                ticket_number=ticket.number or "",
                inbound_mail_id=row.id,
                filename=item.filename,
                content_type=item.content_type[:200],
                size=len(item.content),
                sha256=hashlib.sha256(item.content).hexdigest(),
                content=item.content,
                added_by=handler.user.id,
                at=now,
            )
        )
    return skipped


def _form_errors(where: str, errors: dict[str, str]) -> str:
    details = "; ".join(f"field '{name}': {message}" for name, message in errors.items())
    return f"{where}: {details}"


def _ticket_row(s: Session, number: str | None) -> TicketRow | None:
    if number is None:
        return None
    return s.scalars(select(TicketRow).where(TicketRow.number == number)).first()


def _re(subject: str) -> str:
    return subject if subject.lower().startswith(("re:", "回复:", "答复:")) else f"Re: {subject}"


def _answer(
    engine: Engine,
    s: Session,
    mail: ParsedMail,
    row: InboundMailRow,
    reason: str,
    grant: TokenGrant | None,
    handler: Handler | None,
) -> None:
    """Tell the sender why the reply was refused (the token only to its own user)."""
    if not mail.sender or "@" not in mail.sender:
        return
    subject = _re(mail.subject or "ticketflow")
    owner = grant is not None and handler is not None and grant.user_id == handler.user.id
    if not owner:  # the token goes back only to the user it belongs to
        subject = TOKEN_PATTERN.sub("", subject).replace("[]", "").strip()
    lines = [
        "您的回复未能处理，工单没有任何改动。",
        "Your reply could not be processed; nothing was changed.",
        "",
        f"原因 Reason: {reason}",
        "",
    ]
    if owner:
        lines.append(
            "请修改后回复本邮件或原任务邮件。Please correct it and reply to this e-mail "
            "or to the task mail."
        )
        token = find_tokens(*mail.recipients, mail.subject, mail.body)[0]
        if token not in subject:
            subject = f"[{token}] {subject}"
    else:
        lines.append("Please reply to the task mail you received, from the address it went to.")
    queue_mail(
        engine,
        s,
        _ticket_row(s, row.ticket_number),
        mail.sender,
        f"{subject} - 未处理 not processed",
        "\n".join(lines),
        f"mail-answer:{row.id}",
    )


def _confirm(
    engine: Engine,
    s: Session,
    mail: ParsedMail,
    row: InboundMailRow,
    handler: Handler | None,
) -> None:
    if handler is None or row.ticket_number is None:
        return
    ticket = engine.ticket(row.ticket_number, session=s)
    if row.status == COMPLETED:
        head = f"工单 {ticket.number} 的任务 {row.task_id} 已完成。Task {row.task_id} is done."
        fields = "\n".join(f"  {k}: {v}" for k, v in sorted((row.fields or {}).items()))
        body = [head, "", "记录的字段 Recorded fields:", fields]
    else:
        body = [
            f"您的备注已记入工单 {ticket.number}；任务仍待处理。",
            f"Your note was added to ticket {ticket.number}; the task stays open.",
        ]
    nxt = ", ".join(f"{t.name} ({t.element_id})" for t in ticket.open_tasks) or "-"
    body += ["", f"工单状态 Ticket status: {ticket.status}; 待办 Open tasks: {nxt}"]
    if row.reason:
        body += ["", row.reason]
    queue_mail(
        engine,
        s,
        _ticket_row(s, ticket.number),
        handler.email,
        f"{_re(mail.subject or ticket.number)} - 已处理 accepted",
        "\n".join(body),
        f"mail-answer:{row.id}",
    )
