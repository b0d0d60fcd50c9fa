"""SMS intake: fixed-format tickets, free-text drafts, callback ratings, answers by SMS."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest

from ticketflow import Engine, FixedClock, TicketView
from ticketflow.channels.notes import notes
from ticketflow.channels.sms import (
    SmsChannel,
    SmsKind,
    discard_draft,
    drafts,
    open_draft,
    receive_sms,
)
from ticketflow.errors import InvalidDataError, NotFoundError, TaskStateError
from ticketflow.plugins.callbacks import CallbackPlanner
from ticketflow.plugins.sms import InvalidPhoneNumberError, LoggingSmsGateway, SmsNotifier

from .conftest import PROCESSES, Staff

PHONE = "+8613800138000"


@pytest.fixture
def gateway() -> LoggingSmsGateway:
    return LoggingSmsGateway()


@pytest.fixture
def sms_engine(make_engine: Callable[..., Engine], gateway: LoggingSmsGateway) -> Engine:
    channel = SmsChannel(regions=("历下区", "市中区"))
    engine = make_engine(plugins=[CallbackPlanner(), SmsNotifier(gateway), channel])
    engine.deploy(PROCESSES)
    return engine


def answers(engine: Engine, gateway: LoggingSmsGateway) -> list[str]:
    """The SMS delivered since the last call, each long one's parts joined again."""
    gateway.clear()
    report = engine.deliver_outbox()
    assert report.dead == 0
    texts: dict[str, str] = {}
    for m in gateway.messages:
        key = m.key.split("#")[0]
        texts[key] = texts.get(key, "") + re.sub(r"^\(\d+/\d+\)", "", m.text)
    return list(texts.values())


def to_callback(engine: Engine, ticket: TicketView) -> TicketView:
    """Drive an SMS complaint through handling to its callback."""
    ticket = engine.complete(ticket.task("front_desk").id, Staff.agent, {"resolved": False})
    ticket = engine.complete(
        ticket.task("record").id, Staff.agent, {"description": "断网", "urgency": "normal"}
    )
    ticket = engine.complete(
        ticket.task("classify").id,
        Staff.back_office,
        {"category_l1": "网络", "category_l2": "宽带", "category_l3": "断网"},
    )
    ticket = engine.complete(
        ticket.task("dispatch").id, Staff.back_office, {"department": "dept_network"}
    )
    ticket = engine.complete(ticket.task("handle").id, Staff.network, {"outcome": "resolved"})
    return engine.complete(ticket.task("reply").id, Staff.network, {"reply": "已修复"})


@pytest.mark.parametrize(
    ("text", "region", "summary"),
    [
        ("TS#历下区#宽带三天无法上网", "历下区", "宽带三天无法上网"),
        ("ｔｓ ＃ 市中区 ＃ 营业厅态度差", "市中区", "营业厅态度差"),
        ("投诉#话费多扣 30 元", None, "话费多扣 30 元"),
        ("投诉\u3000历下区 信号差，打电话老是断", "历下区", "信号差，打电话老是断"),
    ],
)
def test_fixed_format_opens_a_ticket_and_answers_with_its_number(
    sms_engine: Engine, gateway: LoggingSmsGateway, text: str, region: str | None, summary: str
) -> None:
    result = receive_sms(sms_engine, "138 0013 8000", text)

    assert result.outcome == "opened", result.reason
    assert result.sender == PHONE
    ticket = sms_engine.ticket(result.ticket_number or "")
    assert ticket.process_id == "complaint" and ticket.channel == "sms"
    assert ticket.region == region
    assert ticket.data["summary"] == summary and ticket.data["phone"] == PHONE
    assert ticket.customer_id == PHONE
    [answer] = answers(sms_engine, gateway)
    assert ticket.number in answer and "投诉已受理" in answer


