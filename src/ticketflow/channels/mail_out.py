"""Tasks mailed to handlers who work away from the system (工单离线处理).

Register an :class:`OfflineMail` with the engine: every task created with an assignee whom
the directory marks ``offline`` is mailed to them through the outbox, with a reply token
(see :mod:`ticketflow.channels.tokens`) in the subject and the task's form as a reply
template (see :mod:`ticketflow.channels.reply_format`). :func:`mail_task` mails any open
task on demand. Deliver with :class:`ReplyTokenSmtpNotifier`, which also puts the token
in the Reply-To address (``tasks+tf42-...@example.com``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from ticketflow.channels.base import require_plugin, unit
from ticketflow.channels.directory import Directory, Handler
from ticketflow.channels.errors import UnknownSenderError
from ticketflow.channels.reply_format import task_mail
from ticketflow.channels.tokens import ReplyTokens, find_tokens
from ticketflow.errors import TaskStateError
from ticketflow.hooks.hookspecs import hookimpl
from ticketflow.hooks.types import HookContext, Notification
from ticketflow.plugins.email import SmtpNotifier
from ticketflow.store.models import TicketRow
from ticketflow.views import TaskView, TicketView

if TYPE_CHECKING:
    from ticketflow.engine import Engine


class OfflineMail:
    """Configuration and hooks of e-mail offline handling.

    ``directory`` maps users to addresses and back; ``secret`` signs reply tokens (at
    least 16 bytes, e.g. ``secrets.token_urlsafe(32)``; ``old_secrets`` still verify
    while rotating); tokens live ``token_ttl``. Replies larger than
    ``max_message_bytes`` are refused; attachments beyond ``max_attachments`` or
    ``max_attachment_bytes`` each are left out (the answer says so). ``confirm`` answers
    every accepted reply; ``mail_on_create`` mails new tasks of offline handlers.
    """

    def __init__(
        self,
        directory: Directory,
        secret: str | bytes,
        *,
        token_ttl: timedelta = timedelta(days=3),
        old_secrets: tuple[str | bytes, ...] = (),
        max_message_bytes: int = 25 * 1024 * 1024,
        max_attachment_bytes: int = 10 * 1024 * 1024,
        max_attachments: int = 10,
        confirm: bool = True,
        mail_on_create: bool = True,
    ) -> None:
        if max_attachment_bytes < 1 or max_attachments < 0 or max_message_bytes < 1:
            raise ValueError("mail size limits must be positive")
        self.directory = directory
        self.tokens = ReplyTokens(secret, token_ttl, old_secrets)
        self.max_message_bytes = max_message_bytes
        self.max_attachment_bytes = max_attachment_bytes
        self.max_attachments = max_attachments
        self.confirm = confirm
        self.mail_on_create = mail_on_create

    @hookimpl
    def ticketflow_task_created(self, ctx: HookContext, ticket: TicketView, task: TaskView) -> None:
        if not self.mail_on_create or task.assignee is None:
            return
        handler = self.directory.by_user(task.assignee)
        if handler is None or not handler.offline:
            return
        subject, body = self.compose(ctx.session, ticket, task, handler, ctx.now)
        ctx.notify(
            "email",
            handler.email,
            body,
            subject=subject,
            recipient_role="handler",
            key=f"offline-task:{task.id}",
        )

    def compose(
        self, s: Session, ticket: TicketView, task: TaskView, handler: Handler, now: datetime
    ) -> tuple[str, str]:
        """Issue a token for ``handler`` and write the task mail (subject, body)."""
        token = self.tokens.issue(
            s,
            ticket_id=ticket.id,
            ticket_number=ticket.number,
            task_id=task.id,
            user_id=handler.user.id,
            address=handler.email,
            now=now,
        )
        expires = (now + self.tokens.ttl).replace(microsecond=0)
        return task_mail(ticket, task, token, expires)


def mail_task(
    engine: Engine,
    task_id: int,
    user_id: str | None = None,
    *,
    session: Session | None = None,
) -> str:
    """Mail open task ``task_id`` to ``user_id`` (default: its assignee) with a new token.

    The user must be in the directory; completing still needs their usual permission on
    the task. Returns the address the mail is queued to.
    """
    config = require_plugin(engine, OfflineMail)
    now = engine.clock.now()
    with unit(engine, session) as s:
        task = engine.task(task_id, session=s)
        if task.state != "open":
            raise TaskStateError(
                f"task {task_id} '{task.element_id}' of ticket {task.ticket_number} is "
                f"{task.state}; only an open task can be mailed"
            )
        who = user_id or task.assignee
        if who is None:
            raise TaskStateError(
                f"task {task_id} '{task.element_id}' of ticket {task.ticket_number} has no "
                "assignee: name the user to mail it to"
            )
        handler = config.directory.by_user(who)
        if handler is None:
            raise UnknownSenderError(f"user {who!r} has no e-mail address in the directory")
        ticket = engine.ticket(task.ticket_number, session=s)
        subject, body = config.compose(s, ticket, task, handler, now)
        row = s.scalars(select(TicketRow).where(TicketRow.number == ticket.number)).one()
        queue_mail(engine, s, row, handler.email, subject, body, f"offline-task:{task_id}:{now}")
        return handler.email


def queue_mail(
    engine: Engine,
    s: Session,
    ticket: TicketRow | None,
    to: str,
    subject: str,
    body: str,
    key: str,
    role: str = "handler",
) -> None:
    """Queue an e-mail in the outbox within ``s`` (delivered after the commit)."""
    note = Notification(
        "email", to, body, subject, role, ticket.number if ticket is not None else None
    )
    engine.outbox.enqueue(s, ticket, "notify", note.to_payload(), key, engine.clock.now())


class ReplyTokenSmtpNotifier(SmtpNotifier):
    """An :class:`SmtpNotifier` that plus-addresses its Reply-To with the mail's token.

    With ``reply_to="tasks@example.com"``, a task mail whose subject carries ``tf42-...``
    gets ``Reply-To: tasks+tf42-...@example.com``; route that mailbox (plus addressing,
    or a catch-all) to the Maildir that ``ticketflow mail poll`` reads.
    """

    def build(self, message: Notification) -> EmailMessage:
        mail = super().build(message)
        tokens = find_tokens(message.subject)
        address = parseaddr(self.reply_to or "")[1]
        if tokens and "@" in address:
            local, _, domain = address.rpartition("@")
            del mail["Reply-To"]
            mail["Reply-To"] = f"{local}+{tokens[0]}@{domain}"
        return mail
