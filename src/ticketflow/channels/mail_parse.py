"""Reading an e-mail reply: headers, the text the handler wrote, and its attachments.

Parsed with the standard library (``email``, ``policy.default``). Chinese mail comes in
every encoding: GB2312 and GBK are decoded as GB18030 (their superset, so a GBK character
in a "GB2312" message still reads), and raw 8-bit header bytes are tried as UTF-8, then
GB18030. The reply is the text above the quoted original: lines quoted with ``>``, the
"On ... wrote:" / "在 ... 写道：" attribution, the Outlook "-----Original Message-----" /
"-----原始邮件-----" separator or ``From:/Sent:`` header block, and the signature (after a
``-- `` line, or "Sent from my iPhone" / "发自我的iPhone"...) are left out.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.header import decode_header
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser

from ticketflow.channels.errors import MailFormatError

GB_CHARSETS = {"gb2312", "gbk", "x-gbk", "cp936", "gb_2312-80", "euc-cn", "x-euc-cn", "hz-gb-2312"}

_GB_WORD = re.compile(r"=\?(?:gb2312|gbk|x-gbk|cp936|gb18030)\?", re.IGNORECASE)
_AUTO_SUBJECT = re.compile(
    r"^(?:自动回复|自动答复|auto(?:matic)?[ -]?(?:reply|response)|out of (?:the )?office)",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(
    r"^(?:-{2,}\s*(?:original message|原始邮件|原邮件|forwarded message|转发邮件)\s*-{2,}"
    r"|-{5,}\s*(?:original|原始邮件)\s*-{5,}"
    r"|_{10,})$",
    re.IGNORECASE,
)
_ATTRIBUTION = re.compile(
    r"^(?:on\b.{0,200}\bwrote:|在.{0,200}写道[:：]|.{0,200}于.{0,80}写道[:：])$", re.IGNORECASE
)
_HEADER_FROM = re.compile(r"^\*?(?:from|发件人)\s*[:：]", re.IGNORECASE)
_HEADER_NEXT = re.compile(
    r"^\*?(?:sent|date|to|subject|发送时间|时间|日期|收件人|主题)\s*[:：]", re.IGNORECASE
)
_SIGNATURE = re.compile(
    r"^(?:sent from my \w+.*|sent from (?:mail|outlook) for .*|get outlook for .*"
    r"|发自我的\s*\w+.*|从我的\s*\w+\s*发送|发自(?:网易邮箱|QQ邮箱|Foxmail|腾讯企业邮).*)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Attachment:
    """A file that came with the message."""

    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class ParsedMail:
    """What ticketflow reads from one message."""

    message_key: str
    sender: str
    sender_name: str
    subject: str
    recipients: tuple[str, ...]
    auto_generated: bool
    body: str
    reply: str
    attachments: tuple[Attachment, ...]
    size: int


def parse_mail(raw: bytes, *, max_bytes: int = 25 * 1024 * 1024) -> ParsedMail:
    """Parse ``raw`` (an RFC 5322 message); :class:`MailFormatError` if it is not one."""
    if not isinstance(raw, (bytes, bytearray)):
        raise MailFormatError(f"an e-mail is bytes, got {type(raw).__name__}")
    if len(raw) > max_bytes:
        raise MailFormatError(f"the message is {len(raw)} bytes; the limit is {max_bytes}")
    msg = message_from_bytes(bytes(raw), policy=policy.default)
    if not isinstance(msg, EmailMessage) or not msg.keys():
        raise MailFormatError("the data is not an e-mail message (no headers)")
    message_id = header(msg, "Message-ID").strip()
    key = message_id or f"sha256:{hashlib.sha256(raw).hexdigest()}"
    name, sender = parseaddr(header(msg, "From"))
    recipients = [
        a.lower()
        for _, a in getaddresses(
            [header(msg, h) for h in ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To")]
        )
        if a
    ]
    body = body_text(msg)
    return ParsedMail(
        message_key=key[:300],
        sender=sender.strip().lower(),
        sender_name=name,
        subject=header(msg, "Subject"),
        recipients=tuple(dict.fromkeys(recipients)),
        auto_generated=is_automatic(msg, sender),
        body=body,
        reply=reply_text(body),
        attachments=tuple(attachments(msg)),
        size=len(raw),
    )


def header(msg: Message, name: str) -> str:
    """A header as text ('' if absent). Encoded words in a GB charset are decoded as
    GB18030 and raw 8-bit bytes as UTF-8 or GB18030, so no character is lost."""
    raw = next((v for k, v in msg.raw_items() if k.lower() == name.lower()), None)
    if raw is None:
        return ""
    if any("\udc80" <= c <= "\udcff" for c in raw):  # raw 8-bit bytes in the header
        text = _decode(raw.encode("utf-8", "surrogateescape"), "utf-8")
    elif _GB_WORD.search(raw):
        text = "".join(
            _decode(part, charset) if isinstance(part, bytes) else part
            for part, charset in decode_header(raw)
        )
    else:
        try:
            text = str(msg.get(name, ""))
        except (ValueError, IndexError):  # a header the parser cannot make sense of
            text = str(raw)
    return " ".join(text.split())


def is_automatic(msg: Message, sender: str) -> bool:
    """A bounce, vacation reply or other machine mail (RFC 3834): never answered."""
    auto = header(msg, "Auto-Submitted").lower()
    if auto and auto != "no":
        return True
    if header(msg, "X-Autoreply") or header(msg, "X-Autorespond"):
        return True
    if header(msg, "Precedence").lower() in ("bulk", "junk", "list", "auto_reply"):
        return True
    if _AUTO_SUBJECT.match(header(msg, "Subject")):
        return True
    local = sender.partition("@")[0].lower()
    return local in ("mailer-daemon", "postmaster") or msg.get_content_type() == "multipart/report"


def _decode(data: bytes, charset: str | None) -> str:
    name = (charset or "utf-8").lower()
    candidates = ["gb18030"] if name in GB_CHARSETS else [name, "utf-8", "gb18030"]
    for candidate in candidates:
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("utf-8", errors="replace")


def part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return _decode(payload, part.get_content_charset()).replace("\r\n", "\n")


def body_text(msg: EmailMessage) -> str:
    """The message's text: the plain part, else its HTML part as text, else ''."""
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    text = part_text(part)
    return html_to_text(text) if part.get_content_type() == "text/html" else text


