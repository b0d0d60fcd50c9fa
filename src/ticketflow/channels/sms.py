"""SMS intake (短信受理): fixed-format messages open tickets, free text waits for an agent,
and replies to a callback survey (回访) record the customer's rating.

The published format is ``代码#内容`` or ``代码#区域#内容`` — ``TS#宽带三天无法上网``,
``投诉#历下区#营业厅态度差`` — where the code is a ticket type's letters or its Chinese word
(:data:`DEFAULT_KINDS`). Full-width characters (``＃``, ``ＴＳ``, ideographic spaces) are read
as their ASCII forms, spaces around the parts do not matter, and ``投诉 宽带断网`` (the word,
a space, the text) works too. A message that starts like the format but breaks it is
answered with what was wrong and the format; any other text becomes a draft for an agent
(:func:`drafts`, :func:`open_draft`, :func:`discard_draft`). A reply of ``1``..``5`` or
``满意`` / ``基本满意`` / ``不满意`` to a pending callback survey records the rating and, when
it can, completes the callback task.

Register :class:`SmsChannel` with the engine; :func:`receive_sms` is what the SMS gateway's
webhook calls. Every answer goes out through the outbox as an ``sms`` notification.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ticketflow.channels.base import find_plugin, unit
from ticketflow.channels.errors import SmsFormatError
from ticketflow.errors import (
    ConcurrencyError,
    DatabaseUnavailableError,
    FormValidationError,
    InvalidDataError,
    NotFoundError,
    PermissionDeniedError,
    TaskStateError,
    TicketflowError,
)
from ticketflow.hooks.hookspecs import hookimpl
from ticketflow.hooks.types import HookContext, Notification
from ticketflow.plugins.callbacks import customer_contact
from ticketflow.plugins.sms import InvalidPhoneNumberError, normalize_number
from ticketflow.store.channel_models import (
    ChannelNoteRow,
    SmsDraftRow,
    SmsInboundRow,
    SmsSurveyRow,
)
from ticketflow.store.models import TicketRow
from ticketflow.users import User, as_user
from ticketflow.views import TaskView, TicketView

if TYPE_CHECKING:
    from ticketflow.engine import Engine

OPENED, DRAFT, RATED, REFUSED = "opened", "draft", "rated", "refused"


@dataclass(frozen=True)
class SmsKind:
    """A ticket type customers may open by SMS: ``code`` (letters) or ``word`` (Chinese)."""

    code: str
    word: str
    process_id: str
    name: str


DEFAULT_KINDS: tuple[SmsKind, ...] = (
    SmsKind("TS", "投诉", "complaint", "投诉"),
    SmsKind("BX", "报修", "repair", "报修"),
    SmsKind("ZX", "咨询", "consultation", "咨询"),
    SmsKind("JY", "建议", "suggestion", "建议"),
)

#: Words a customer may answer a survey with, and the rating (1-5) each stands for.
RATING_WORDS: Mapping[str, int] = {
    "非常满意": 5,
    "很满意": 5,
    "满意": 4,
    "基本满意": 3,
    "一般": 3,
    "不满意": 2,
    "很不满意": 1,
    "非常不满意": 1,
}
_TRAILING = re.compile(r"[\s。.!！~～,，、]+$")


@dataclass(frozen=True)
class SmsResult:
    """What one SMS did: ``opened`` a ticket, became a ``draft``, was ``rated`` (a survey
    answer) or was ``refused`` (``reason`` says why); ``reply`` is the SMS queued back."""

    outcome: str
    sender: str
    ticket_number: str | None = None
    draft_id: int | None = None
    rating: int | None = None
    reason: str | None = None
    reply: str | None = None
    duplicate: bool = False


@dataclass(frozen=True)
class DraftView:
    """A free-text SMS waiting for an agent."""

    id: int
    sender: str
    text: str
    received_at: datetime
    state: str
    ticket_number: str | None
    handled_by: str | None
    handled_at: datetime | None
    note: str | None

    @classmethod
    def from_row(cls, r: SmsDraftRow) -> DraftView:
        return cls(
            r.id,
            r.sender,
            r.text,
            r.received_at,
            r.state,
            r.ticket_number,
            r.handled_by,
            r.handled_at,
            r.note,
        )


@dataclass(frozen=True)
class ParsedSms:
    """A fixed-format SMS read: which kind, region (optional) and the customer's text."""

    kind: SmsKind
    region: str | None
    content: str


