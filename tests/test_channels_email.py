"""E-mail offline handling: a task mailed through a real local SMTP server, answered by a
realistic reply (GBK, HTML alternative, quoted original, signature, attachment), ingested."""

from __future__ import annotations

import asyncio
import imaplib
import mailbox
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from email import policy
from email.header import Header
from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.parser import BytesParser
from email.utils import formataddr, make_msgid
from pathlib import Path
from typing import Any, cast

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select, update
from sqlalchemy.orm import Session as DbSession

from ticketflow import Engine, FixedClock, TicketView, User
from ticketflow.channels import (
    Handler,
    ImapError,
    ImapSource,
    MaildirSource,
    OfflineMail,
    ReplyTokenSmtpNotifier,
    StaticDirectory,
    attachment_content,
    attachments,
    inbound_mail,
    ingest_message,
    load_directory,
    mail_task,
    notes,
    poll,
)
from ticketflow.channels.errors import (
    ChannelNotConfiguredError,
    MailFormatError,
    UnknownSenderError,
)
from ticketflow.channels.mail_parse import html_to_text, parse_mail, reply_text
from ticketflow.channels.tokens import ReplyTokens, find_tokens
from ticketflow.errors import InvalidDataError, TaskStateError
from ticketflow.store.channel_models import ReplyTokenRow

from .conftest import PROCESSES, Staff

SECRET = "s3cret-for-tests-only-0123456789"
ZHAO = User.of("zhao.lei", groups=["dept_billing"])
ZHAO_MAIL = "zhao.lei@branch.example.cn"
PDF = b"%PDF-1.4\n\x00\xff binary refund receipt \x80"


# --- a real SMTP server on 127.0.0.1 ---------------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        parsed = BytesParser(policy=policy.default).parsebytes(envelope.content)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            self.messages.append(parsed)
        return "250 Message accepted for delivery"

    def take(self) -> list[EmailMessage]:
        with self._lock:
            taken, self.messages = self.messages, []
        return taken


class LocalSmtp(Controller):
    """An aiosmtpd server on a free port of 127.0.0.1."""

    def __init__(self, handler: Inbox) -> None:
        super().__init__(handler, hostname="127.0.0.1", port=0, ready_timeout=5.0)
        self.inbox = handler

    def _trigger_server(self) -> None:
        server = cast(asyncio.Server, self.server)
        self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


@pytest.fixture
def smtp() -> Iterator[LocalSmtp]:
    server = LocalSmtp(Inbox())
    server.start()
    yield server
    server.stop()
    asyncio.set_event_loop(None)


def directory() -> StaticDirectory:
    return StaticDirectory(
        [
            Handler(ZHAO, ZHAO_MAIL),
            Handler(Staff.network, "sun.li@branch.example.cn"),
            Handler(Staff.back_office, "wang.wei@example.cn", offline=False),
        ]
    )


@pytest.fixture
def offline(make_engine: Callable[..., Engine], smtp: LocalSmtp, clock: FixedClock) -> Engine:
    notifier = ReplyTokenSmtpNotifier(
        "127.0.0.1",
        smtp.port,
        "客服中心 <service@tickets.example.cn>",
        reply_to="tasks@tickets.example.cn",
        timeout=5.0,
        clock=clock,
    )
    engine = make_engine(plugins=[OfflineMail(directory(), SECRET), notifier])
    engine.deploy(PROCESSES)
    return engine


def dispatched(engine: Engine, handler: str = "zhao.lei") -> TicketView:
    """A complaint dispatched to the billing department with ``handler`` as its handler."""
    ticket = engine.open_ticket(
        "complaint", customer="C-10086", channel="hotline", data={"summary": "话费多扣"}
    )
    ticket = engine.complete(ticket.task("front_desk").id, Staff.agent, {"resolved": False})
    ticket = engine.complete(
        ticket.task("record").id,
        Staff.agent,
        {"description": "话费多扣 50 元", "urgency": "normal"},
    )
    ticket = engine.complete(
        ticket.task("classify").id,
        Staff.back_office,
        {"category_l1": "计费", "category_l2": "话费", "category_l3": "多扣"},
    )
    return engine.complete(
        ticket.task("dispatch").id,
        Staff.back_office,
        {"department": "dept_billing", "handler": handler},
    )


