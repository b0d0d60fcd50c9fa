"""The shared on-site service subprocess (onsite_service.bpmn), driven on its own.

Seed 001: dispatch by maintenance region (city: the engineer; province: the regional
supervisor, who dispatches a second time), the engineer works on site and fills in the
order; success -> phone callback (a problem re-dispatches); failure -> the supervisor
judges the cause (the engineer's own fault sends the same engineer again; a customer
or objective cause re-dispatches).

The helpers here are shared with ``test_flow_repair_family.py``, which drives the same
subprocess through the call activities of the repair, installation, accessory,
no-upload and visit flows.
"""

from __future__ import annotations

from typing import Any

import pytest

from ticketflow import Engine, TicketView, User
from ticketflow.errors import FormValidationError, PermissionDeniedError


class Onsite:
    """The people of a small on-site service team."""

    call_center = User.of("sun.kf", groups=["call_center"])
    dispatcher = User.of("zhang.pd", groups=["dispatcher"])
    regional = User.of("liu.qz", groups=["regional_supervisor"])
    engineer = User.of("wang.gc", groups=["engineer"])
    engineer2 = User.of("li.gc", groups=["engineer"])
    callback = User.of("chen.hf", groups=["callback_agent"])
    supervisor = User.of("zhou.zg", groups=["supervisor"])


ENGINEERS = {Onsite.engineer.id: Onsite.engineer, Onsite.engineer2.id: Onsite.engineer2}


def waiting(ticket: TicketView) -> list[str]:
    return [t.element_id for t in ticket.open_tasks]


def kinds(engine: Engine, number: str) -> list[tuple[str, str | None]]:
    return [(e.kind, e.element_id) for e in engine.history(number)]


def completed_elements(engine: Engine, number: str) -> list[str]:
    return [e.element_id or "" for e in engine.history(number) if e.kind == "task_completed"]


def last_completion(engine: Engine, number: str) -> Any:
    return [e for e in engine.history(number) if e.kind == "task_completed"][-1]


def open_onsite(engine: Engine, **data: Any) -> TicketView:
    return engine.open_ticket(
        "onsite_service", customer="H-320800-017", channel="hotline", data=data or None
    )


def dispatch(
    engine: Engine,
    ticket: TicketView,
    level: str = "city",
    engineer: str | None = Onsite.engineer.id,
    region: str = "淮安清河 Huai'an Qinghe",
) -> TicketView:
    form: dict[str, Any] = {"maintenance_region": region, "dispatch_level": level}
    if engineer is not None:
        form["engineer"] = engineer
    return engine.complete(ticket.task("dispatch_region").id, Onsite.dispatcher, form)


def second_dispatch(engine: Engine, ticket: TicketView, engineer: str) -> TicketView:
    task = ticket.task("second_dispatch")
    assert task.candidate_groups == ("regional_supervisor",)
    assert task.assignee is None
    return engine.complete(task.id, Onsite.regional, {"engineer": engineer})


def work(
    engine: Engine, ticket: TicketView, success: bool, engineer: str = Onsite.engineer.id
) -> TicketView:
    task = ticket.task("onsite_work")
    assert task.assignee == engineer
    assert task.candidate_groups == ("engineer",)
    form: dict[str, Any] = {"success": success, "report": "更换主板 mainboard replaced"}
    if not success:
        form["report"] = "客户不在 customer absent"
        form["failure_reason"] = "无人开门 nobody home"
    return engine.complete(task.id, ENGINEERS[engineer], form)


def callback(engine: Engine, ticket: TicketView, problem: bool) -> TicketView:
    task = ticket.task("phone_callback")
    assert task.candidate_groups == ("callback_agent",)
    return engine.complete(
        task.id,
        Onsite.callback,
        {"problem": problem, "satisfaction": 40 if problem else 95, "callback_note": "回访 called"},
    )


def judge(engine: Engine, ticket: TicketView, cause: str) -> TicketView:
    task = ticket.task("judge_failure")
    assert task.candidate_groups == ("supervisor",)
    return engine.complete(task.id, Onsite.supervisor, {"cause": cause})


def serve(engine: Engine, ticket: TicketView) -> TicketView:
    """From dispatch_region: a city dispatch that succeeds and has no problem afterwards."""
    ticket = dispatch(engine, ticket)
    ticket = work(engine, ticket, success=True)
    return callback(engine, ticket, problem=False)


# ---------------------------------------------------------------- dispatch branches


