"""Flows that enter the shared on-site service through a call activity (seed 001).

repair (报修), install (新装/升级安装), accessory (新增配件) and no_upload (未上传处理)
try the phone first and call ``onsite_service`` when that fails; visit (走访) is planned
by a supervisor or an engineer and always goes on site.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from lxml import etree

from ticketflow import Engine, TicketView
from ticketflow.errors import FormValidationError

from .conftest import PROCESSES
from .test_flow_onsite import (
    Onsite,
    callback,
    completed_elements,
    dispatch,
    judge,
    kinds,
    last_completion,
    second_dispatch,
    serve,
    waiting,
    work,
)

#: process -> (number prefix, first task, its form for "solved" / "not solved")
PHONE_FIRST: dict[str, tuple[str, str, dict[str, Any]]] = {
    "repair": (
        "BX",
        "phone_support",
        {"fault": "打印机卡纸 printer jams", "solution": "清理纸道 cleared the paper path"},
    ),
    "install": (
        "AZ",
        "confirm_request",
        {
            "install_type": "upgrade",
            "equipment": "旅馆业管理系统 v3 hotel system v3",
            "address": "淮安市清河区 Qinghe, Huai'an",
        },
    ),
    "accessory": (
        "PJ",
        "confirm_accessory",
        {"accessory": "身份证阅读器 ID card reader", "quantity": "2"},
    ),
}


def open_phone_first(engine: Engine, process: str) -> TicketView:
    return engine.open_ticket(process, customer="H-320800-017", channel="hotline")


def first_step(engine: Engine, ticket: TicketView, solved: bool) -> TicketView:
    _, task_id, form = PHONE_FIRST[ticket.process_id]
    task = ticket.task(task_id)
    assert task.candidate_groups == ("call_center",)
    assert task.assignee is None
    return engine.complete(task.id, Onsite.call_center, {**form, "solved": solved})


# ---------------------------------------------------------------- repair / install / accessory


@pytest.mark.parametrize("process", sorted(PHONE_FIRST))
def test_solved_by_phone(engine: Engine, process: str) -> None:
    prefix, task_id, _ = PHONE_FIRST[process]
    ticket = open_phone_first(engine, process)
    assert ticket.number.startswith(f"{prefix}-")
    assert waiting(ticket) == [task_id]

    ticket = first_step(engine, ticket, solved=True)
    assert ticket.status == "closed"
    assert ticket.end_element == "end_by_phone"
    assert ticket.open_tasks == ()
    assert ticket.data["solved"] is True
    assert ticket.data["visits"] == 0
    assert kinds(engine, ticket.number) == [
        ("ticket_opened", None),
        ("task_created", task_id),
        ("task_completed", task_id),
        ("ticket_closed", "end_by_phone"),
    ]
    gw = {"repair": "gw_repair_solved", "install": "gw_install_solved"}.get(
        process, "gw_accessory_solved"
    )
    assert last_completion(engine, ticket.number).details["passed"] == [gw, "end_by_phone"]


@pytest.mark.parametrize("process", sorted(PHONE_FIRST))
def test_not_solved_by_phone_goes_on_site(engine: Engine, process: str) -> None:
    prefix, task_id, form = PHONE_FIRST[process]
    ticket = first_step(engine, open_phone_first(engine, process), solved=False)

    # Inside the called process: the ticket keeps its own number and process id.
    assert ticket.status == "open"
    assert ticket.number.startswith(f"{prefix}-")
    assert ticket.process_id == process
    assert waiting(ticket) == ["dispatch_region"]
    dispatch_task = ticket.task("dispatch_region")
    assert dispatch_task.candidate_groups == ("dispatcher",)
    assert dispatch_task.process_id == process
    # The called process sees the caller's data.
    first_field = next(iter(form))
    assert ticket.data[first_field] == form[first_field]
    assert ticket.data["solved"] is False

    ticket = dispatch(engine, ticket, level="city", engineer=Onsite.engineer.id)
    assert ticket.task("onsite_work").assignee == "wang.gc"
    ticket = work(engine, ticket, success=True)
    assert ticket.data["visits"] == 1
    ticket = callback(engine, ticket, problem=False)

    assert ticket.status == "closed"
    assert ticket.end_element == "end_onsite"
    # The caller sees the callee's data after it returns.
    assert ticket.data["report"] == "更换主板 mainboard replaced"
    assert ticket.data["visits"] == 1
    assert ticket.data["success"] is True
    assert ticket.data["engineer"] == "wang.gc"
    assert ticket.data["maintenance_region"] == "淮安清河 Huai'an Qinghe"
    assert ticket.data["solved"] is False
    assert kinds(engine, ticket.number) == [
        ("ticket_opened", None),
        ("task_created", task_id),
        ("task_completed", task_id),
        ("task_created", "dispatch_region"),
        ("task_completed", "dispatch_region"),
        ("task_created", "onsite_work"),
        ("task_completed", "onsite_work"),
        ("task_created", "phone_callback"),
        ("task_completed", "phone_callback"),
        ("ticket_closed", "end_onsite"),
    ]
    history = engine.history(ticket.number)
    assert history[2].details["passed"][-2:] == ["start_onsite", "gw_redispatch"]
    assert history[-2].details["passed"] == [
        "gw_callback_problem",
        "end_served",
        "onsite",
        "end_onsite",
    ]
    done = engine.tasks(ticket=ticket.number, state="completed", order_by="id", limit=100)
    assert [(t.process_id, t.element_id, t.completed_by) for t in done] == [
        (process, task_id, "sun.kf"),
        (process, "dispatch_region", "zhang.pd"),
        (process, "onsite_work", "wang.gc"),
        (process, "phone_callback", "chen.hf"),
    ]


def test_repair_on_site_with_every_loop_of_the_subprocess(engine: Engine) -> None:
    """Province dispatch, a failure by the engineer's fault, a problem at callback."""
    ticket = first_step(engine, open_phone_first(engine, "repair"), solved=False)
    ticket = dispatch(engine, ticket, level="province", engineer=None)
    ticket = second_dispatch(engine, ticket, engineer=Onsite.engineer2.id)
    ticket = work(engine, ticket, success=False, engineer=Onsite.engineer2.id)
    ticket = judge(engine, ticket, "engineer_fault")
    assert ticket.task("onsite_work").assignee == "li.gc"
    ticket = work(engine, ticket, success=True, engineer=Onsite.engineer2.id)
    ticket = callback(engine, ticket, problem=True)
    assert waiting(ticket) == ["dispatch_region"]
    ticket = judge(engine, work(engine, dispatch(engine, ticket), success=False), "customer")
    ticket = serve(engine, ticket)

    assert ticket.status == "closed"
    assert ticket.end_element == "end_onsite"
    assert ticket.data["visits"] == 4
    assert ticket.data["fault"] == "打印机卡纸 printer jams"
    assert completed_elements(engine, ticket.number) == [
        "phone_support",
        "dispatch_region",
        "second_dispatch",
        "onsite_work",
        "judge_failure",
        "onsite_work",
        "phone_callback",
        "dispatch_region",
        "onsite_work",
        "judge_failure",
        "dispatch_region",
        "onsite_work",
        "phone_callback",
    ]


