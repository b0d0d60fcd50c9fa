"""``ticketflow mail ...`` and ``ticketflow sms ...``: the channels on the command line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn
from urllib.parse import unquote, urlsplit

import typer
from rich.console import Console
from rich.table import Table

from ticketflow.console import fail, plain
from ticketflow.errors import TicketflowError

if TYPE_CHECKING:
    from ticketflow.channels.imap import ImapSource

mail_app = typer.Typer(help="E-mail offline handling.", no_args_is_help=True)
sms_app = typer.Typer(help="SMS intake.", no_args_is_help=True)
console = Console()

UrlOption = Annotated[
    str,
    typer.Option("--url", envvar="TICKETFLOW_DATABASE_URL", help="SQLAlchemy database URL."),
]
DEFAULT_URL = "sqlite:///ticketflow.db"
SECRET_ENV = "TICKETFLOW_MAIL_SECRET"


def register(app: typer.Typer) -> None:
    """Add the ``mail`` and ``sms`` command groups to ``app``."""
    app.add_typer(mail_app, name="mail")
    app.add_typer(sms_app, name="sms")


def _fail(message: object) -> NoReturn:
    fail(console, message)


@mail_app.command("poll")
def mail_poll(
    directory: Annotated[
        Path, typer.Option(help='JSON file of handlers: {"handlers": [{id, email, groups}]}.')
    ],
    maildir: Annotated[
        Path | None, typer.Option(help="The Maildir replies are delivered to.")
    ] = None,
    imap: Annotated[
        str | None,
        typer.Option(
            envvar="TICKETFLOW_IMAP_URL",
            help="Or an IMAP folder: imaps://user:password@host[:port]/INBOX (imap:// for plain).",
        ),
    ] = None,
    url: UrlOption = DEFAULT_URL,
    smtp: Annotated[
        str | None,
        typer.Option(
            envvar="TICKETFLOW_SMTP_URL",
            help="Send the answers at once through this SMTP URL (smtp://host:port?...).",
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Ingest at most this many messages.")] = None,
) -> None:
    """Ingest the replies waiting in a Maildir (done ones move to cur/, unreadable ones to
    the .quarantine folder) or an IMAP folder (done ones are flagged seen, unreadable ones
    go to Quarantine). The reply-token secret is read from $TICKETFLOW_MAIL_SECRET."""
    from ticketflow.channels.directory import load_directory
    from ticketflow.channels.mail_out import OfflineMail, ReplyTokenSmtpNotifier
    from ticketflow.channels.maildir import MaildirSource
    from ticketflow.channels.polling import poll
    from ticketflow.engine import Engine

    if (maildir is None) == (imap is None):
        _fail("give either --maildir PATH or --imap URL")
    secret = os.environ.get(SECRET_ENV)
    if not secret:
        _fail(f"set {SECRET_ENV} to the secret the task mails were signed with")
    assert secret is not None
    try:
        plugins: list[object] = [OfflineMail(load_directory(directory), secret)]
        if smtp:
            plugins.append(ReplyTokenSmtpNotifier.from_url(smtp))
        with Engine(url, plugins=plugins) as engine:
            if maildir is not None:
                report = poll(engine, MaildirSource(maildir), limit)
            else:
                assert imap is not None
                with imap_source(imap) as source:
                    report = poll(engine, source, limit)
            delivered = engine.deliver_outbox().delivered if smtp else 0
    except (TicketflowError, ValueError, OSError) as exc:
        _fail(exc)
    table = Table("message", "status", "ticket", "task", "reason")
    for r in report.results:
        table.add_row(
            r.message_key, r.status, r.ticket_number or "", str(r.task_id or ""), r.reason or ""
        )
    for key, reason in report.quarantined.items():
        table.add_row(key, "quarantined", "", "", reason)
    for key, reason in report.deferred.items():
        table.add_row(key, "deferred", "", "", reason)
    console.print(table)
    statuses = ("completed", "noted", "refused", "ignored")
    counts = ", ".join(f"{status} {report.count(status)}" for status in statuses)
    console.print(
        f"{counts}, quarantined {len(report.quarantined)}, deferred {len(report.deferred)}"
        + (f"; {delivered} answers sent" if smtp else "; answers queued in the outbox"),
        highlight=False,
    )


def imap_source(url: str) -> ImapSource:
    """An :class:`ImapSource` from ``imaps://user:password@host[:port]/FOLDER``."""
    from ticketflow.channels.imap import ImapSource

    parts = urlsplit(url)
    if parts.scheme not in ("imap", "imaps") or not parts.hostname or not parts.username:
        raise ValueError(f"IMAP URL must be imap[s]://user:password@host[:port]/FOLDER: {url!r}")
    return ImapSource(
        parts.hostname,
        unquote(parts.username),
        unquote(parts.password or ""),
        port=parts.port,
        ssl=parts.scheme == "imaps",
        folder=unquote(parts.path.lstrip("/")) or "INBOX",
    )


@sms_app.command("receive")
def sms_receive(
    sender: Annotated[str, typer.Argument(help="The sender's mobile number.")],
    text: Annotated[str, typer.Argument(help="The message.")],
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Act on one incoming SMS (as the gateway's webhook would) and show the outcome."""
    from ticketflow.channels.sms import receive_sms
    from ticketflow.engine import Engine

    try:
        with Engine(url) as engine:
            result = receive_sms(engine, sender, text)
    except TicketflowError as exc:
        _fail(exc)
    console.print(
        f"{result.outcome}: ticket {result.ticket_number or '-'}, draft {result.draft_id or '-'}"
        f"{', ' + result.reason if result.reason else ''}",
        highlight=False,
    )
    if result.reply:
        console.print(f"answer queued: {plain(result.reply)}", highlight=False)


@sms_app.command("drafts")
def sms_drafts(
    url: UrlOption = DEFAULT_URL,
    all_: Annotated[bool, typer.Option("--all", help="Include handled drafts.")] = False,
) -> None:
    """List free-text SMS waiting for an agent."""
    from ticketflow.channels.sms import drafts
    from ticketflow.engine import Engine

    try:
        with Engine(url) as engine:
            found = drafts(engine, state=None if all_ else "open")
    except TicketflowError as exc:
        _fail(exc)
    table = Table("id", "from", "received", "state", "ticket", "text")
    for d in found:
        table.add_row(
            str(d.id),
            d.sender,
            f"{d.received_at:%Y-%m-%d %H:%M}",
            d.state,
            d.ticket_number or "",
            d.text,
        )
    console.print(table)