def test_city_dispatch_with_engineer_goes_straight_on_site(engine: Engine) -> None:
    ticket = open_onsite(engine)
    assert ticket.number.startswith("SM-")
    assert waiting(ticket) == ["dispatch_region"]
    assert ticket.task("dispatch_region").candidate_groups == ("dispatcher",)
    assert ticket.data["visits"] == 0

    ticket = dispatch(engine, ticket, level="city", engineer=Onsite.engineer.id)
    assert waiting(ticket) == ["onsite_work"]
    assert ticket.task("onsite_work").assignee == "wang.gc"
    assert last_completion(engine, ticket.number).details["passed"] == [
        "gw_dispatch_level",
        "gw_to_onsite",
    ]
    # The engineer's own worklist shows it; another engineer may not complete it.
    assert [t.element_id for t in engine.tasks(assignee="wang.gc")] == ["onsite_work"]
    with pytest.raises(PermissionDeniedError):
        engine.complete(
            ticket.task("onsite_work").id,
            Onsite.engineer2,
            {"success": True, "report": "x"},
        )

    ticket = work(engine, ticket, success=True)
    assert waiting(ticket) == ["phone_callback"]
    assert ticket.data["visits"] == 1
    step = last_completion(engine, ticket.number)
    assert step.details["passed"] == ["count_visit", "gw_onsite_success"]
    assert step.details["scripts"] == {"count_visit": {"visits": 1}}

    ticket = callback(engine, ticket, problem=False)
    assert ticket.status == "closed"
    assert ticket.end_element == "end_served"
    assert ticket.open_tasks == ()
    assert ticket.data["visits"] == 1
    assert ticket.data["report"] == "更换主板 mainboard replaced"
    assert ticket.data["satisfaction"] == 95
    assert kinds(engine, ticket.number) == [
        ("ticket_opened", None),
        ("task_created", "dispatch_region"),
        ("task_completed", "dispatch_region"),
        ("task_created", "onsite_work"),
        ("task_completed", "onsite_work"),
        ("task_created", "phone_callback"),
        ("task_completed", "phone_callback"),
        ("ticket_closed", "end_served"),
    ]
    done = engine.tasks(ticket=ticket.number, state="completed", order_by="id", limit=100)
    assert [t.completed_by for t in done] == ["zhang.pd", "wang.gc", "chen.hf"]


def test_city_dispatch_without_engineer_goes_to_second_dispatch(engine: Engine) -> None:
    ticket = dispatch(engine, open_onsite(engine), level="city", engineer=None)
    assert waiting(ticket) == ["second_dispatch"]
    assert ticket.data["engineer"] is None
    assert last_completion(engine, ticket.number).details["passed"] == [
        "gw_dispatch_level",
        "gw_second_merge",
    ]
    # An empty string is "not named" too.
    ticket2 = dispatch(engine, open_onsite(engine), level="city", engineer="")
    assert waiting(ticket2) == ["second_dispatch"]

    ticket = second_dispatch(engine, ticket, engineer=Onsite.engineer2.id)
    assert waiting(ticket) == ["onsite_work"]
    assert ticket.task("onsite_work").assignee == "li.gc"
    ticket = work(engine, ticket, success=True, engineer=Onsite.engineer2.id)
    ticket = callback(engine, ticket, problem=False)
    assert ticket.end_element == "end_served"
    assert completed_elements(engine, ticket.number) == [
        "dispatch_region",
        "second_dispatch",
        "onsite_work",
        "phone_callback",
    ]


def test_province_dispatch_goes_through_the_regional_supervisor(engine: Engine) -> None:
    # Province level always goes to the regional supervisor, even with an engineer named.
    ticket = dispatch(engine, open_onsite(engine), level="province", engineer="wang.gc")
    assert waiting(ticket) == ["second_dispatch"]
    assert last_completion(engine, ticket.number).details["passed"] == [
        "gw_dispatch_level",
        "gw_second_merge",
    ]
    assert [t.element_id for t in engine.tasks(candidate_groups=["regional_supervisor"])] == [
        "second_dispatch"
    ]
    with pytest.raises(FormValidationError):
        engine.complete(ticket.task("second_dispatch").id, Onsite.regional, {})

    ticket = second_dispatch(engine, ticket, engineer=Onsite.engineer2.id)
    assert ticket.task("onsite_work").assignee == "li.gc"
    assert ticket.data["dispatch_level"] == "province"
    ticket = work(engine, ticket, success=True, engineer=Onsite.engineer2.id)
    ticket = callback(engine, ticket, problem=False)
    assert ticket.status == "closed"
    assert ticket.end_element == "end_served"
    assert ticket.data["engineer"] == "li.gc"


def test_dispatch_level_must_be_a_declared_choice(engine: Engine) -> None:
    ticket = open_onsite(engine)
    with pytest.raises(FormValidationError):
        dispatch(engine, ticket, level="county")
    with pytest.raises(FormValidationError):
        engine.complete(
            ticket.task("dispatch_region").id, Onsite.dispatcher, {"dispatch_level": "city"}
        )
    assert waiting(engine.ticket(ticket.number)) == ["dispatch_region"]


# ---------------------------------------------------------------- after the visit