def test_first_step_forms_are_checked(engine: Engine) -> None:
    install = open_phone_first(engine, "install")
    with pytest.raises(FormValidationError):
        engine.complete(
            install.task("confirm_request").id,
            Onsite.call_center,
            {**PHONE_FIRST["install"][2], "install_type": "relocation", "solved": True},
        )
    accessory = open_phone_first(engine, "accessory")
    with pytest.raises(FormValidationError):
        engine.complete(
            accessory.task("confirm_accessory").id,
            Onsite.call_center,
            {"accessory": "读卡器 card reader", "quantity": "two", "solved": True},
        )
    ticket = first_step(engine, accessory, solved=True)
    assert ticket.data["quantity"] == 2


# ---------------------------------------------------------------- no upload


def open_no_upload(engine: Engine, site: str = "HA-0042", day: str = "2026-11-22") -> TicketView:
    return engine.open_ticket(
        "no_upload",
        customer=site,
        channel="hotline",
        business_key=f"{site}/{day}",
        data={"site_id": site, "no_data_date": day},
    )


def test_no_upload_resolved_by_phone(engine: Engine) -> None:
    ticket = open_no_upload(engine)
    assert ticket.number.startswith("WS-")
    assert ticket.business_key == "HA-0042/2026-11-22"
    assert waiting(ticket) == ["phone_check"]
    assert ticket.task("phone_check").candidate_groups == ("call_center",)

    ticket = engine.complete(
        ticket.task("phone_check").id,
        Onsite.call_center,
        {"reachable": True, "resolved": True, "check_note": "断网已恢复 network restored"},
    )
    assert ticket.status == "closed"
    assert ticket.end_element == "end_resolved_by_phone"
    assert ticket.data["check_note"] == "断网已恢复 network restored"
    assert ticket.data["site_id"] == "HA-0042"
    assert kinds(engine, ticket.number) == [
        ("ticket_opened", None),
        ("task_created", "phone_check"),
        ("task_completed", "phone_check"),
        ("ticket_closed", "end_resolved_by_phone"),
    ]
    assert [t.number for t in engine.tickets(business_key="HA-0042/2026-11-22")] == [ticket.number]


