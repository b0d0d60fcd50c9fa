"""E-mail notifications over SMTP: a configurable plugin for the ``email`` channel.

``Engine(plugins=[SmtpNotifier("smtp.example.com", 587, "tickets@example.com", starttls=True,
username="tickets", password="...")])`` or ``SmtpNotifier.from_url(url)``.

Each notification is one :class:`email.message.EmailMessage` in UTF-8, sent on its own SMTP
connection. Its ``Message-ID`` is derived from the notification's idempotency key, so a
delivery the outbox retries (say, the server accepted the mail but the connection dropped
before its answer) carries the same id and receivers can drop the duplicate. Any SMTP or
network failure is raised, never swallowed: the outbox retries with backoff.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl as _ssl
from collections.abc import Iterable
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr
from urllib.parse import parse_qsl, unquote, urlsplit

from ticketflow.errors import TicketflowError
from ticketflow.hooks.hookspecs import hookimpl
from ticketflow.hooks.types import Notification
from ticketflow.time.clock import Clock, SystemClock

DEFAULT_SENDER = "ticketflow@localhost"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class EmailAddressError(TicketflowError, ValueError):
    """A notification's ``to`` holds no usable e-mail address."""


def message_id(idempotency_key: str, domain: str) -> str:
    """The Message-ID of every delivery attempt of the notification with this key."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:32]
    return f"<tf.{digest}@{domain}>"


class SmtpNotifier:
    """Delivers ``email`` notifications through one SMTP server.

    ``starttls`` upgrades a plain connection (port 587), ``ssl`` speaks TLS from the start
    (port 465); ``ssl_context`` defaults to the system's trusted CAs. ``username`` enables
    AUTH. ``channels`` lists the channels this instance answers for.
    """

    def __init__(
        self,
        host: str,
        port: int = 25,
        sender: str = DEFAULT_SENDER,
        *,
        starttls: bool = False,
        ssl: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        reply_to: str | None = None,
        channels: Iterable[str] = ("email",),
        ssl_context: _ssl.SSLContext | None = None,
        clock: Clock | None = None,
    ) -> None:
        if starttls and ssl:
            raise ValueError("choose starttls (upgrade a plain connection) or ssl, not both")
        if password is not None and username is None:
            raise ValueError("a password needs a username")
        address = parseaddr(sender)[1]
        if "@" not in address.strip("@"):
            raise ValueError(f"sender {sender!r} is not an e-mail address (user@domain)")
        self.host = host
        self.port = port
        self.sender = sender
        self.starttls = starttls
        self.ssl = ssl
        self.username = username
        self.password = password
        self.timeout = timeout
        self.reply_to = reply_to
        self.channels = tuple(channels)
        self.ssl_context = ssl_context
        self.clock: Clock = clock or SystemClock()
        self.domain = address.rpartition("@")[2]

    def __repr__(self) -> str:
        mode = "ssl" if self.ssl else "starttls" if self.starttls else "plain"
        user = f"{self.username}@" if self.username else ""
        return f"SmtpNotifier({user}{self.host}:{self.port}, {mode}, sender={self.sender!r})"

    @classmethod
    def from_url(
        cls, url: str, *, ssl_context: _ssl.SSLContext | None = None, clock: Clock | None = None
    ) -> SmtpNotifier:
        """Configure from ``smtp://user:pass@host:port?starttls=1&sender=...``.

        ``smtps://`` means implicit TLS (default port 465); ``smtp://`` defaults to port 25.
        Query parameters: ``starttls``, ``sender``, ``reply_to``, ``timeout``, ``channels``
        (comma-separated). User and password are percent-decoded.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError(f"SMTP URL must start with smtp:// or smtps://, got {url!r}")
        if not parts.hostname:
            raise ValueError(f"SMTP URL has no host: {url!r}")
        implicit_tls = parts.scheme == "smtps"
        options: dict[str, str] = {}
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if name not in ("starttls", "sender", "reply_to", "timeout", "channels"):
                raise ValueError(f"unknown SMTP URL parameter {name!r} in {url!r}")
            options[name] = value
        channels = options.get("channels", "email")
        return cls(
            parts.hostname,
            parts.port or (465 if implicit_tls else 25),
            options.get("sender", DEFAULT_SENDER),
            starttls=_flag(options.get("starttls", "0"), "starttls"),
            ssl=implicit_tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            timeout=float(options.get("timeout", 10.0)),
            reply_to=options.get("reply_to"),
            channels=tuple(c.strip() for c in channels.split(",") if c.strip()),
            ssl_context=ssl_context,
            clock=clock,
        )

    @hookimpl
    def ticketflow_notify(self, message: Notification) -> bool | None:
        if message.channel not in self.channels:
            return None
        mail = self.build(message)
        self.send(mail)
        return True

    def build(self, message: Notification) -> EmailMessage:
        """The e-mail for ``message``, exactly as :meth:`send` would hand it to SMTP."""
        recipients = _recipients(message.to)
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = recipients
        if self.reply_to:
            mail["Reply-To"] = self.reply_to
        subject = message.subject
        if subject is None:
            subject = f"工单 {message.ticket_number}" if message.ticket_number else "ticketflow"
        mail["Subject"] = subject
        mail["Date"] = format_datetime(self.clock.now())
        if message.idempotency_key:
            mail["Message-ID"] = message_id(message.idempotency_key, self.domain)
        else:
            mail["Message-ID"] = make_msgid(domain=self.domain)
        if message.ticket_number:
            mail["X-Ticketflow-Ticket"] = message.ticket_number
        mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
        mail.set_content(message.body, charset="utf-8")
        for filename, content, mime in message.attachments:
            maintype, _, subtype = mime.partition("/")
            if not maintype or not subtype:
                maintype, subtype = "application", "octet-stream"
            mail.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
        return mail

    def send(self, mail: EmailMessage) -> None:
        """Send on a new connection; raise on any failure, including a refused recipient."""
        context = self.ssl_context or _ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.ssl:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            if self.starttls:
                smtp.starttls(context=context)
            if self.username is not None:
                smtp.login(self.username, self.password or "")
            refused = smtp.send_message(mail, from_addr=parseaddr(self.sender)[1])
        if refused:
            # Some recipients got it, some did not: fail so the outbox retries; the
            # retry carries the same Message-ID, so those who got it can drop it.
            raise smtplib.SMTPRecipientsRefused(refused)


def _recipients(to: str) -> list[Address]:
    """The addresses in ``to`` (``a@x.cn, 张三 <b@y.cn>``); raise if any is unusable."""
    found: list[Address] = []
    for name, address in getaddresses([to]):
        local, at, domain = address.rpartition("@")
        if not (local and at and domain) or any(c.isspace() for c in address):
            raise EmailAddressError(f"{address or to!r} is not an e-mail address")
        try:
            found.append(Address(display_name=name, addr_spec=address))
        except (ValueError, IndexError) as error:  # the header parser's own objections
            raise EmailAddressError(f"{address!r} is not an e-mail address: {error}") from error
    if not found:
        raise EmailAddressError(f"no e-mail address in {to!r}")
    return found


def _flag(value: str, name: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ValueError(f"SMTP URL parameter {name} must be 0 or 1, got {value!r}")