def task_mail(engine: Engine, smtp: LocalSmtp) -> EmailMessage:
    report = engine.deliver_outbox()
    assert report.dead == 0
    [mail] = smtp.inbox.take()
    return mail


def reply(
    original: EmailMessage,
    text: str,
    *,
    sender: str = ZHAO_MAIL,
    charset: str = "gbk",
    attachment: tuple[str, bytes] | None = None,
    outlook: bool = False,
    to: str | None = None,
) -> bytes:
    """A reply as Foxmail/Outlook would send it: multipart/mixed of multipart/alternative
    (text in ``charset`` + HTML) and an attachment, with the original quoted."""
    body = original.get_body(("plain",))
    assert body is not None
    original_text = body.get_content()
    if outlook:
        quoted = (
            f"\n\n-----原始邮件-----\n发件人: {original['From']}\n"
            f"发送时间: 2026年1月5日 9:00\n收件人: {original['To']}\n"
            f"主题: {original['Subject']}\n\n{original_text}"
        )
    else:
        quoted = "\n\n在 2026年1月5日 09:00，客服中心 <service@tickets.example.cn> 写道：\n" + (
            "\n".join(f"> {line}" for line in original_text.split("\n"))
        )
    plain = text + "\n\n-- \n赵磊 | 计费部 Billing\n电话 0531-88886666" + quoted
    html = (
        "<html><body><div>"
        + "<br>".join(text.split("\n"))
        + "</div><div>-- <br>赵磊 | 计费部</div><blockquote>"
        + "<br>".join(original_text.split("\n"))
        + "</blockquote></body></html>"
    )
    alternative = MIMEMultipart("alternative")
    alternative.attach(MIMEText(plain, "plain", charset))
    alternative.attach(MIMEText(html, "html", charset))
    if attachment is None:
        message: MIMEMultipart = alternative
    else:
        message = MIMEMultipart("mixed")
        message.attach(alternative)
        part = MIMEApplication(attachment[1], "pdf")
        part.add_header("Content-Disposition", "attachment", filename=("gbk", "", attachment[0]))
        message.attach(part)
    message["From"] = formataddr(("赵磊", sender), charset="gbk")
    message["To"] = to or str(original["Reply-To"])
    message["Subject"] = Header(f"回复: {original['Subject']}", "gbk").encode()
    message["Message-ID"] = make_msgid(domain="branch.example.cn")
    message["In-Reply-To"] = str(original["Message-ID"])
    message["Date"] = "Mon, 05 Jan 2026 10:30:00 +0800"
    return message.as_bytes()


# --- the whole round trip --------------------------------------------------------------


def test_task_is_mailed_answered_by_reply_and_ticket_moves_on(
    offline: Engine, smtp: LocalSmtp
) -> None:
    ticket = dispatched(offline)
    handle = ticket.task("handle")
    assert handle.assignee == "zhao.lei"

    mail = task_mail(offline, smtp)
    assert mail["To"].addresses[0].addr_spec == ZHAO_MAIL
    [token] = find_tokens(str(mail["Subject"]))
    assert mail["Reply-To"] == f"tasks+{token}@tickets.example.cn"
    assert ticket.number in str(mail["Subject"])
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "outcome: \n" in text and "refund_amount: \n" in text
    assert "resolved 已解决" in text or "resolved" in text
    # Only an HMAC of the row could give the token: the database does not hold it.
    with DbSession(offline.bind) as s:
        row = s.scalars(select(ReplyTokenRow)).one()
        assert token.split("-")[1] not in repr(vars(row))
        assert row.task_id == handle.id and row.user_id == "zhao.lei"

    raw = reply(
        mail,
        "outcome: 已解决\n处理说明： 已为客户退还多扣话费\n退费金额: 50\n\n已电话告知客户，客户认可。",
        attachment=("退费凭证.pdf", PDF),
    )
    assert b'charset="gbk"' in raw and b"=?gbk?" in raw
    result = ingest_message(offline, raw)

    assert result.status == "completed", result.reason
    assert result.ticket_number == ticket.number and result.task_id == handle.id
    assert result.fields["outcome"] == "resolved"
    assert result.fields["refund_amount"] == 50.0
    assert result.fields["result"] == "已为客户退还多扣话费"
    after = offline.ticket(ticket.number)
    assert [t.element_id for t in after.open_tasks] == ["verify_refund"]
    completed = offline.task(handle.id)
    assert completed.completed_by == "zhao.lei"
    [note] = notes(offline, ticket.number)
    assert note.text == "已电话告知客户，客户认可。"
    assert note.author == "zhao.lei" and note.source == "email"
    [stored] = attachments(offline, ticket.number)
    assert stored.filename == "退费凭证.pdf" and stored.content_type == "application/pdf"
    assert attachment_content(offline, stored.id)[1] == PDF

    # The handler is told it worked.
    offline.deliver_outbox()
    [confirmation] = smtp.inbox.take()
    assert confirmation["To"].addresses[0].addr_spec == ZHAO_MAIL
    confirmation_text = confirmation.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "verify_refund" in confirmation_text

    # The same message again changes nothing and answers nobody.
    again = ingest_message(offline, raw)
    assert again.duplicate and again.status == "completed"
    assert offline.deliver_outbox().attempted == 0


