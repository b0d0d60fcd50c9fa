"""Notification plugins: e-mail against a real local SMTP server (aiosmtpd), and SMS."""

from __future__ import annotations

import asyncio
import logging
import shutil
import smtplib
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pluggy
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from ticketflow import Engine, FixedClock, TaskView, TicketView
from ticketflow.hooks import hookimpl, hookspecs, make_plugin_manager
from ticketflow.hooks.types import HookContext, Notification
from ticketflow.plugins import sms
from ticketflow.plugins.email import EmailAddressError, SmtpNotifier, message_id
from ticketflow.plugins.sms import (
    InvalidPhoneNumberError,
    LoggingSmsGateway,
    SentSms,
    SmsError,
    SmsNotifier,
    SmsTooLongError,
    normalize_number,
    split_text,
)

from .conftest import PROCESSES
from .journeys import open_complaint, resolve_and_reply, to_handling

SUBJECT = "投诉工单 CMP-20260105-0001 已受理"
BODY = "尊敬的客户：您反映的话费多扣问题已受理，我们将在 24 小时内回复。\n中国移动客服 10086"
PDF = b"%PDF-1.4\n\x00\xff\xfe binary \x80\x81 data"


# --- a real SMTP server on 127.0.0.1 ---------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool


class Inbox:
    """aiosmtpd handler: keeps every accepted message; can refuse recipients or data."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.refuse: set[str] = set()
        self.reject_data = False
        self._lock = threading.Lock()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.reject_data:
            return "554 5.7.1 message refused"
        assert isinstance(envelope.content, bytes)
        parsed = BytesParser(policy=policy.default).parsebytes(envelope.content)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            self.messages.append(
                Received(
                    str(envelope.mail_from),
                    list(envelope.rcpt_tos),
                    parsed,
                    session.ssl is not None,
                )
            )
        return "250 Message accepted for delivery"

    def by_message_id(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.messages:
            counts[r.message["Message-ID"]] = counts.get(r.message["Message-ID"], 0) + 1
        return counts


class LocalSmtp(Controller):  # type: ignore[misc]
    """An aiosmtpd server on 127.0.0.1; the first start picks a free port, restarts keep it."""

    def __init__(self, handler: Inbox, **kwargs: Any) -> None:
        super().__init__(handler, hostname="127.0.0.1", port=0, ready_timeout=5.0, **kwargs)
        self.inbox = handler

    def start(self) -> None:
        if self.loop.is_closed():  # stop() closes the loop: a restart needs a new one
            self.loop = asyncio.new_event_loop()
        super().start()

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()

    @property
    def running(self) -> bool:
        return self._thread is not None


@pytest.fixture
def smtp() -> Iterator[LocalSmtp]:
    server = LocalSmtp(Inbox())
    server.start()
    yield server
    if server.running:
        server.stop()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cert, key)."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def server_tls(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_files)
    return context


def client_tls(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(tls_files[0]))


def mail(**kwargs: Any) -> Notification:
    values: dict[str, Any] = {
        "channel": "email",
        "to": "张三 <zhang.san@example.cn>",
        "body": BODY,
        "subject": SUBJECT,
        "ticket_number": "CMP-20260105-0001",
        "idempotency_key": "outbox:17",
    }
    values.update(kwargs)
    return Notification(**values)


def notifier(server: LocalSmtp, **kwargs: Any) -> SmtpNotifier:
    kwargs.setdefault("clock", FixedClock())
    kwargs.setdefault("timeout", 5.0)
    return SmtpNotifier("127.0.0.1", server.port, "客服中心 <service@tickets.example.cn>", **kwargs)


# --- e-mail ------------------------------------------------------------------------------


def test_mail_arrives_in_utf8_with_ticket_header_date_and_attachment(smtp: LocalSmtp) -> None:
    sender = notifier(smtp, reply_to="reply@tickets.example.cn")
    note = mail(attachments=(("工单 CMP-0001.pdf", PDF, "application/pdf"),))

    assert sender.ticketflow_notify(note) is True

    [got] = smtp.inbox.messages
    assert got.mail_from == "service@tickets.example.cn"
    assert got.rcpt_tos == ["zhang.san@example.cn"]
    assert not got.tls  # STARTTLS off: plain SMTP all along
    m = got.message
    assert m["Subject"] == SUBJECT
    assert m["From"].addresses[0].display_name == "客服中心"
    assert m["To"].addresses[0].display_name == "张三"
    assert m["Reply-To"] == "reply@tickets.example.cn"
    assert m["Date"].datetime == datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
    assert m["X-Ticketflow-Ticket"] == "CMP-20260105-0001"
    assert m["Auto-Submitted"] == "auto-generated"
    assert m["Message-ID"] == message_id("outbox:17", "tickets.example.cn")
    body = m.get_body(("plain",))
    assert body is not None
    assert body.get_content_charset() == "utf-8"
    assert body.get_content() == BODY + "\n"
    [attachment] = m.iter_attachments()
    assert attachment.get_filename() == "工单 CMP-0001.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == PDF


def test_message_id_is_the_same_for_a_retried_delivery(smtp: LocalSmtp) -> None:
    sender = notifier(smtp)
    sender.ticketflow_notify(mail(idempotency_key="outbox:17"))
    sender.ticketflow_notify(mail(idempotency_key="outbox:17"))
    sender.ticketflow_notify(mail(idempotency_key="outbox:18"))

    ids = [r.message["Message-ID"] for r in smtp.inbox.messages]
    assert ids[0] == ids[1] != ids[2]
    assert ids[0].startswith("<tf.") and ids[0].endswith("@tickets.example.cn>")
    # The id depends on the key and the sender's domain only, not on the process.
    assert message_id("outbox:17", "x.cn") == message_id("outbox:17", "x.cn")


def test_without_a_key_every_mail_gets_a_fresh_message_id(smtp: LocalSmtp) -> None:
    sender = notifier(smtp)
    sender.ticketflow_notify(mail(idempotency_key=""))
    sender.ticketflow_notify(mail(idempotency_key=""))
    first, second = (r.message["Message-ID"] for r in smtp.inbox.messages)
    assert first != second


def test_defaults_subject_and_several_recipients(smtp: LocalSmtp) -> None:
    notifier(smtp).ticketflow_notify(
        mail(to="a@example.cn, 李四 <li.si@example.cn>", subject=None, ticket_number="T-9")
    )
    [got] = smtp.inbox.messages
    assert got.rcpt_tos == ["a@example.cn", "li.si@example.cn"]
    assert got.message["Subject"] == "工单 T-9"


def test_other_channels_are_left_to_other_plugins(smtp: LocalSmtp) -> None:
    assert notifier(smtp).ticketflow_notify(mail(channel="sms", to="13800138000")) is None
    assert notifier(smtp, channels=("email", "fax")).ticketflow_notify(mail(channel="fax")) is True
    assert len(smtp.inbox.messages) == 1


def test_server_down_raises_instead_of_returning_false(smtp: LocalSmtp) -> None:
    sender = notifier(smtp)
    smtp.stop()
    with pytest.raises(ConnectionRefusedError):
        sender.ticketflow_notify(mail())


def test_server_that_never_answers_times_out() -> None:
    with socket.socket() as listener:  # accepts TCP connections but never greets
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        sender = SmtpNotifier("127.0.0.1", port, "s@example.cn", timeout=0.3)
        with pytest.raises(smtplib.SMTPServerDisconnected, match="timed out"):
            sender.ticketflow_notify(mail())


def test_starttls_asked_of_a_server_without_it_fails(smtp: LocalSmtp) -> None:
    with pytest.raises(smtplib.SMTPNotSupportedError):
        notifier(smtp, starttls=True).ticketflow_notify(mail())
    assert smtp.inbox.messages == []


def test_refused_recipients_and_refused_data_raise(smtp: LocalSmtp) -> None:
    smtp.inbox.refuse = {"gone@example.cn"}
    sender = notifier(smtp)
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        sender.ticketflow_notify(mail(to="gone@example.cn"))
    # One of two refused: the other got it, the outbox will retry (same Message-ID).
    with pytest.raises(smtplib.SMTPRecipientsRefused) as error:
        sender.ticketflow_notify(mail(to="ok@example.cn, gone@example.cn"))
    assert list(error.value.recipients) == ["gone@example.cn"]
    assert [r.rcpt_tos for r in smtp.inbox.messages] == [["ok@example.cn"]]

    smtp.inbox.reject_data = True
    with pytest.raises(smtplib.SMTPDataError):
        sender.ticketflow_notify(mail(to="ok@example.cn"))


@pytest.mark.parametrize("to", ["", "13800138000", "someone", "a@@b.cn", "ok@x.cn, nobody"])
def test_unusable_address_raises_before_connecting(to: str) -> None:
    sender = SmtpNotifier("127.0.0.1", 9, "s@example.cn")  # nothing listens on port 9
    with pytest.raises(EmailAddressError):
        sender.ticketflow_notify(mail(to=to))


def test_header_injection_through_the_subject_is_refused() -> None:
    sender = SmtpNotifier("127.0.0.1", 9, "s@example.cn")
    with pytest.raises(ValueError, match="linefeed"):
        sender.build(mail(subject="hello\r\nBcc: victim@example.cn"))


def test_login_with_username_and_password() -> None:
    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"svc", b"p@ss:w")
        return AuthResult(success=ok, handled=False)  # the server answers 535 on failure

    server = LocalSmtp(Inbox(), authenticator=authenticate, auth_require_tls=False)
    server.start()
    try:
        url = f"smtp://svc:p%40ss%3Aw@127.0.0.1:{server.port}?sender=s@example.cn&timeout=5"
        assert SmtpNotifier.from_url(url).ticketflow_notify(mail()) is True
        wrong = f"smtp://svc:nope@127.0.0.1:{server.port}?sender=s@example.cn&timeout=5"
        with pytest.raises(smtplib.SMTPAuthenticationError):
            SmtpNotifier.from_url(wrong).ticketflow_notify(mail())
        assert len(server.inbox.messages) == 1
    finally:
        server.stop()


def test_starttls_upgrades_the_connection(tls_files: tuple[Path, Path]) -> None:
    server = LocalSmtp(Inbox(), tls_context=server_tls(tls_files), require_starttls=True)
    server.start()
    try:
        with pytest.raises(smtplib.SMTPException):  # the server insists on STARTTLS
            notifier(server).ticketflow_notify(mail())
        sender = notifier(server, starttls=True, ssl_context=client_tls(tls_files))
        assert sender.ticketflow_notify(mail()) is True
        [got] = server.inbox.messages
        assert got.tls
        assert got.message["Subject"] == SUBJECT
        # An untrusted certificate is a failure, not a silent downgrade.
        with pytest.raises(ssl.SSLCertVerificationError):
            notifier(server, starttls=True).ticketflow_notify(mail())
    finally:
        server.stop()


def test_implicit_tls(tls_files: tuple[Path, Path]) -> None:
    server = LocalSmtp(Inbox(), ssl_context=server_tls(tls_files))
    server.start()
    try:
        sender = SmtpNotifier.from_url(
            f"smtps://127.0.0.1:{server.port}?sender=s@example.cn",
            ssl_context=client_tls(tls_files),
        )
        assert sender.ticketflow_notify(mail()) is True
        assert server.inbox.messages[0].message["Subject"] == SUBJECT
    finally:
        server.stop()


def test_from_url() -> None:
    n = SmtpNotifier.from_url(
        "smtp://user%40corp:s%3Acret@mail.example.cn:587?starttls=1&sender=%E5%AE%A2%E6%9C%8D%20%3Cs%40example.cn%3E"
        "&reply_to=r@example.cn&timeout=3.5&channels=email,fax"
    )
    assert (n.host, n.port, n.starttls, n.ssl) == ("mail.example.cn", 587, True, False)
    assert (n.username, n.password) == ("user@corp", "s:cret")
    assert (n.sender, n.reply_to, n.timeout) == ("客服 <s@example.cn>", "r@example.cn", 3.5)
    assert n.channels == ("email", "fax")
    assert "s:cret" not in repr(n)

    plain = SmtpNotifier.from_url("smtp://localhost")
    assert (plain.port, plain.starttls, plain.username, plain.sender) == (
        25, False, None, "ticketflow@localhost"
    )  # fmt: skip
    assert SmtpNotifier.from_url("smtps://mail.example.cn").port == 465

    for bad in (
        "http://mail.example.cn",
        "smtp://",
        "smtp://h?starttls=maybe",
        "smtp://h?tls=1",
        "smtps://h?starttls=1",
        "smtp://:pw@h",
        "smtp://h?sender=nobody",
        "smtp://h?sender=a@",
    ):
        with pytest.raises(ValueError):
            SmtpNotifier.from_url(bad)


# --- SMS -----------------------------------------------------------------------------------


class RecordingGateway:
    def __init__(self, fail: Exception | None = None) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self.fail = fail

    def send(self, to: str, text: str, key: str) -> None:
        if self.fail:
            raise self.fail
        self.sent.append((to, text, key))


def text(body: str, to: str = "13800138000", key: str = "outbox:5") -> Notification:
    return Notification("sms", to, body, ticket_number="T-1", idempotency_key=key)


@pytest.mark.parametrize(
    ("number", "e164"),
    [
        ("13800138000", "+8613800138000"),
        ("+8619912345678", "+8619912345678"),
        ("+86 139-1234-5678", "+8613912345678"),
        ("  15000000000 ", "+8615000000000"),
        ("+85291234567", "+85291234567"),
        ("+14155550123", "+14155550123"),
        ("+447911123456", "+447911123456"),
    ],
)
def test_valid_numbers_are_normalised_to_e164(number: str, e164: str) -> None:
    assert normalize_number(number) == e164


@pytest.mark.parametrize(
    "number",
    [
        "",
        "12800138000",  # no mainland mobile prefix 12
        "1380013800",  # 10 digits
        "138001380001",  # 12 digits
        "8613800138000",  # country code without +
        "+8601012345678",  # +86 landline: no SMS
        "+861012345678",
        "010-12345678",
        "+0123456789",
        "+1234567890123456",  # 16 digits: longer than E.164 allows
        "+12345",
        "zhang@example.cn",
        "１３８００１３８０００",  # full-width digits
    ],
)
def test_bad_numbers_raise_a_clear_error(number: str) -> None:
    gateway = RecordingGateway()
    with pytest.raises(InvalidPhoneNumberError, match="is not a mobile number"):
        SmsNotifier(gateway).ticketflow_notify(text("您好", to=number))
    assert gateway.sent == []


def test_short_text_goes_out_once_with_the_key() -> None:
    gateway = RecordingGateway()
    assert SmsNotifier(gateway).ticketflow_notify(text("您的工单已受理。")) is True
    assert gateway.sent == [("+8613800138000", "您的工单已受理。", "outbox:5")]


def test_other_channels_and_empty_texts() -> None:
    gateway = RecordingGateway()
    assert SmsNotifier(gateway).ticketflow_notify(mail()) is None
    with pytest.raises(SmsError, match="empty SMS"):
        SmsNotifier(gateway).ticketflow_notify(text("  \n"))
    assert gateway.sent == []


def test_long_text_is_split_into_numbered_parts_with_their_own_keys() -> None:
    body = (
        "尊敬的客户，"
        + "您反映的话费多扣问题已核实，多扣的三十元将于三个工作日内退还至您的账户。" * 4
    )
    gateway = RecordingGateway()
    SmsNotifier(gateway, max_length=70).ticketflow_notify(text(body))

    parts = [t for _, t, _ in gateway.sent]
    assert len(parts) == 3
    assert all(len(p) <= 70 for p in parts)
    assert [p[:5] for p in parts] == ["(1/3)", "(2/3)", "(3/3)"]
    assert "".join(p[5:] for p in parts) == body
    assert [k for _, _, k in gateway.sent] == ["outbox:5#1", "outbox:5#2", "outbox:5#3"]
    assert parts[0].endswith("，") or parts[0].endswith("。")  # cut at punctuation


def test_split_prefers_spaces_and_never_exceeds_the_limit() -> None:
    body = " ".join(f"word{i}" for i in range(60))
    parts = split_text(body, 40, 20)
    assert all(len(p) <= 40 for p in parts)
    assert " ".join(p.split(")", 1)[1] for p in parts) == body
    assert len(split_text("x" * 200, 40, 20)) == 6  # no break anywhere: hard cuts
    assert split_text("短信", 70, 1) == ["短信"]


def test_too_long_texts_are_rejected() -> None:
    gateway = RecordingGateway()
    with pytest.raises(SmsTooLongError, match="does not fit in 2 part"):
        SmsNotifier(gateway, max_length=70, max_parts=2).ticketflow_notify(text("字" * 200))
    with pytest.raises(SmsTooLongError):  # max_parts=1: reject, never split
        SmsNotifier(gateway, max_parts=1).ticketflow_notify(text("字" * 71))
    assert gateway.sent == []


def test_gateway_failure_propagates() -> None:
    notifier = SmsNotifier(RecordingGateway(fail=ConnectionError("gateway down")))
    with pytest.raises(ConnectionError):
        notifier.ticketflow_notify(text("您好"))


def test_logging_gateway_logs_and_keeps_the_last_messages(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gateway = LoggingSmsGateway(keep=2)
    caplog.set_level(logging.INFO, logger="ticketflow.sms")
    for i in range(3):
        gateway.send("+8613800138000", f"消息 {i}", f"k{i}")
    assert gateway.messages == [
        SentSms("+8613800138000", "消息 1", "k1"),
        SentSms("+8613800138000", "消息 2", "k2"),
    ]
    assert [r.name for r in caplog.records] == ["ticketflow.sms"] * 3
    assert "消息 2" in caplog.records[-1].getMessage()
    gateway.clear()
    assert gateway.messages == []


def test_the_module_is_the_default_plugin_and_a_host_gateway_comes_first(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pm = pluggy.PluginManager("ticketflow")
    pm.add_hookspecs(hookspecs)
    pm.register(sms, name="ticketflow.sms")
    caplog.set_level(logging.INFO, logger="ticketflow.sms")
    sms.default_gateway.clear()

    assert pm.hook.ticketflow_notify(message=text("默认网关", key="k-default")) is True
    assert sms.default_gateway.messages == [SentSms("+8613800138000", "默认网关", "k-default")]
    assert "默认网关" in caplog.text
    assert pm.hook.ticketflow_notify(message=mail()) is None  # no e-mail plugin here

    host = RecordingGateway()
    pm.register(SmsNotifier(host))
    pm.hook.ticketflow_notify(message=text("主机网关"))
    assert host.sent == [("+8613800138000", "主机网关", "outbox:5")]
    assert len(sms.default_gateway.messages) == 1
    sms.default_gateway.clear()


# --- end to end: Engine -> outbox -> SmtpNotifier -> SMTP server ------------------------


class MailHandlers:
    """A host plugin: every new task is mailed to its candidate groups' mailbox."""

    def __init__(self) -> None:
        self.queued: list[tuple[str, int]] = []

    @hookimpl
    def ticketflow_task_created(self, ctx: HookContext, ticket: TicketView, task: TaskView) -> None:
        group = task.candidate_groups[0] if task.candidate_groups else "unassigned"
        ctx.notify(
            "email",
            f"{group}@tickets.example.cn",
            f"工单 {ticket.number} 有新任务「{task.name}」，请及时处理。",
            subject=f"新任务：{task.name}",
            recipient_role="handler",
            key=f"task-created-{task.id}",
        )
        self.queued.append((ticket.number, task.id))