def rating_values(task: TaskView, rating: int, satisfied: bool, text: str) -> dict[str, Any]:
    """Form values of a callback task from an SMS rating, for the fields the form has:
    ``satisfied``, ``problem`` (its opposite), ``score`` / ``satisfaction`` (rating × 20,
    0-100) and ``comment`` / ``callback_note`` (the message)."""
    known: dict[str, Any] = {
        "satisfied": satisfied,
        "problem": not satisfied,
        "score": rating * 20,
        "satisfaction": rating * 20,
        "comment": f"短信评价 SMS rating {rating}/5: {text}",
        "callback_note": f"短信评价 SMS rating {rating}/5: {text}",
    }
    return {f.id: known[f.id] for f in task.form if f.id in known}


class SmsChannel:
    """Configuration and hooks of SMS intake.

    ``kinds`` are the ticket types the format accepts; ``regions``, when given, are the
    region names the middle part may hold (others are refused with the list).
    ``customer_of`` maps a phone number (E.164) to a customer id (default: the number).
    A survey stays answerable for ``survey_ttl``; ratings from ``satisfied_from`` up
    count as satisfied; ``values_of`` builds the callback task's form values.
    ``acknowledge_drafts`` answers free text; ``signature`` starts every answer.
    """

    def __init__(
        self,
        kinds: Sequence[SmsKind] = DEFAULT_KINDS,
        *,
        regions: Sequence[str] = (),
        customer_of: Callable[[str], str] | None = None,
        survey_ttl: timedelta = timedelta(days=7),
        satisfied_from: int = 3,
        values_of: Callable[[TaskView, int, bool, str], dict[str, Any]] = rating_values,
        actor: str = "sms-survey",
        acknowledge_drafts: bool = True,
        signature: str = "【客服中心】",
    ) -> None:
        if not kinds:
            raise ValueError("SmsChannel needs at least one ticket kind")
        if not 1 <= satisfied_from <= 5:
            raise ValueError("satisfied_from must be a rating from 1 to 5")
        self.kinds = tuple(kinds)
        self._by_name: dict[str, SmsKind] = {}
        for kind in self.kinds:
            for name in (kind.code.upper(), kind.word):
                if name in self._by_name:
                    raise ValueError(f"SMS code or word {name!r} is used twice")
                self._by_name[name] = kind
        self.regions = tuple(regions)
        self.customer_of = customer_of or (lambda phone: phone)
        self.survey_ttl = survey_ttl
        self.satisfied_from = satisfied_from
        self.values_of = values_of
        self.actor = actor
        self.acknowledge_drafts = acknowledge_drafts
        self.signature = signature

    # --- the format -------------------------------------------------------------------

    def help_text(self) -> str:
        """The format as told to customers."""
        codes = " ".join(f"{k.code}{k.word}" for k in self.kinds)
        example = self.kinds[0]
        return f"请按“代码#内容”发送，如 {example.code}#宽带无法上网。代码：{codes}"

    def parse(self, text: str) -> ParsedSms | None:
        """The fixed-format reading of ``text``; None for free text; :class:`SmsFormatError`
        for text that uses the format wrongly."""
        clean = text.replace("＃", "#").replace("\u3000", " ").strip()
        if "#" in clean:
            head, _, rest = clean.partition("#")
            code = unicodedata.normalize("NFKC", head).strip()
            kind = self._by_name.get(code.upper())
            if kind is None:
                if not re.fullmatch(r"[A-Za-z]{1,4}", code):
                    return None  # "#" inside ordinary text: not an attempt at the format
                raise SmsFormatError(f"未知业务代码“{code}”")
            parts = [p.strip() for p in rest.split("#")]
            region = parts[0] if len(parts) > 1 else None
            content = "#".join(parts[1:] if len(parts) > 1 else parts).strip()
            return self._checked(kind, region, content)
        words = clean.split(None, 1)
        if len(words) == 2 and words[0] in self._by_name and not words[0].isascii():
            kind = self._by_name[words[0]]
            region, content = None, words[1].strip()
            more = content.split(None, 1)
            if self.regions and len(more) == 2 and more[0] in self.regions:
                region, content = more
            return self._checked(kind, region, content)
        return None

    def _checked(self, kind: SmsKind, region: str | None, content: str) -> ParsedSms:
        if region is not None and not region:
            raise SmsFormatError("区域为空")
        if region is not None and self.regions and region not in self.regions:
            raise SmsFormatError(f"未知区域“{region}”，可选：{'、'.join(self.regions)}")
        if len(content) < 2:
            raise SmsFormatError(f"{kind.word}内容为空")
        return ParsedSms(kind, region, content)

    def rating(self, text: str) -> int | None:
        """The 1-5 rating ``text`` gives, if it is nothing but a rating."""
        clean = _TRAILING.sub("", unicodedata.normalize("NFKC", text).strip())
        if re.fullmatch(r"[1-5]", clean):
            return int(clean)
        if clean.endswith("分") and re.fullmatch(r"[1-5]分", clean):
            return int(clean[0])
        return RATING_WORDS.get(clean)

    # --- hooks ------------------------------------------------------------------------

    @hookimpl
    def ticketflow_task_created(self, ctx: HookContext, ticket: TicketView, task: TaskView) -> None:
        """A callback task planned with an SMS survey: wait for the customer's rating."""
        plan = task.details.get("callback_plan")
        if not isinstance(plan, Mapping) or plan.get("channel") != "sms":
            return
        phone = customer_contact(ticket.data, "phone")
        if phone is None:
            return
        try:
            number = normalize_number(phone)
        except InvalidPhoneNumberError:
            return
        ctx.session.add(
            SmsSurveyRow(
                ticket_id=ticket.id,
                ticket_number=ticket.number,
                task_id=task.id,
                phone=number,
                sent_at=ctx.now,
                state="pending",
            )
        )