def test_a_second_reply_with_a_used_token_is_refused(offline: Engine, smtp: LocalSmtp) -> None:
    ticket = dispatched(offline)
    mail = task_mail(offline, smtp)
    assert ingest_message(offline, reply(mail, "outcome: resolved")).status == "completed"
    offline.deliver_outbox()
    smtp.inbox.take()

    late = ingest_message(offline, reply(mail, "outcome: return"))

    assert late.status == "refused"
    assert "already completed" in (late.reason or "")
    assert (offline.task(ticket.task("handle").id).form_data or {})["outcome"] == "resolved"
    offline.deliver_outbox()
    [answer] = smtp.inbox.take()
    assert "already completed" in answer.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_reply_from_another_address_is_refused_and_token_not_revealed(
    offline: Engine, smtp: LocalSmtp
) -> None:
    ticket = dispatched(offline)
    mail = task_mail(offline, smtp)
    [token] = find_tokens(str(mail["Subject"]))

    forged = ingest_message(
        offline, reply(mail, "outcome: resolved", sender="sun.li@branch.example.cn")
    )
    stranger = ingest_message(
        offline, reply(mail, "outcome: resolved", sender="someone@elsewhere.example")
    )

    assert forged.status == "refused"
    assert "mailed to user 'zhao.lei'" in (forged.reason or "")
    assert stranger.status == "refused" and "belongs to no user" in (stranger.reason or "")
    assert offline.ticket(ticket.number).task("handle").state == "open"
    offline.deliver_outbox()
    answers = smtp.inbox.take()
    assert len(answers) == 2
    for answer in answers:
        assert token not in str(answer["Subject"])
        assert token not in str(answer.get("Reply-To", ""))
        assert "nothing was changed" in answer.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_expired_token_is_refused(offline: Engine, smtp: LocalSmtp, clock: FixedClock) -> None:
    ticket = dispatched(offline)
    mail = task_mail(offline, smtp)
    clock.advance(days=3, seconds=1)

    result = ingest_message(offline, reply(mail, "outcome: resolved"))

    assert result.status == "refused" and "expired" in (result.reason or "")
    assert offline.ticket(ticket.number).task("handle").state == "open"


def test_altered_token_row_no_longer_verifies(offline: Engine, smtp: LocalSmtp) -> None:
    dispatched(offline)
    mail = task_mail(offline, smtp)
    with DbSession(offline.bind) as s, s.begin():  # someone extends the expiry in the database
        s.execute(update(ReplyTokenRow).values(user_id="sun.li"))

    result = ingest_message(offline, reply(mail, "outcome: resolved"))

    assert result.status == "refused" and "not valid" in (result.reason or "")