def test_other_kinds_and_customer_mapping(
    make_engine: Callable[..., Engine], gateway: LoggingSmsGateway
) -> None:
    channel = SmsChannel(
        (SmsKind("BX", "报修", "repair", "报修"),), customer_of=lambda phone: f"C-{phone[-4:]}"
    )
    engine = make_engine(plugins=[SmsNotifier(gateway), channel])
    engine.deploy(PROCESSES)

    result = receive_sms(engine, "+86 139-0000-1234", "bx#光猫红灯闪烁")

    ticket = engine.ticket(result.ticket_number or "")
    assert ticket.process_id == "repair" and ticket.customer_id == "C-1234"
    refused = receive_sms(engine, "13900001234", "TS#投诉在这里不受理")
    assert refused.outcome == "refused" and "未知业务代码“TS”" in (refused.reason or "")
    assert "BX报修" in (refused.reply or "")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("XX#宽带断网", "未知业务代码“XX”"),
        ("TS#", "投诉内容为空"),
        ("TS#历下区#", "投诉内容为空"),
        ("TS#天桥区#宽带断网", "未知区域“天桥区”，可选：历下区、市中区"),
        ("投诉##宽带断网", "区域为空"),
        (" \n", "短信内容为空"),
    ],
)
def test_format_errors_are_answered_naming_the_problem(
    sms_engine: Engine, gateway: LoggingSmsGateway, text: str, reason: str
) -> None:
    result = receive_sms(sms_engine, PHONE, text)

    assert result.outcome == "refused"
    assert result.reason == reason
    [answer] = answers(sms_engine, gateway)
    assert reason in answer and "代码#内容" in answer and "TS投诉" in answer
    assert sms_engine.tickets().total == 0


def test_free_text_becomes_a_draft_an_agent_turns_into_a_ticket(
    sms_engine: Engine, gateway: LoggingSmsGateway
) -> None:
    first = receive_sms(sms_engine, PHONE, "你好，我家宽带从昨晚开始就上不了网#急")
    second = receive_sms(sms_engine, "13900001111", "请问怎么办理停机保号？")

    assert first.outcome == second.outcome == "draft"
    assert [d.id for d in drafts(sms_engine)] == [first.draft_id, second.draft_id]
    assert "已收到您的短信" in answers(sms_engine, gateway)[0]

    ticket = open_draft(
        sms_engine, first.draft_id or 0, "repair", Staff.agent, data={"fault": "宽带断网"}
    )
    assert ticket.channel == "sms" and ticket.opened_by == "li.na"
    assert ticket.data["phone"] == PHONE and ticket.data["fault"] == "宽带断网"
    assert ticket.data["sms_text"] == "你好，我家宽带从昨晚开始就上不了网#急"
    gone = discard_draft(sms_engine, second.draft_id or 0, Staff.agent, "咨询，已电话答复")
    assert gone.state == "discarded" and gone.note == "咨询，已电话答复"
    assert drafts(sms_engine) == []
    [converted, _discarded] = drafts(sms_engine, state=None)
    assert converted.ticket_number == ticket.number and converted.handled_by == "li.na"

    with pytest.raises(TaskStateError, match="already converted by 'li.na' as ticket"):
        open_draft(sms_engine, first.draft_id or 0, "repair", Staff.agent)
    with pytest.raises(TaskStateError, match="already discarded"):
        discard_draft(sms_engine, second.draft_id or 0, Staff.agent, "again")
    with pytest.raises(NotFoundError):
        discard_draft(sms_engine, 999, Staff.agent, "none")
    with pytest.raises(InvalidDataError, match="needs a reason"):
        discard_draft(sms_engine, first.draft_id or 0, Staff.agent, " ")