def receive_sms(
    engine: Engine,
    sender: str,
    text: str,
    received_at: datetime | None = None,
    *,
    gateway_id: str | None = None,
    session: Session | None = None,
) -> SmsResult:
    """Act on one SMS from ``sender`` (see the module doc) and queue the answer.

    ``gateway_id``, the gateway's id of the message, makes a resent message a no-op.
    Raises :class:`~ticketflow.plugins.sms.InvalidPhoneNumberError` for a sender that is
    no mobile number (there is nobody to answer).
    """
    config = find_plugin(engine, SmsChannel) or SmsChannel()
    phone = normalize_number(sender)
    if not isinstance(text, str):
        raise InvalidDataError(f"SMS text must be a string, got {type(text).__name__}")
    now = received_at or engine.clock.now()
    if now.tzinfo is None:
        raise InvalidDataError("received_at must be a timezone-aware datetime")
    with unit(engine, session) as s:
        if gateway_id is not None:
            earlier = s.scalars(
                select(SmsInboundRow).where(SmsInboundRow.gateway_id == gateway_id)
            ).first()
            if earlier is not None:
                return _result_of(s, earlier)
        row = SmsInboundRow(
            gateway_id=gateway_id,
            sender=phone,
            text=text[:2000],
            received_at=now,
            outcome="processing",
        )
        s.add(row)
        s.flush()
        return _handle(engine, config, s, row, phone, text.strip(), now)


def _handle(
    engine: Engine,
    config: SmsChannel,
    s: Session,
    row: SmsInboundRow,
    phone: str,
    text: str,
    now: datetime,
) -> SmsResult:
    if not text:
        return _refuse(engine, config, s, row, phone, "短信内容为空", now)
    rating = config.rating(text)
    if rating is not None:
        survey = _pending_survey(s, phone, now - config.survey_ttl)
        if survey is not None:
            return _rate(engine, config, s, row, survey, rating, text, now)
        if text.strip().isdigit() or text.strip().endswith("分"):
            reason = "没有等待您评价的工单"
            return _refuse(engine, config, s, row, phone, reason, now, with_help=False)
    try:
        parsed = config.parse(text)
    except SmsFormatError as exc:
        return _refuse(engine, config, s, row, phone, str(exc), now)
    if parsed is None:
        return _draft(engine, config, s, row, phone, text, now)
    try:
        with s.begin_nested():
            ticket = engine.open_ticket(
                parsed.kind.process_id,
                customer=config.customer_of(phone),
                channel="sms",
                data={"phone": phone, "summary": parsed.content, "sms_text": text},
                region=parsed.region,
                subject=parsed.content[:200],
                session=s,
            )
    except (ConcurrencyError, DatabaseUnavailableError):
        raise
    except TicketflowError as exc:  # e.g. a kind whose process is not deployed
        row.reason = f"could not open a {parsed.kind.process_id} ticket: {exc}"
        return _draft(engine, config, s, row, phone, text, now)
    row.outcome = OPENED
    row.ticket_number = ticket.number
    reply = (
        f"{config.signature}您的{parsed.kind.name}已受理，工单号 {ticket.number}，"
        "我们将尽快处理，请留意短信通知。"
    )
    _send(engine, s, ticket.number, phone, reply, f"sms-answer:{row.id}")
    return SmsResult(OPENED, phone, ticket.number, reply=reply)


