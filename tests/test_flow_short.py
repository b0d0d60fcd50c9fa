"""The short flows: consultation (咨询), suggestion (建议) and appointment (预约)."""

from __future__ import annotations

from typing import Any

import pytest

from ticketflow import Engine, FormValidationError, TicketView, User


class People:
    agent = User.of("li.na", groups=["call_center"])
    expert = User.of("wang.wei", groups=["back_office"])
    service_point = User.of("zhou.qiang", groups=["service_point"])


def kinds(engine: Engine, number: str) -> list[tuple[str, str | None]]:
    return [(e.kind, e.element_id) for e in engine.history(number)]


def waiting(ticket: TicketView) -> list[str]:
    return [t.element_id for t in ticket.open_tasks]


def open_ticket(engine: Engine, process_id: str, **kwargs: Any) -> TicketView:
    kwargs.setdefault("customer", "C-2001")
    kwargs.setdefault("channel", "hotline")
    return engine.open_ticket(process_id, **kwargs)


def done_by(engine: Engine, number: str) -> list[tuple[str, str | None]]:
    done = engine.tasks(ticket=number, state="completed", order_by="id", limit=100)
    return [(t.element_id, t.completed_by) for t in done]


# ====================================================================== consultation

QUESTION = "国际漫游怎么开通? How do I enable roaming?"


def test_consultation_answered_on_the_spot(engine: Engine) -> None:
    ticket = open_ticket(engine, "consultation")
    assert ticket.number.startswith("ZX-")
    assert waiting(ticket) == ["answer"]
    assert ticket.task("answer").candidate_groups == ("call_center",)
    assert ticket.task("answer").assignee is None

    ticket = engine.complete(
        ticket.task("answer").id,
        People.agent,
        {"question": QUESTION, "answer": "发送 KTMY 到 10086 text KTMY", "answered": True},
    )
    assert ticket.status == "closed"
    assert ticket.end_element == "end_answered"
    assert ticket.open_tasks == ()
    assert ticket.data["question"] == QUESTION
    assert ticket.data["answer"] == "发送 KTMY 到 10086 text KTMY"
    assert ticket.data["answered"] is True
    assert kinds(engine, ticket.number) == [
        ("ticket_opened", None),
        ("task_created", "answer"),
        ("task_completed", "answer"),
        ("ticket_closed", "end_answered"),
    ]
    completed = engine.history(ticket.number)[2]
    assert completed.actor == "li.na"
    assert completed.details["passed"] == ["gw_answered", "end_answered"]


def test_consultation_goes_to_an_expert_and_is_relayed(engine: Engine) -> None:
    ticket = open_ticket(engine, "consultation", channel="web")
    ticket = engine.complete(
        ticket.task("answer").id, People.agent, {"question": QUESTION, "answered": False}
    )
    assert waiting(ticket) == ["expert_answer"]
    assert ticket.task("expert_answer").candidate_groups == ("back_office",)
    assert ticket.data["answer"] is None  # optional field left out
    # The agent is not in the back office.
    assert engine.tasks(candidate_groups=["call_center"]).total == 0

    with pytest.raises(FormValidationError) as caught:
        engine.complete(ticket.task("expert_answer").id, People.expert, {})
    assert set(caught.value.errors) == {"answer"}

    ticket = engine.complete(
        ticket.task("expert_answer").id, People.expert, {"answer": "需先开通国际业务 enable first"}
    )
    assert waiting(ticket) == ["relay_answer"]
    assert ticket.task("relay_answer").candidate_groups == ("call_center",)
    assert ticket.data["answer"] == "需先开通国际业务 enable first"

    ticket = engine.complete(ticket.task("relay_answer").id, People.agent, {"relayed": True})
    assert ticket.status == "closed"
    assert ticket.end_element == "end_expert_answered"
    assert ticket.data["relayed"] is True
    assert ticket.data["question"] == QUESTION
    assert done_by(engine, ticket.number) == [
        ("answer", "li.na"),
        ("expert_answer", "wang.wei"),
        ("relay_answer", "li.na"),
    ]
    assert kinds(engine, ticket.number) == [
        ("ticket_opened", None),
        ("task_created", "answer"),
        ("task_completed", "answer"),
        ("task_created", "expert_answer"),
        ("task_completed", "expert_answer"),
        ("task_created", "relay_answer"),
        ("task_completed", "relay_answer"),
        ("ticket_closed", "end_expert_answered"),
    ]
    assert engine.history(ticket.number)[2].details["passed"] == ["gw_answered"]


# ====================================================================== suggestion