def test_callback_with_a_problem_redispatches(engine: Engine) -> None:
    ticket = dispatch(engine, open_onsite(engine))
    ticket = work(engine, ticket, success=True)
    ticket = callback(engine, ticket, problem=True)

    assert ticket.status == "open"
    assert waiting(ticket) == ["dispatch_region"]
    assert ticket.task("dispatch_region").candidate_groups == ("dispatcher",)
    assert last_completion(engine, ticket.number).details["passed"] == [
        "gw_callback_problem",
        "gw_redispatch",
    ]
    assert ticket.data["problem"] is True
    assert ticket.data["visits"] == 1

    # The re-dispatch may pick another engineer; it is a second visit.
    ticket = dispatch(engine, ticket, level="city", engineer=Onsite.engineer2.id)
    assert ticket.task("onsite_work").assignee == "li.gc"
    ticket = work(engine, ticket, success=True, engineer=Onsite.engineer2.id)
    assert ticket.data["visits"] == 2
    ticket = callback(engine, ticket, problem=False)
    assert ticket.status == "closed"
    assert ticket.end_element == "end_served"
    assert ticket.data["visits"] == 2
    assert ticket.data["problem"] is False
    assert completed_elements(engine, ticket.number) == [
        "dispatch_region",
        "onsite_work",
        "phone_callback",
        "dispatch_region",
        "onsite_work",
        "phone_callback",
    ]


def test_failure_by_engineer_fault_sends_the_same_engineer_again(engine: Engine) -> None:
    ticket = dispatch(engine, open_onsite(engine), engineer=Onsite.engineer.id)
    first = ticket.task("onsite_work")
    ticket = work(engine, ticket, success=False)

    assert waiting(ticket) == ["judge_failure"]
    assert ticket.data["success"] is False
    assert ticket.data["failure_reason"] == "无人开门 nobody home"
    assert ticket.data["visits"] == 1
    assert last_completion(engine, ticket.number).details["passed"] == [
        "count_visit",
        "gw_onsite_success",
    ]

    ticket = judge(engine, ticket, "engineer_fault")
    assert waiting(ticket) == ["onsite_work"]
    again = ticket.task("onsite_work")
    assert again.id != first.id
    assert again.assignee == first.assignee == "wang.gc"
    assert last_completion(engine, ticket.number).details["passed"] == [
        "gw_failure_cause",
        "gw_to_onsite",
    ]
    assert ticket.data["cause"] == "engineer_fault"

    ticket = work(engine, ticket, success=True)
    assert ticket.data["visits"] == 2
    ticket = callback(engine, ticket, problem=False)
    assert ticket.status == "closed"
    assert ticket.end_element == "end_served"
    assert ticket.data["visits"] == 2
    assert ticket.data["success"] is True
    assert completed_elements(engine, ticket.number) == [
        "dispatch_region",
        "onsite_work",
        "judge_failure",
        "onsite_work",
        "phone_callback",
    ]
    done = engine.tasks(ticket=ticket.number, state="completed", order_by="id", limit=100)
    assert [t.completed_by for t in done] == [
        "zhang.pd",
        "wang.gc",
        "zhou.zg",
        "wang.gc",
        "chen.hf",
    ]


@pytest.mark.parametrize("cause", ["customer", "objective"])
def test_failure_by_customer_or_objective_cause_redispatches(engine: Engine, cause: str) -> None:
    ticket = dispatch(engine, open_onsite(engine))
    ticket = work(engine, ticket, success=False)
    ticket = judge(engine, ticket, cause)

    assert waiting(ticket) == ["dispatch_region"]
    assert last_completion(engine, ticket.number).details["passed"] == [
        "gw_failure_cause",
        "gw_redispatch",
    ]
    assert ticket.data["cause"] == cause
    assert ticket.data["visits"] == 1

    ticket = dispatch(engine, ticket, level="province", engineer=None)
    ticket = second_dispatch(engine, ticket, engineer=Onsite.engineer2.id)
    ticket = work(engine, ticket, success=True, engineer=Onsite.engineer2.id)
    ticket = callback(engine, ticket, problem=False)
    assert ticket.status == "closed"
    assert ticket.end_element == "end_served"
    assert ticket.data["visits"] == 2
    assert completed_elements(engine, ticket.number) == [
        "dispatch_region",
        "onsite_work",
        "judge_failure",
        "dispatch_region",
        "second_dispatch",
        "onsite_work",
        "phone_callback",
    ]


def test_judge_failure_cause_must_be_a_declared_choice(engine: Engine) -> None:
    ticket = work(engine, dispatch(engine, open_onsite(engine)), success=False)
    with pytest.raises(FormValidationError):
        judge(engine, ticket, "weather")
    assert waiting(engine.ticket(ticket.number)) == ["judge_failure"]


def test_every_loop_many_times_keeps_counting(engine: Engine) -> None:
    """Failure loops and re-dispatches in one ticket: visits counts every visit."""
    ticket = dispatch(engine, open_onsite(engine))
    for _ in range(3):
        ticket = judge(engine, work(engine, ticket, success=False), "engineer_fault")
    ticket = judge(engine, work(engine, ticket, success=False), "objective")
    ticket = dispatch(engine, ticket)
    ticket = callback(engine, work(engine, ticket, success=True), problem=True)
    ticket = serve(engine, ticket)
    assert ticket.status == "closed"
    assert ticket.end_element == "end_served"
    assert ticket.data["visits"] == 6
    assert completed_elements(engine, ticket.number).count("onsite_work") == 6
