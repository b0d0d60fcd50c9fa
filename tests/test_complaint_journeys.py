"""Complete complaint journeys through the real engine and store."""

from __future__ import annotations

from ticketflow import Engine

from .conftest import Staff
from .journeys import callback, open_complaint, resolve_and_reply, to_handling


def kinds(engine: Engine, number: str) -> list[tuple[str, str | None]]:
    return [(e.kind, e.element_id) for e in engine.history(number)]


def test_solved_at_front_desk(engine: Engine) -> None:
    ticket = open_complaint(engine, channel="business_hall")
    assert ticket.number.startswith("TS-")
    assert ticket.status == "open"
    assert [t.element_id for t in ticket.open_tasks] == ["front_desk"]
    assert ticket.open_tasks[0].candidate_groups == ("intake_agent",)

    ticket = engine.complete(
        ticket.task("front_desk").id, Staff.agent, {"resolved": True, "reply": "已解释 explained"}
    )
    assert ticket.status == "closed"
    assert ticket.end_element == "end_front_desk"
    assert ticket.open_tasks == ()
    assert ticket.closed_at is not None
    assert kinds(engine, ticket.number) == [
        ("ticket_opened", None),
        ("task_created", "front_desk"),
        ("task_completed", "front_desk"),
        ("ticket_closed", "end_front_desk"),
    ]
    completed = engine.history(ticket.number)[2]
    assert completed.actor == Staff.agent.id
    assert completed.details["form"] == {
        "resolved": True,
        "reply": "已解释 explained",
        "note": None,
    }
    assert completed.details["changes"]["resolved"] == {"old": None, "new": True}
    assert completed.details["passed"] == ["gw_front_desk", "end_front_desk"]


def test_dispatched_and_satisfied(engine: Engine) -> None:
    ticket = to_handling(engine, open_complaint(engine))
    handle = ticket.task("handle")
    assert handle.candidate_groups == ("dept_billing",), "dispatch decides the department"
    assert ticket.data["category_l1"] == "计费 billing"

    ticket = resolve_and_reply(engine, ticket)
    assert ticket.task("callback").candidate_groups == ("callback_agent",)
    ticket = callback(engine, ticket, satisfied=True)

    assert ticket.status == "closed"
    assert ticket.end_element == "end_closed"
    assert ticket.data["satisfied"] is True
    assert ticket.data["reopen_count"] == 0
    done = engine.tasks(ticket=ticket.number, state="completed", order_by="id", limit=100)
    assert [t.element_id for t in done] == [
        "front_desk",
        "record",
        "classify",
        "dispatch",
        "handle",
        "reply",
        "callback",
    ]
    assert [t.completed_by for t in done] == [
        "li.na",
        "li.na",
        "wang.wei",
        "wang.wei",
        "zhao.lei",
        "zhao.lei",
        "chen.jing",
    ]


def test_unsatisfied_callback_reopens_handling(engine: Engine) -> None:
    ticket = resolve_and_reply(engine, to_handling(engine, open_complaint(engine)))
    ticket = callback(engine, ticket, satisfied=False)

    assert ticket.status == "open"
    assert [t.element_id for t in ticket.open_tasks] == ["handle"]
    assert ticket.task("handle").candidate_groups == ("dept_billing",)
    assert ticket.data["reopen_count"] == 1
    reopened = engine.history(ticket.number)[-2]
    assert reopened.kind == "task_completed" and reopened.element_id == "callback"
    assert reopened.details["passed"] == ["gw_callback", "reopen", "gw_to_handle"]
    assert reopened.details["scripts"] == {"reopen": {"reopen_count": 1}}

    ticket = callback(engine, resolve_and_reply(engine, ticket), satisfied=True)
    assert ticket.status == "closed"
    assert ticket.data["reopen_count"] == 1


def test_transfer_to_another_department(engine: Engine) -> None:
    ticket = to_handling(engine, open_complaint(engine), department="dept_billing")
    ticket = engine.complete(
        ticket.task("handle").id,
        Staff.billing,
        {"outcome": "transfer", "transfer_to": "dept_network", "result": "信号问题 coverage issue"},
    )
    handle = ticket.task("handle")
    assert handle.candidate_groups == ("dept_network",)
    assert ticket.data["department"] == "dept_network"
    # The billing department no longer sees it; the network department does.
    assert engine.tasks(candidate_groups=["dept_billing"]).total == 0
    assert [t.id for t in engine.tasks(candidate_groups=["dept_network"])] == [handle.id]

    ticket = callback(
        engine, resolve_and_reply(engine, ticket, handler=Staff.network), satisfied=True
    )
    assert ticket.status == "closed"


def test_return_to_dispatch(engine: Engine) -> None:
    ticket = to_handling(engine, open_complaint(engine))
    ticket = engine.complete(ticket.task("handle").id, Staff.billing, {"outcome": "return"})
    assert [t.element_id for t in ticket.open_tasks] == ["dispatch"]
    ticket = engine.complete(
        ticket.task("dispatch").id, Staff.back_office, {"department": "dept_network"}
    )
    assert ticket.task("handle").candidate_groups == ("dept_network",)


def test_dispatch_with_named_handler_assigns_the_task(engine: Engine) -> None:
    ticket = to_handling(engine, open_complaint(engine))
    ticket = engine.complete(ticket.task("handle").id, Staff.billing, {"outcome": "return"})
    ticket = engine.complete(
        ticket.task("dispatch").id,
        Staff.back_office,
        {"department": "dept_billing", "handler": "zhao.lei"},
    )
    assert ticket.task("handle").assignee == "zhao.lei"
    assert engine.tasks(assignee="zhao.lei").total == 1


def test_ticket_data_and_initial_fields(engine: Engine) -> None:
    ticket = open_complaint(
        engine,
        customer="C-1",
        channel="sms",
        customer_tier="vip",
        region="jinan",
        subject="信号差 weak signal",
        data={"phone": "13800000000"},
    )
    assert ticket.priority == 90
    assert ticket.region == "jinan"
    assert ticket.data["phone"] == "13800000000"
    assert ticket.data["channel"] == "sms"
    assert ticket.data["customer_tier"] == "vip"
    assert ticket.data["ticket_number"] == ticket.number
    assert ticket.open_tasks[0].priority == 90
    assert ticket.open_tasks[0].region == "jinan"
    assert engine.ticket(ticket.number) == ticket