def test_no_upload_not_resolved_goes_on_site(engine: Engine) -> None:
    ticket = open_no_upload(engine)
    ticket = engine.complete(
        ticket.task("phone_check").id,
        Onsite.call_center,
        {"reachable": False, "resolved": False},
    )
    assert waiting(ticket) == ["dispatch_region"]
    assert ticket.data["site_id"] == "HA-0042"
    assert ticket.data["no_data_date"] == "2026-11-22"
    assert ticket.data["reachable"] is False
    assert ticket.data["check_note"] is None

    ticket = serve(engine, ticket)
    assert ticket.status == "closed"
    assert ticket.end_element == "end_onsite"
    assert ticket.data["site_id"] == "HA-0042"
    assert ticket.data["visits"] == 1
    assert ticket.data["report"] == "更换主板 mainboard replaced"
    assert completed_elements(engine, ticket.number) == [
        "phone_check",
        "dispatch_region",
        "onsite_work",
        "phone_callback",
    ]
    assert engine.history(ticket.number)[-1].element_id == "end_onsite"


# ---------------------------------------------------------------- visit


@pytest.mark.parametrize("planner", [Onsite.supervisor, Onsite.engineer], ids=lambda u: u.id)
def test_visit_planned_then_served_on_site(engine: Engine, planner: Any) -> None:
    ticket = engine.open_ticket("visit", customer="H-320800-017", channel="hotline")
    assert ticket.number.startswith("ZF-")
    assert waiting(ticket) == ["plan_visit"]
    plan = ticket.task("plan_visit")
    assert plan.candidate_groups == ("supervisor", "engineer")
    assert plan.assignee is None

    ticket = engine.complete(
        plan.id,
        planner,
        {"planned_date": "2026-12-01", "engineer": "wang.gc", "purpose": "季度走访 quarterly"},
    )
    assert waiting(ticket) == ["dispatch_region"]
    assert ticket.data["engineer"] == "wang.gc"
    assert ticket.data["planned_date"] == "2026-12-01"

    # The dispatcher confirms the planned engineer.
    ticket = dispatch(engine, ticket, level="city", engineer=ticket.data["engineer"])
    assert ticket.task("onsite_work").assignee == "wang.gc"
    ticket = callback(engine, work(engine, ticket, success=True), problem=False)

    assert ticket.status == "closed"
    assert ticket.end_element == "end_visited"
    assert ticket.data["planned_date"] == "2026-12-01"
    assert ticket.data["purpose"] == "季度走访 quarterly"
    assert ticket.data["visits"] == 1
    assert ticket.data["report"] == "更换主板 mainboard replaced"
    assert kinds(engine, ticket.number) == [
        ("ticket_opened", None),
        ("task_created", "plan_visit"),
        ("task_completed", "plan_visit"),
        ("task_created", "dispatch_region"),
        ("task_completed", "dispatch_region"),
        ("task_created", "onsite_work"),
        ("task_completed", "onsite_work"),
        ("task_created", "phone_callback"),
        ("task_completed", "phone_callback"),
        ("ticket_closed", "end_visited"),
    ]
    assert engine.history(ticket.number)[2].actor == planner.id


