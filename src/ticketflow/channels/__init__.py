"""Intake channels: e-mail offline handling and SMS (see ``docs/channels.md``).

E-mail: register :class:`OfflineMail` (and deliver with :class:`ReplyTokenSmtpNotifier`);
tasks of offline handlers are mailed to them, and :func:`ingest_message` / :func:`poll`
turn their replies into completed tasks, notes and attachments.

SMS: register :class:`SmsChannel`; :func:`receive_sms` opens tickets from fixed-format
messages, keeps free text as drafts for an agent, and records callback ratings.
"""

from ticketflow.channels.directory import Directory, Handler, StaticDirectory, load_directory
from ticketflow.channels.errors import (
    ChannelError,
    ChannelNotConfiguredError,
    MailFormatError,
    ReplyTokenError,
    SmsFormatError,
    UnknownSenderError,
)
from ticketflow.channels.imap import ImapError, ImapSource
from ticketflow.channels.mail_in import IngestResult, ingest_message
from ticketflow.channels.mail_out import OfflineMail, ReplyTokenSmtpNotifier, mail_task
from ticketflow.channels.maildir import MaildirSource
from ticketflow.channels.notes import (
    AttachmentView,
    NoteView,
    attachment_content,
    attachments,
    inbound_mail,
    notes,
)
from ticketflow.channels.polling import MailSource, PollReport, poll
from ticketflow.channels.sms import (
    DraftView,
    SmsChannel,
    SmsKind,
    SmsResult,
    discard_draft,
    drafts,
    open_draft,
    receive_sms,
)

__all__ = [
    "AttachmentView",
    "ChannelError",
    "ChannelNotConfiguredError",
    "Directory",
    "DraftView",
    "Handler",
    "ImapError",
    "ImapSource",
    "IngestResult",
    "MailFormatError",
    "MailSource",
    "MaildirSource",
    "NoteView",
    "OfflineMail",
    "PollReport",
    "ReplyTokenError",
    "ReplyTokenSmtpNotifier",
    "SmsChannel",
    "SmsFormatError",
    "SmsKind",
    "SmsResult",
    "StaticDirectory",
    "UnknownSenderError",
    "attachment_content",
    "attachments",
    "discard_draft",
    "drafts",
    "inbound_mail",
    "ingest_message",
    "load_directory",
    "mail_task",
    "notes",
    "open_draft",
    "poll",
    "receive_sms",
]