def test_engine_mails_each_notification_exactly_once_across_an_smtp_outage(
    smtp: LocalSmtp, make_engine: Callable[..., Engine], clock: FixedClock
) -> None:
    handlers = MailHandlers()
    mailer = SmtpNotifier("127.0.0.1", smtp.port, "service@tickets.example.cn", clock=clock)
    engine = make_engine(plugins=[mailer, handlers])
    engine.deploy(PROCESSES)

    ticket = to_handling(engine, open_complaint(engine))
    assert len(handlers.queued) >= 4  # front desk, record, classify, dispatch, handle...
    assert smtp.inbox.messages == []  # nothing leaves before delivery
    report = engine.deliver_outbox()
    assert (report.delivered, report.retried, report.dead) == (len(handlers.queued), 0, 0)
    assert len(smtp.inbox.messages) == len(handlers.queued)
    assert set(smtp.inbox.by_message_id().values()) == {1}
    handle = smtp.inbox.messages[-1].message
    assert handle["X-Ticketflow-Ticket"] == ticket.number
    assert handle["To"] == "dept_billing@tickets.example.cn"
    assert handle["Subject"].startswith("新任务：")
    body = handle.get_body(("plain",))
    assert body is not None and f"工单 {ticket.number} 有新任务" in body.get_content()
    assert engine.deliver_outbox().attempted == 0  # delivered once, never again

    # The SMTP server goes down: the new mails fail and wait for their backoff.
    smtp.stop()
    before = len(handlers.queued)
    resolve_and_reply(engine, ticket)
    pending = len(handlers.queued) - before
    assert pending >= 1  # reply, callback
    report = engine.deliver_outbox()
    assert (report.delivered, report.retried) == (0, pending)
    failed = engine.outbox_messages(state="pending")
    assert len(failed) == pending
    assert all(m.attempts == 1 and "ConnectionRefusedError" in (m.last_error or "") for m in failed)

    smtp.start()
    assert engine.deliver_outbox().attempted == 0  # backoff not over yet
    clock.advance(seconds=31)
    report = engine.deliver_outbox()
    assert (report.delivered, report.retried, report.dead) == (pending, 0, 0)
    assert engine.deliver_outbox().attempted == 0

    counts = smtp.inbox.by_message_id()
    assert len(counts) == len(handlers.queued)
    assert set(counts.values()) == {1}
    assert engine.outbox_messages(state="pending") == []
    assert engine.incidents() == []