def test_visit_dispatch_keeps_the_planned_engineer_unless_cleared(engine: Engine) -> None:
    """dispatch_region's optional ``engineer`` field, left out, keeps the engineer the
    visit plan named, so a city dispatch goes straight to them; sent empty, it clears
    the engineer and the regional supervisor dispatches."""
    for form_engineer, expected in ((None, ["onsite_work"]), ("", ["second_dispatch"])):
        ticket = engine.open_ticket("visit", customer="H-1", channel="hotline")
        ticket = engine.complete(
            ticket.task("plan_visit").id,
            Onsite.supervisor,
            {"planned_date": "2026-12-01", "engineer": "wang.gc"},
        )
        form: dict[str, Any] = {"maintenance_region": "淮安 Huai'an", "dispatch_level": "city"}
        if form_engineer is not None:
            form["engineer"] = form_engineer
        ticket = engine.complete(ticket.task("dispatch_region").id, Onsite.dispatcher, form)
        assert waiting(ticket) == expected
        if expected == ["onsite_work"]:
            assert ticket.task("onsite_work").assignee == "wang.gc"
            assert ticket.data["engineer"] == "wang.gc"
        else:
            assert ticket.data["engineer"] is None


def test_visit_plan_needs_date_and_engineer(engine: Engine) -> None:
    ticket = engine.open_ticket("visit", customer="H-1", channel="hotline")
    with pytest.raises(FormValidationError):
        engine.complete(ticket.task("plan_visit").id, Onsite.supervisor, {"engineer": "wang.gc"})
    with pytest.raises(FormValidationError):
        engine.complete(
            ticket.task("plan_visit").id,
            Onsite.supervisor,
            {"planned_date": "next week", "engineer": "wang.gc"},
        )


# ---------------------------------------------------------------- restart


def test_restart_in_the_middle_of_the_subprocess(
    engine: Engine, make_engine: Callable[..., Engine]
) -> None:
    ticket = first_step(engine, open_phone_first(engine, "repair"), solved=False)
    ticket = dispatch(engine, ticket, level="province", engineer=None)
    ticket = second_dispatch(engine, ticket, engineer=Onsite.engineer.id)
    assert waiting(ticket) == ["onsite_work"]
    number = ticket.number

    # A new process (no deploy): it finds the ticket waiting inside the called process.
    second = make_engine()
    ticket = second.ticket(number)
    assert waiting(ticket) == ["onsite_work"]
    assert ticket.task("onsite_work").assignee == "wang.gc"
    assert ticket.data["fault"] == "打印机卡纸 printer jams"
    ticket = judge(second, work(second, ticket, success=False), "engineer_fault")
    assert ticket.task("onsite_work").assignee == "wang.gc"

    # Once more, then finish there.
    third = make_engine()
    ticket = third.ticket(number)
    ticket = callback(third, work(third, ticket, success=True), problem=False)
    assert ticket.status == "closed"
    assert ticket.end_element == "end_onsite"
    assert ticket.data["visits"] == 2
    assert ticket.data["report"] == "更换主板 mainboard replaced"
    assert completed_elements(third, number) == [
        "phone_support",
        "dispatch_region",
        "second_dispatch",
        "onsite_work",
        "judge_failure",
        "onsite_work",
        "phone_callback",
    ]
    assert engine.ticket(number) == ticket


# ---------------------------------------------------------------- structure


CALLERS = ["repair", "install", "accessory", "no_upload", "visit"]
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"


def _ids(name: str) -> set[str]:
    root = etree.parse(str(PROCESSES / f"{name}.bpmn")).getroot()
    process = root.find(f"{BPMN}process")
    assert process is not None
    lanes = {lane.get("id") for lane in process.iter(f"{BPMN}lane")}
    return {
        el.get("id", "")
        for el in root.iter()
        if isinstance(el.tag, str) and el.tag.startswith(BPMN) and el.get("id")
    } - lanes


@pytest.mark.parametrize("caller", CALLERS)
def test_caller_ids_do_not_clash_with_onsite_service(caller: str) -> None:
    """Lanes are candidate groups and may repeat; every other BPMN id must not."""
    root = etree.parse(str(PROCESSES / f"{caller}.bpmn")).getroot()
    calls = [c.get("calledElement") for c in root.iter(f"{BPMN}callActivity")]
    assert calls == ["onsite_service"]
    assert _ids(caller) & _ids("onsite_service") == set()


@pytest.mark.parametrize("caller", CALLERS)
def test_onsite_service_defaults_apply_in_every_caller(engine: Engine, caller: str) -> None:
    """Only onsite_service declares ticketflow.default.visits; its callers get it too."""
    assert "ticketflow.default.visits" not in (PROCESSES / f"{caller}.bpmn").read_text("utf-8")
    assert engine.definition(caller).data_defaults == {"visits": 0}
    ticket = engine.open_ticket(caller, customer="H-1", channel="hotline")
    assert ticket.data["visits"] == 0