def _refuse(
    engine: Engine,
    config: SmsChannel,
    s: Session,
    row: SmsInboundRow,
    phone: str,
    reason: str,
    now: datetime,
    *,
    with_help: bool = True,
) -> SmsResult:
    row.outcome = REFUSED
    row.reason = reason
    reply = f"{config.signature}短信未受理：{reason}。"
    if with_help:
        reply += config.help_text()
    _send(engine, s, None, phone, reply, f"sms-answer:{row.id}")
    return SmsResult(REFUSED, phone, reason=reason, reply=reply)


def _draft(
    engine: Engine,
    config: SmsChannel,
    s: Session,
    row: SmsInboundRow,
    phone: str,
    text: str,
    now: datetime,
) -> SmsResult:
    row.outcome = DRAFT
    draft = SmsDraftRow(
        inbound_id=row.id,
        sender=phone,
        text=text[:2000],
        received_at=row.received_at,
        state="open",
    )
    s.add(draft)
    s.flush()
    reply = None
    if config.acknowledge_drafts:
        reply = f"{config.signature}已收到您的短信，客服人员将尽快与您联系。"
        _send(engine, s, None, phone, reply, f"sms-answer:{row.id}")
    return SmsResult(DRAFT, phone, draft_id=draft.id, reason=row.reason, reply=reply)


def _pending_survey(s: Session, phone: str, since: datetime) -> SmsSurveyRow | None:
    return s.scalars(
        select(SmsSurveyRow)
        .where(
            SmsSurveyRow.phone == phone,
            SmsSurveyRow.state == "pending",
            SmsSurveyRow.sent_at >= since,
        )
        .order_by(SmsSurveyRow.id.desc())
        .limit(1)
        .with_for_update()
    ).first()


def _rate(
    engine: Engine,
    config: SmsChannel,
    s: Session,
    row: SmsInboundRow,
    survey: SmsSurveyRow,
    rating: int,
    text: str,
    now: datetime,
) -> SmsResult:
    satisfied = rating >= config.satisfied_from
    survey.state = "answered"
    survey.rating = rating
    survey.answered_at = now
    survey.inbound_id = row.id
    row.outcome = RATED
    row.ticket_number = survey.ticket_number
    completed = False
    task = engine.task(survey.task_id, session=s)
    values = config.values_of(task, rating, satisfied, text)
    required = {f.id for f in task.form if f.required}
    if task.state == "open" and required <= set(values):
        actor = User.of(config.actor, groups=task.candidate_groups)
        try:
            with s.begin_nested():
                engine.complete(task.id, actor, values, session=s)
            completed = True
        except (TaskStateError, PermissionDeniedError, FormValidationError) as exc:
            row.reason = f"callback task {task.id} left for an agent: {exc}"
    elif task.state != "open":
        row.reason = f"callback task {task.id} is already {task.state}; rating recorded"
    else:
        missing = ", ".join(sorted(required - set(values)))
        row.reason = f"callback task {task.id} needs {missing}; left for an agent"
    ticket = s.scalars(select(TicketRow).where(TicketRow.id == survey.ticket_id)).one()
    s.add(
        ChannelNoteRow(
            ticket_id=ticket.id,
            ticket_number=survey.ticket_number,
            task_id=task.id,
            source="sms",
            author=survey.phone,
            text=f"回访评价 rating {rating}/5 ({'满意' if satisfied else '不满意'}): {text}",
            at=now,
        )
    )
    reply = None
    if not completed or not satisfied:
        # A completed, satisfied callback is thanked by the callback planner's own hook.
        reply = f"{config.signature}感谢您对工单 {survey.ticket_number} 的评价（{rating} 分）。"
        _send(engine, s, survey.ticket_number, survey.phone, reply, f"sms-answer:{row.id}")
    return SmsResult(
        RATED, survey.phone, survey.ticket_number, rating=rating, reason=row.reason, reply=reply
    )