class TextCustomer:
    """A host plugin: an opened ticket is confirmed to the customer by SMS."""

    def __init__(self, number: str) -> None:
        self.number = number

    @hookimpl
    def ticketflow_ticket_opened(self, ctx: HookContext, ticket: TicketView) -> None:
        ctx.notify("sms", self.number, f"您的工单 {ticket.number} 已受理。", key="opened")


def test_engine_sends_sms_and_a_bad_number_becomes_a_dead_letter(
    make_engine: Callable[..., Engine], clock: FixedClock
) -> None:
    gateway = RecordingGateway()
    engine = make_engine(
        plugins=[SmsNotifier(gateway), TextCustomer("138 0013 8000")], outbox_max_attempts=3
    )
    engine.deploy(PROCESSES)
    good = open_complaint(engine)
    assert engine.deliver_outbox().delivered == 1
    [(to, body, key)] = gateway.sent
    assert (to, body) == ("+8613800138000", f"您的工单 {good.number} 已受理。")
    assert good.number in key and key.endswith("opened")

    bad_engine = make_engine(
        plugins=[SmsNotifier(gateway), TextCustomer("010-12345678")], outbox_max_attempts=3
    )
    bad = open_complaint(bad_engine)
    # A bad number is a permanent error: no retries, straight to the dead letters.
    assert bad_engine.deliver_outbox().dead == 1
    [incident] = bad_engine.incidents()
    assert incident.ticket_number == bad.number
    assert "InvalidPhoneNumberError" in incident.message
    assert "is not a mobile number" in incident.message
    assert len(gateway.sent) == 1


def test_sms_module_is_registered_by_default() -> None:
    pm = make_plugin_manager(entry_points=False)
    assert pm.get_plugin("ticketflow.sms") is sms
    sms.default_gateway.clear()
    note = text("默认短信", key="k")
    assert pm.hook.ticketflow_notify(message=note) is True
    assert sms.default_gateway.messages == [SentSms("+8613800138000", "默认短信", "k")]
    sms.default_gateway.clear()