def test_satisfied_rating_completes_the_callback_and_closes_the_ticket(
    sms_engine: Engine, gateway: LoggingSmsGateway
) -> None:
    opened = receive_sms(sms_engine, PHONE, "TS#宽带断网")
    ticket = to_callback(sms_engine, sms_engine.ticket(opened.ticket_number or ""))
    callback = ticket.task("callback")
    assert callback.details["callback_plan"]["channel"] == "sms"
    survey = answers(sms_engine, gateway)
    assert any("请回复数字 1-5" in text for text in survey)

    result = receive_sms(sms_engine, "+86 138 0013 8000", "5分！")

    assert result.outcome == "rated" and result.rating == 5
    assert result.ticket_number == ticket.number
    closed = sms_engine.ticket(ticket.number)
    assert closed.status == "closed" and closed.end_element == "end_closed"
    done = sms_engine.task(callback.id)
    assert done.form_data == {
        "satisfied": True,
        "score": 100,
        "comment": "短信评价 SMS rating 5/5: 5分！",
    }
    assert done.completed_by == "sms-survey"
    [thanks] = answers(sms_engine, gateway)  # the callback planner thanks the customer
    assert "感谢您对工单" in thanks
    [note] = notes(sms_engine, ticket.number)
    assert note.source == "sms" and "5/5" in note.text


def test_unsatisfied_rating_reopens_handling(
    sms_engine: Engine, gateway: LoggingSmsGateway
) -> None:
    opened = receive_sms(sms_engine, PHONE, "TS#宽带断网")
    ticket = to_callback(sms_engine, sms_engine.ticket(opened.ticket_number or ""))

    result = receive_sms(sms_engine, PHONE, "不满意")

    assert result.outcome == "rated" and result.rating == 2
    again = sms_engine.ticket(ticket.number)
    assert [t.element_id for t in again.open_tasks] == ["handle"]
    assert any("评价（2 分）" in text for text in answers(sms_engine, gateway))
    # The survey is answered: another digit is not a rating any more.
    late = receive_sms(sms_engine, PHONE, "1")
    assert late.outcome == "refused" and late.reason == "没有等待您评价的工单"


def test_rating_after_the_agent_called_is_recorded_only(
    sms_engine: Engine, gateway: LoggingSmsGateway, clock: FixedClock
) -> None:
    opened = receive_sms(sms_engine, PHONE, "TS#宽带断网")
    ticket = to_callback(sms_engine, sms_engine.ticket(opened.ticket_number or ""))
    sms_engine.complete(ticket.task("callback").id, Staff.callback, {"satisfied": True})

    result = receive_sms(sms_engine, PHONE, "基本满意")

    assert result.outcome == "rated" and result.rating == 3
    assert "already completed; rating recorded" in (result.reason or "")
    assert sms_engine.ticket(ticket.number).status == "closed"

    # A survey older than its lifetime is not matched any more.
    second = receive_sms(sms_engine, PHONE, "TS#又断网了")
    to_callback(sms_engine, sms_engine.ticket(second.ticket_number or ""))
    clock.advance(timedelta(days=8))
    assert receive_sms(sms_engine, PHONE, "满意").outcome == "draft"


def test_gateway_resends_are_stored_once_and_numbers_are_checked(
    sms_engine: Engine, gateway: LoggingSmsGateway
) -> None:
    first = receive_sms(sms_engine, PHONE, "TS#宽带断网", gateway_id="gw-1")
    again = receive_sms(sms_engine, PHONE, "TS#宽带断网", gateway_id="gw-1")

    assert again.duplicate and again.ticket_number == first.ticket_number
    assert sms_engine.tickets().total == 1
    assert len(answers(sms_engine, gateway)) == 1
    with pytest.raises(InvalidPhoneNumberError):
        receive_sms(sms_engine, "10086", "TS#x")
    with pytest.raises(InvalidDataError, match="timezone-aware"):
        receive_sms(sms_engine, PHONE, "TS#宽带断网", __import__("datetime").datetime(2026, 1, 5))


def test_configuration_is_checked() -> None:
    with pytest.raises(ValueError, match="used twice"):
        SmsChannel((SmsKind("TS", "投诉", "complaint", "投诉"), SmsKind("ts", "x", "y", "z")))
    with pytest.raises(ValueError, match="satisfied_from"):
        SmsChannel(satisfied_from=6)
    channel = SmsChannel()
    assert channel.parse("今天#天气不错") is None  # a "#" in ordinary text is no format
    assert channel.rating("５") == 5 and channel.rating("非常满意。") == 5
    assert channel.rating("5 stars") is None