def _send(engine: Engine, s: Session, number: str | None, to: str, text: str, key: str) -> None:
    ticket = (
        s.scalars(select(TicketRow).where(TicketRow.number == number)).one()
        if number is not None
        else None
    )
    note = Notification("sms", to, text, None, "customer", number)
    engine.outbox.enqueue(s, ticket, "notify", note.to_payload(), key, engine.clock.now())


def _result_of(s: Session, row: SmsInboundRow) -> SmsResult:
    draft_id = s.scalars(select(SmsDraftRow.id).where(SmsDraftRow.inbound_id == row.id)).first()
    rating = s.scalars(select(SmsSurveyRow.rating).where(SmsSurveyRow.inbound_id == row.id)).first()
    return SmsResult(
        row.outcome,
        row.sender,
        row.ticket_number,
        draft_id,
        rating,
        row.reason,
        duplicate=True,
    )


# --- drafts ------------------------------------------------------------------------------


def drafts(
    engine: Engine,
    *,
    state: str | None = "open",
    limit: int = 100,
    session: Session | None = None,
) -> list[DraftView]:
    """Free-text SMS drafts, oldest first (``state``: open, converted, discarded, None)."""
    with unit(engine, session, read_only=True) as s:
        q = select(SmsDraftRow).order_by(SmsDraftRow.id).limit(limit)
        if state is not None:
            q = q.where(SmsDraftRow.state == state)
        return [DraftView.from_row(r) for r in s.scalars(q)]


def _open_draft_row(s: Session, draft_id: int, action: str) -> SmsDraftRow:
    row = s.get(SmsDraftRow, draft_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise NotFoundError(f"SMS draft {draft_id} does not exist")
    if row.state != "open":
        raise TaskStateError(
            f"cannot {action} SMS draft {draft_id}: it was already {row.state} by "
            f"'{row.handled_by}'" + (f" as ticket {row.ticket_number}" if row.ticket_number else "")
        )
    return row


def open_draft(
    engine: Engine,
    draft_id: int,
    process_id: str,
    user: User | str,
    *,
    data: Mapping[str, Any] | None = None,
    customer: str | None = None,
    region: str | None = None,
    subject: str | None = None,
    session: Session | None = None,
) -> TicketView:
    """Turn draft ``draft_id`` into a ticket of ``process_id`` opened by ``user``; the
    ticket's data gets the sender's ``phone`` and the message as ``sms_text``."""
    actor = as_user(user)
    config = find_plugin(engine, SmsChannel) or SmsChannel()
    with unit(engine, session) as s:
        row = _open_draft_row(s, draft_id, "open a ticket from")
        ticket = engine.open_ticket(
            process_id,
            customer=customer or config.customer_of(row.sender),
            channel="sms",
            data={"phone": row.sender, "summary": row.text, "sms_text": row.text, **(data or {})},
            region=region,
            subject=subject or row.text[:200],
            user=actor,
            session=s,
        )
        row.state = "converted"
        row.ticket_number = ticket.number
        row.handled_by = actor.id
        row.handled_at = engine.clock.now()
        return ticket


def discard_draft(
    engine: Engine,
    draft_id: int,
    user: User | str,
    reason: str,
    *,
    session: Session | None = None,
) -> DraftView:
    """Discard a draft (spam, a wrong number...); ``reason`` is kept."""
    if not reason or not reason.strip():
        raise InvalidDataError("discarding an SMS draft needs a reason")
    actor = as_user(user)
    with unit(engine, session) as s:
        row = _open_draft_row(s, draft_id, "discard")
        row.state = "discarded"
        row.handled_by = actor.id
        row.handled_at = engine.clock.now()
        row.note = reason.strip()[:500]
        s.flush()
        return DraftView.from_row(row)