def test_form_errors_are_answered_naming_each_field(offline: Engine, smtp: LocalSmtp) -> None:
    ticket = dispatched(offline)
    mail = task_mail(offline, smtp)

    bad = ingest_message(offline, reply(mail, "outcome: maybe\nrefund_amount: 五十\nrefnd: 3"))

    assert bad.status == "refused"
    reason = bad.reason or ""
    assert "field 'refnd': not a field of this task" in reason
    offline.deliver_outbox()
    [answer] = smtp.inbox.take()
    [token] = find_tokens(str(mail["Subject"]))
    assert token in str(answer["Subject"])  # the handler may answer the error mail itself
    assert answer["Reply-To"] == f"tasks+{token}@tickets.example.cn"

    typed = ingest_message(offline, reply(mail, "outcome: maybe\nrefund_amount: 五十"))
    assert typed.status == "refused"
    assert "field 'outcome': must be one of resolved" in (typed.reason or "")
    assert "field 'refund_amount': must be a number" in (typed.reason or "")
    assert offline.ticket(ticket.number).task("handle").state == "open"

    fixed = ingest_message(offline, reply(mail, "outcome: resolved\nrefund_amount: 0"))
    assert fixed.status == "completed"


def test_text_only_reply_is_a_note_and_keeps_the_task_open(
    offline: Engine, smtp: LocalSmtp
) -> None:
    ticket = dispatched(offline)
    mail = task_mail(offline, smtp)

    result = ingest_message(
        offline,
        reply(mail, "明天上午去营业厅核实账单。\nWill check the bill tomorrow.", outlook=True),
    )

    assert result.status == "noted"
    assert offline.ticket(ticket.number).task("handle").state == "open"
    [note] = notes(offline, ticket.number)
    assert note.text == "明天上午去营业厅核实账单。\nWill check the bill tomorrow."
    # The token still completes the task afterwards.
    done = ingest_message(offline, reply(mail, "outcome: resolved", charset="utf-8"))
    assert done.status == "completed"


def test_reply_without_token_and_automatic_mail(offline: Engine, smtp: LocalSmtp) -> None:
    message = EmailMessage()
    message["From"] = ZHAO_MAIL
    message["To"] = "tasks@tickets.example.cn"
    message["Subject"] = "关于那个工单"
    message["Message-ID"] = make_msgid()
    message.set_content("outcome: resolved")
    no_token = ingest_message(offline, message.as_bytes())
    assert no_token.status == "refused" and "no reply token" in (no_token.reason or "")

    bounce = EmailMessage()
    bounce["From"] = "MAILER-DAEMON@branch.example.cn"
    bounce["To"] = "tasks@tickets.example.cn"
    bounce["Subject"] = "Undelivered Mail Returned to Sender"
    bounce["Auto-Submitted"] = "auto-replied"
    bounce.set_content("delivery failed")
    ignored = ingest_message(offline, bounce.as_bytes())
    assert ignored.status == "ignored"
    vacation = EmailMessage()
    vacation["From"] = ZHAO_MAIL
    vacation["To"] = "tasks+tf1-aaaaaaaaaaaaaaaaaaaaaaaaaa@tickets.example.cn"
    vacation["Subject"] = "自动回复: 工单待处理"
    vacation.set_content("我正在休假，1 月 10 日返回。")
    assert ingest_message(offline, vacation.as_bytes()).status == "ignored"

    offline.deliver_outbox()
    [answer] = smtp.inbox.take()  # the bounce is not answered: no mail loop
    assert answer["To"].addresses[0].addr_spec == ZHAO_MAIL
    assert [r.status for r in inbound_mail(offline)] == ["ignored", "ignored", "refused"]


def test_mail_task_on_demand_and_refusals(offline: Engine, smtp: LocalSmtp) -> None:
    ticket = dispatched(offline, handler="")
    handle = ticket.task("handle")
    assert handle.assignee is None
    assert offline.deliver_outbox().attempted == 0  # nobody to mail yet

    with pytest.raises(TaskStateError, match="has no assignee"):
        mail_task(offline, handle.id)
    with pytest.raises(UnknownSenderError, match="'nobody' has no e-mail address"):
        mail_task(offline, handle.id, "nobody")
    assert mail_task(offline, handle.id, "zhao.lei") == ZHAO_MAIL
    mail = task_mail(offline, smtp)

    result = ingest_message(offline, reply(mail, "outcome: resolved"))
    assert result.status == "completed", result.reason
    with pytest.raises(TaskStateError, match="only an open task"):
        mail_task(offline, handle.id, "zhao.lei")