@pytest.mark.parametrize(("adopted", "end"), [(True, "end_adopted"), (False, "end_not_adopted")])
def test_suggestion_evaluated_and_replied(engine: Engine, adopted: bool, end: str) -> None:
    ticket = open_ticket(engine, "suggestion", channel="email")
    assert ticket.number.startswith("JY-")
    assert waiting(ticket) == ["record_suggestion"]
    assert ticket.task("record_suggestion").candidate_groups == ("call_center",)

    with pytest.raises(FormValidationError) as caught:
        engine.complete(
            ticket.task("record_suggestion").id,
            People.agent,
            {"suggestion": "x", "topic": "weather"},
        )
    assert set(caught.value.errors) == {"topic"}

    ticket = engine.complete(
        ticket.task("record_suggestion").id,
        People.agent,
        {"suggestion": "账单增加流量明细 itemise data usage", "topic": "billing"},
    )
    assert waiting(ticket) == ["evaluate_suggestion"]
    assert ticket.task("evaluate_suggestion").candidate_groups == ("back_office",)
    assert ticket.data["topic"] == "billing"

    ticket = engine.complete(
        ticket.task("evaluate_suggestion").id,
        People.expert,
        {"adopted": adopted, "response": "感谢建议 thank you"},
    )
    assert waiting(ticket) == ["reply_suggestion"]
    assert ticket.task("reply_suggestion").candidate_groups == ("call_center",)
    assert ticket.data["adopted"] is adopted

    ticket = engine.complete(ticket.task("reply_suggestion").id, People.agent, {"replied": True})
    assert ticket.status == "closed"
    assert ticket.end_element == end
    assert ticket.data["response"] == "感谢建议 thank you"
    assert ticket.data["replied"] is True
    assert done_by(engine, ticket.number) == [
        ("record_suggestion", "li.na"),
        ("evaluate_suggestion", "wang.wei"),
        ("reply_suggestion", "li.na"),
    ]
    assert kinds(engine, ticket.number)[-2:] == [
        ("task_completed", "reply_suggestion"),
        ("ticket_closed", end),
    ]
    assert engine.history(ticket.number)[-2].details["passed"] == ["gw_adopted", end]


# ====================================================================== appointment


def schedule(engine: Engine, ticket: TicketView, date: str, slot: str) -> TicketView:
    return engine.complete(
        ticket.task("schedule").id,
        People.agent,
        {"date": date, "slot": slot, "service": "宽带安装 broadband installation"},
    )


def test_appointment_confirmed_first_time(engine: Engine) -> None:
    ticket = open_ticket(engine, "appointment")
    assert ticket.number.startswith("YY-")
    assert waiting(ticket) == ["schedule"]
    assert ticket.task("schedule").candidate_groups == ("call_center",)
    assert engine.history(ticket.number)[0].details["passed"] == [
        "start_appointment",
        "gw_to_schedule",
    ]

    ticket = schedule(engine, ticket, "2026-01-08", "morning")
    assert waiting(ticket) == ["confirm_slot"]
    assert ticket.task("confirm_slot").candidate_groups == ("service_point",)
    assert ticket.data["date"] == "2026-01-08"
    assert ticket.data["slot"] == "morning"

    ticket = engine.complete(
        ticket.task("confirm_slot").id, People.service_point, {"confirmed": True}
    )
    assert waiting(ticket) == ["notify_customer"]
    assert ticket.task("notify_customer").candidate_groups == ("call_center",)
    assert ticket.data["reason"] is None

    ticket = engine.complete(ticket.task("notify_customer").id, People.agent, {"notified": True})
    assert ticket.status == "closed"
    assert ticket.end_element == "end_booked"
    assert ticket.data["notified"] is True
    assert kinds(engine, ticket.number) == [
        ("ticket_opened", None),
        ("task_created", "schedule"),
        ("task_completed", "schedule"),
        ("task_created", "confirm_slot"),
        ("task_completed", "confirm_slot"),
        ("task_created", "notify_customer"),
        ("task_completed", "notify_customer"),
        ("ticket_closed", "end_booked"),
    ]


def test_appointment_rescheduled_then_confirmed(engine: Engine) -> None:
    ticket = schedule(engine, open_ticket(engine, "appointment"), "2026-01-08", "evening")
    ticket = engine.complete(
        ticket.task("confirm_slot").id,
        People.service_point,
        {"confirmed": False, "reason": "晚上无人值班 nobody on duty in the evening"},
    )
    assert waiting(ticket) == ["schedule"]
    assert ticket.task("schedule").candidate_groups == ("call_center",)
    assert ticket.data["confirmed"] is False
    refused = engine.history(ticket.number)[-2]
    assert refused.kind == "task_completed" and refused.element_id == "confirm_slot"
    assert refused.details["passed"] == ["gw_confirmed", "gw_to_schedule"]

    ticket = schedule(engine, ticket, "2026-01-09", "afternoon")
    assert waiting(ticket) == ["confirm_slot"]
    assert ticket.data["date"] == "2026-01-09"
    assert ticket.data["slot"] == "afternoon"

    ticket = engine.complete(
        ticket.task("confirm_slot").id, People.service_point, {"confirmed": True, "reason": ""}
    )
    assert ticket.data["confirmed"] is True
    assert ticket.data["reason"] is None  # sent empty: the new confirmation clears the old reason
    ticket = engine.complete(ticket.task("notify_customer").id, People.agent, {"notified": True})
    assert ticket.status == "closed"
    assert ticket.end_element == "end_booked"
    assert done_by(engine, ticket.number) == [
        ("schedule", "li.na"),
        ("confirm_slot", "zhou.qiang"),
        ("schedule", "li.na"),
        ("confirm_slot", "zhou.qiang"),
        ("notify_customer", "li.na"),
    ]
    assert [k for k in kinds(engine, ticket.number) if k[0] == "task_created"] == [
        ("task_created", "schedule"),
        ("task_created", "confirm_slot"),
        ("task_created", "schedule"),
        ("task_created", "confirm_slot"),
        ("task_created", "notify_customer"),
    ]
    assert kinds(engine, ticket.number)[-1] == ("ticket_closed", "end_booked")