def attachments(msg: EmailMessage) -> list[Attachment]:
    found = []
    for n, part in enumerate(_attachment_parts(msg), 1):
        if part.is_multipart():
            continue
        if part.get_content_type() == "message/rfc822":
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) else payload
            content = inner.as_bytes() if isinstance(inner, Message) else b""
        else:
            data = part.get_payload(decode=True)
            content = data if isinstance(data, bytes) else b""
        filename = _filename(part) or f"attachment-{n}{_extension(part.get_content_type())}"
        found.append(Attachment(filename, part.get_content_type(), content))
    return found


def _attachment_parts(msg: EmailMessage) -> list[EmailMessage]:
    parts: list[EmailMessage] = []
    if not msg.is_multipart():
        return parts
    for part in msg.iter_attachments():
        if part.get_content_type().startswith("multipart/"):
            parts.extend(_attachment_parts(part))  # e.g. multipart/related inside mixed
        elif part.get_content_disposition() == "inline" and not part.get_filename():
            continue  # an inline image of an HTML signature
        else:
            parts.append(part)
    return parts


def _filename(part: Message) -> str:
    try:
        name = part.get_filename() or ""
    except (ValueError, IndexError):
        name = ""
    if any("\udc80" <= c <= "\udcff" for c in name):
        name = _decode(name.encode("utf-8", "surrogateescape"), "utf-8")
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip().strip(".")
    name = "".join(c for c in name if c.isprintable())
    return name[:255]


def _extension(content_type: str) -> str:
    return {
        "image/jpeg": ".jpg",
        "image/png": ".png",
        "application/pdf": ".pdf",
        "message/rfc822": ".eml",
        "text/plain": ".txt",
    }.get(content_type, ".bin")


def reply_text(body: str) -> str:
    """The lines the replier wrote: no quoted original, attribution or signature."""
    lines = body.replace("\r\n", "\n").split("\n")
    kept: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        text = line.strip().replace("\u00a0", " ")
        if _SEPARATOR.match(text) or _is_header_block(lines, i):
            break  # an unquoted original follows (Outlook, Foxmail, QQ mail)
        if line.rstrip(" ") == "--" or _SIGNATURE.match(text):
            break
        if text.startswith(">") or text.startswith("＞"):
            i += 1
            continue
        joined = f"{text} {lines[i + 1].strip()}" if i + 1 < len(lines) else text
        if _ATTRIBUTION.match(text):
            i += 1
            continue
        if _ATTRIBUTION.match(joined) and not _ATTRIBUTION.match(lines[i + 1].strip()):
            i += 2  # "On Mon, 5 Jan 2026 at 09:00, 客服中心 <" / "service@x.cn> wrote:"
            continue
        kept.append(line.rstrip())
        i += 1
    return "\n".join(kept).strip()


def _is_header_block(lines: list[str], i: int) -> bool:
    """``From: ...`` followed within three lines by ``Sent:``/``发送时间:`` and the like."""
    if not _HEADER_FROM.match(lines[i].strip()):
        return False
    following = [line.strip() for line in lines[i + 1 : i + 4]]
    return any(_HEADER_NEXT.match(line) for line in following)


_BLOCKS = frozenset({"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "table", "hr", "pre"})
_SKIP = frozenset({"style", "script", "head", "title"})
_VOID = frozenset({"br", "hr", "img", "meta", "link", "input"})


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.quote = 0
        self.skip = 0
        self.stack: list[bool] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = " ".join(v or "" for k, v in attrs if k in ("class", "id")).lower()
        quoting = tag == "blockquote" or any(
            mark in values for mark in ("gmail_quote", "divrplyfwdmsg", "moz-cite-prefix")
        )
        if tag in _SKIP:
            self.skip += 1
        if tag not in _VOID:
            self.stack.append(quoting)
            self.quote += quoting
        if tag == "hr":
            self._break()
            self.out.append("__________\n")
        elif tag == "br":
            self.out.append("\n")
        elif tag in _BLOCKS:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        if tag not in _VOID and self.stack:
            self.quote -= self.stack.pop()
        if tag in _BLOCKS:
            self._break()

    def _break(self) -> None:
        """End the current line, unless it has just ended (blocks do not add blank lines)."""
        if self.out and not self.out[-1].endswith("\n"):
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.quote:
            data = "\n".join(f"> {line}" if line.strip() else line for line in data.split("\n"))
        self.out.append(data)


def html_to_text(html: str) -> str:
    """Readable text of an HTML body; quoted parts (blockquote, gmail_quote) get ``> ``."""
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    text = "".join(parser.out).replace("\u00a0", " ")
    lines = [line.strip() for line in text.split("\n")]
    # A quoted block's text nodes start after its newline: mark whole lines.
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