def test_maildir_poll_moves_messages(offline: Engine, smtp: LocalSmtp, tmp_path: Path) -> None:
    ticket = dispatched(offline)
    mail = task_mail(offline, smtp)
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    good = box.add(reply(mail, "outcome: resolved"))
    junk = box.add(b"\x00\x01 not a mail")

    report = poll(offline, MaildirSource(tmp_path / "Maildir"))

    assert report.count("completed") == 1
    assert list(report.quarantined) == [junk]
    assert offline.ticket(ticket.number).task("reply").state == "open"
    assert not list((tmp_path / "Maildir" / "new").iterdir())
    [kept] = list((tmp_path / "Maildir" / "cur").iterdir())
    assert kept.name == f"{good}:2,S"
    assert (tmp_path / "Maildir" / ".quarantine" / "new" / junk).read_bytes() == (
        b"\x00\x01 not a mail"
    )
    with pytest.raises(InvalidDataError, match="not a Maildir"):
        MaildirSource(tmp_path)


@pytest.fixture
def imap_port(tmp_path: Path) -> Iterator[int]:
    """A real IMAP server (pymap, in-memory) on 127.0.0.1, user ``tasks`` / ``pw``."""
    exe = shutil.which("pymap", path=str(Path(sys.executable).parent)) or shutil.which("pymap")
    if exe is None:
        pytest.skip("pymap (a Python IMAP server) is needed for the IMAP test")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    args = [exe, "--host", "127.0.0.1", "--port", str(port), "dict"]
    log = (tmp_path / "pymap.log").open("wb")
    server = subprocess.Popen(
        [*args, "--demo-user", "tasks", "--demo-password", "pw"], stdout=log, stderr=log
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("the IMAP server did not start")
        yield port
    finally:
        server.terminate()
        server.wait(10)
        log.close()


def test_imap_poll_marks_done_and_quarantines(
    offline: Engine, smtp: LocalSmtp, imap_port: int
) -> None:
    ticket = dispatched(offline)
    mail = task_mail(offline, smtp)
    client = imaplib.IMAP4("127.0.0.1", imap_port, timeout=5)
    client.login("tasks", "pw")
    client.append("INBOX", None, None, reply(mail, "outcome: resolved"))
    client.append("INBOX", None, None, b"no headers at all")

    with ImapSource("127.0.0.1", "tasks", "pw", port=imap_port, ssl=False) as source:
        report = poll(offline, source)
    with ImapSource("127.0.0.1", "tasks", "pw", port=imap_port, ssl=False) as source:
        assert poll(offline, source).results == []  # nothing left unseen

    assert report.count("completed") == 1 and len(report.quarantined) == 1
    assert offline.ticket(ticket.number).task("reply").state == "open"
    client.select("INBOX")
    typ, seen = client.uid("SEARCH", "SEEN")
    assert typ == "OK" and len(seen[0].split()) == 1
    typ, count = client.select("Quarantine")
    assert typ == "OK" and count == [b"1"]
    client.logout()
    with (
        pytest.raises(ImapError, match="LOGIN"),
        ImapSource("127.0.0.1", "tasks", "wrong", port=imap_port, ssl=False),
    ):
        pass


def test_cli_mail_poll(
    offline: Engine, smtp: LocalSmtp, tmp_path: Path, db_url: str, clock: FixedClock
) -> None:
    from typer.testing import CliRunner

    from ticketflow.cli import app

    clock.set(datetime.now(timezone.utc))  # the command runs on the real clock
    dispatched(offline)
    mail = task_mail(offline, smtp)
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    box.add(reply(mail, "outcome: resolved"))
    handlers = tmp_path / "handlers.json"
    handlers.write_text(
        '{"handlers": [{"id": "zhao.lei", "email": "zhao.lei@branch.example.cn",'
        ' "groups": ["dept_billing"]}]}',
        encoding="utf-8",
    )
    env = {"TICKETFLOW_MAIL_SECRET": SECRET}
    args = ["mail", "poll", "--maildir", str(tmp_path / "Maildir"), "--directory", str(handlers)]

    result = CliRunner().invoke(app, [*args, "--url", db_url], env=env)

    assert result.exit_code == 0, result.output
    assert "completed 1" in result.output
    missing = CliRunner().invoke(app, [*args, "--url", db_url], env={})
    assert missing.exit_code != 0 and "TICKETFLOW_MAIL_SECRET" in missing.output
    neither = CliRunner().invoke(app, ["mail", "poll", "--directory", str(handlers)], env=env)
    assert neither.exit_code != 0 and "either --maildir PATH or --imap URL" in neither.output


# --- parsing ---------------------------------------------------------------------------


def test_reply_text_cuts_quotes_separators_and_signatures() -> None:
    gmail = (
        "outcome: resolved\n\nOn Mon, Jan 5, 2026 at 9:00 AM 客服中心 <\nservice@x.cn> wrote:\n> a"
    )
    assert reply_text(gmail) == "outcome: resolved"
    outlook = "好的\n\nFrom: 客服中心 <service@x.cn>\nSent: Monday, January 5, 2026 9:00\nTo: z"
    assert reply_text(outlook) == "好的"
    qq = "收到\n------------------&nbsp;原始邮件&nbsp;------------------".replace("&nbsp;", " ")
    assert reply_text(qq) == "收到"
    iphone = "outcome: resolved\n\n发自我的iPhone\n\n> quoted"
    assert reply_text(iphone) == "outcome: resolved"
    bottom = "> quoted line\n> outcome:\n\noutcome: resolved\n-- \nsig"
    assert reply_text(bottom) == "outcome: resolved"
    html = '<div>outcome: resolved<br>ok</div><div class="gmail_quote">On x wrote:<br>old</div>'
    assert reply_text(html_to_text(html)) == "outcome: resolved\nok"


def test_parse_gb2312_headers_with_gbk_characters_and_raw_8bit() -> None:
    # "镕" is in GBK but not in GB2312: mail programs label such text gb2312 anyway.
    subject = "=?gb2312?B?" + __import__("base64").b64encode("回复: 朱镕基".encode("gbk")).decode()
    raw = (
        f"From: =?gb2312?B?1dTA2g==?= <{ZHAO_MAIL}>\r\nTo: tasks@x.cn\r\nSubject: {subject}?=\r\n"
        "Message-ID: <1@x>\r\nContent-Type: text/plain; charset=gb2312\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode("ascii") + "镕基 备注".encode("gbk")
    parsed = parse_mail(raw)
    assert parsed.subject == "回复: 朱镕基"
    assert parsed.sender == ZHAO_MAIL and parsed.sender_name == "赵磊"
    assert parsed.reply == "镕基 备注"
    eight_bit = b"From: z@x.cn\r\nSubject: " + "报修".encode("gbk") + b"\r\n\r\nbody"
    assert parse_mail(eight_bit).subject == "报修"
    with pytest.raises(MailFormatError):
        parse_mail(b"")


def test_tokens_need_the_secret_and_configuration_is_checked(offline: Engine) -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        ReplyTokens("short")
    other = ReplyTokens("another-secret-of-enough-length")
    ticket = dispatched(offline)
    with DbSession(offline.bind) as s, s.begin():
        token = ReplyTokens(SECRET).issue(
            s,
            ticket_id=ticket.id,
            ticket_number=ticket.number,
            task_id=ticket.task("handle").id,
            user_id="zhao.lei",
            address=ZHAO_MAIL,
            now=offline.clock.now(),
        )
        assert ReplyTokens(SECRET).verify(s, token, offline.clock.now()).user_id == "zhao.lei"
        rotated = ReplyTokens("a-brand-new-secret-value", old_secrets=[SECRET])
        assert rotated.verify(s, token, offline.clock.now()).task_id == ticket.task("handle").id
        with pytest.raises(Exception, match="not valid"):
            other.verify(s, token, offline.clock.now())
    bare = Engine(offline.bind.url.render_as_string(hide_password=False), clock=offline.clock)
    try:
        with pytest.raises(ChannelNotConfiguredError, match="OfflineMail"):
            ingest_message(bare, b"From: a@b.c\r\n\r\nx")
    finally:
        bare.close()


def test_directory_file_is_checked(tmp_path: Path) -> None:
    good = tmp_path / "d.json"
    good.write_text('{"handlers": [{"id": "a", "email": "A@X.cn", "groups": ["g"]}]}')
    assert load_directory(good).by_email("a <a@x.CN>") is not None
    bad = tmp_path / "bad.json"
    bad.write_text('{"handlers": [{"id": "a", "mail": "a@x.cn"}]}')
    with pytest.raises(InvalidDataError, match="unknown keys mail"):
        load_directory(bad)
    twice: list[dict[str, Any]] = [{"id": "a", "email": "a@x.cn"}, {"id": "b", "email": "a@x.cn"}]
    (tmp_path / "twice.json").write_text(__import__("json").dumps({"handlers": twice}))
    with pytest.raises(InvalidDataError, match="twice"):
        load_directory(tmp_path / "twice.json")


def test_tokens_are_bound_to_their_task(offline: Engine, smtp: LocalSmtp) -> None:
    first = dispatched(offline)
    first_mail = task_mail(offline, smtp)
    second = dispatched(offline)
    task_mail(offline, smtp)

    result = ingest_message(offline, reply(first_mail, "outcome: resolved"))

    assert result.ticket_number == first.number
    assert offline.ticket(second.number).task("handle").state == "open"
    assert timedelta(days=3) == OfflineMail(directory(), SECRET).tokens.ttl


def test_the_same_reply_ingested_twice_at_once_completes_once(
    offline: Engine, smtp: LocalSmtp
) -> None:
    ticket = dispatched(offline)
    raw = reply(task_mail(offline, smtp), "outcome: resolved")
    start = threading.Barrier(2)
    results: list[Any] = []

    def worker() -> None:
        start.wait()
        results.append(ingest_message(offline, raw))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert sorted((r.status, r.duplicate) for r in results) == [
        ("completed", False),
        ("completed", True),
    ]
    assert [t.element_id for t in offline.ticket(ticket.number).open_tasks] == ["reply"]
    assert len(inbound_mail(offline)) == 1


def test_html_only_outlook_reply_with_inline_signature_image(
    offline: Engine, smtp: LocalSmtp
) -> None:
    ticket = dispatched(offline)
    mail = task_mail(offline, smtp)
    [token] = find_tokens(str(mail["Subject"]))
    html = (
        "<html><head><style>p {margin:0}</style></head><body>"
        "<p>outcome: 已解决</p><p>refund_amount: 1,200</p><p>现场核实完毕。</p>"
        '<p><img src="cid:logo"> 赵磊</p>'
        '<div id="divRplyFwdMsg"><hr><b>From:</b> 客服中心<br><b>Sent:</b> 2026-01-05<br>'
        "outcome: return</div></body></html>"
    )
    message = EmailMessage()
    message["From"] = f"Zhao Lei <{ZHAO_MAIL.upper()}>"
    message["To"] = f"tasks+{token.upper()}@tickets.example.cn"  # a relay folded the case
    message["Subject"] = "RE: 工单"
    message["Message-ID"] = make_msgid()
    message.set_content(html, subtype="html", charset="gb18030")
    message.add_related(b"\x89PNG logo", maintype="image", subtype="png", cid="<logo>")

    result = ingest_message(offline, message.as_bytes())

    assert result.status == "completed", result.reason
    assert result.fields["outcome"] == "resolved" and result.fields["refund_amount"] == 1200.0
    assert [n.text for n in notes(offline, ticket.number)] == ["现场核实完毕。\n赵磊"]
    assert attachments(offline, ticket.number) == []  # the signature's logo is no attachment


def test_attachments_over_the_limits_are_left_out_and_named(
    make_engine: Callable[..., Engine], smtp: LocalSmtp, clock: FixedClock
) -> None:
    notifier = ReplyTokenSmtpNotifier(
        "127.0.0.1", smtp.port, "service@tickets.example.cn", reply_to="t@x.cn", clock=clock
    )
    config = OfflineMail(directory(), SECRET, max_attachment_bytes=len(PDF) - 1)
    engine = make_engine(plugins=[config, notifier])
    engine.deploy(PROCESSES)
    ticket = dispatched(engine)
    mail = task_mail(engine, smtp)

    result = ingest_message(engine, reply(mail, "请看附件", attachment=("账单.pdf", PDF)))

    assert result.status == "noted"
    limit = len(PDF) - 1
    assert (
        result.reason == f"attachments left out: 账单.pdf ({len(PDF)} bytes; the limit is {limit})"
    )
    assert attachments(engine, ticket.number) == []
    engine.deliver_outbox()
    [answer] = smtp.inbox.take()
    assert "账单.pdf" in answer.get_body(("plain",)).get_content()  # type: ignore[union-attr]
