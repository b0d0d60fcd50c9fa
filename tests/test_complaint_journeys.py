"""Complete complaint journeys through the real engine and store."""

from __future__ import annotations

from typing import Any

import pytest

from ticketflow import (
    Engine,
    EventView,
    FormValidationError,
    PermissionDeniedError,
    TicketView,
    User,
)

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
    completed, reopened = engine.history(ticket.number)[-3:-1]
    assert completed.kind == "task_completed" and completed.element_id == "callback"
    assert completed.details["passed"] == ["gw_callback", "reopen", "gw_to_handle"]
    assert completed.details["scripts"] == {"reopen": {"reopen_count": 1}}
    assert (reopened.kind, reopened.element_id) == ("ticket_reopened", "reopen")

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


# --------------------------------------------------------------------------------------
# Difficult complaints (疑难投诉) and the three-level refund authorisation (退费三级授权)
# --------------------------------------------------------------------------------------

DIFFICULT = User.of("liu.yang", groups=["difficult_team"])
TEAM_LEAD = User.of("he.ping", groups=["team_lead"])
MANAGER = User.of("gao.feng", groups=["dept_manager"])
DIRECTOR = User.of("ma.jun", groups=["centre_director"])

#: approval task -> (its lane = candidate group, who may complete it, who may not)
APPROVERS = {
    "approve_refund_l1": ("team_lead", TEAM_LEAD, [Staff.billing, MANAGER, DIRECTOR]),
    "approve_refund_l2": ("dept_manager", MANAGER, [Staff.billing, TEAM_LEAD, DIRECTOR]),
    "approve_refund_l3": ("centre_director", DIRECTOR, [Staff.billing, TEAM_LEAD, MANAGER]),
}


def open_tasks(ticket: TicketView) -> list[str]:
    return [t.element_id for t in ticket.open_tasks]


def last_completion(engine: Engine, number: str) -> EventView:
    """The most recent task_completed event of the ticket."""
    return next(e for e in reversed(engine.history(number)) if e.kind == "task_completed")


def handled(
    engine: Engine, refund_amount: float | str | None = None, refunds_before: int | None = None
) -> TicketView:
    """A complaint dispatched to billing and handled as resolved, with an optional refund."""
    data: dict[str, Any] = {"summary": "话费多扣 charged twice"}
    if refunds_before is not None:
        data["refunds_before"] = refunds_before
    ticket = to_handling(engine, open_complaint(engine, data=data))
    form: dict[str, Any] = {"outcome": "resolved", "result": "核实多扣 overcharge confirmed"}
    if refund_amount is not None:
        form["refund_amount"] = refund_amount
    return engine.complete(ticket.task("handle").id, Staff.billing, form)


def reply_and_close(engine: Engine, ticket: TicketView) -> TicketView:
    ticket = engine.complete(ticket.task("reply").id, Staff.billing, {"reply": "已处理 done"})
    ticket = callback(engine, ticket, satisfied=True)
    assert ticket.status == "closed" and ticket.end_element == "end_closed"
    return ticket


def assert_only_lane_may_complete(
    engine: Engine, ticket: TicketView, element_id: str, lane: str, outsiders: list[User]
) -> None:
    task = ticket.task(element_id)
    assert task.candidate_groups == (lane,)
    assert task.assignee is None
    assert [t.id for t in engine.tasks(candidate_groups=[lane])] == [task.id]
    for outsider in outsiders:
        with pytest.raises(PermissionDeniedError):
            engine.complete(task.id, outsider, {})
    # nothing moved
    assert open_tasks(engine.ticket(ticket.number)) == [element_id]


def test_escalated_complaint_goes_to_the_difficult_team_then_reply(engine: Engine) -> None:
    ticket = to_handling(engine, open_complaint(engine))
    ticket = engine.complete(
        ticket.task("handle").id,
        Staff.billing,
        {"outcome": "escalate", "result": "客户三次投诉未果 third complaint, unresolved"},
    )
    assert open_tasks(ticket) == ["difficult_review"]
    assert last_completion(engine, ticket.number).details["passed"] == ["gw_handle"]
    assert_only_lane_may_complete(
        engine, ticket, "difficult_review", "difficult_team", [Staff.billing, TEAM_LEAD]
    )

    review = ticket.task("difficult_review")
    with pytest.raises(FormValidationError) as info:
        engine.complete(review.id, DIFFICULT, {"resolution": "赔付 compensate"})
    assert set(info.value.errors) == {"escalation_level"}
    with pytest.raises(FormValidationError) as info:
        engine.complete(review.id, DIFFICULT, {"resolution": "x", "escalation_level": "province"})
    assert "must be one of department, company" in info.value.errors["escalation_level"]

    ticket = engine.complete(
        review.id,
        DIFFICULT,
        {
            "resolution": "公司级会商，给予解释 explained after review",
            "escalation_level": "company",
        },
    )
    assert open_tasks(ticket) == ["reply"]
    assert ticket.task("reply").candidate_groups == ("dept_billing",), "back to the department"
    assert last_completion(engine, ticket.number).details["passed"] == ["gw_refund", "gw_to_reply"]
    assert ticket.data["escalation_level"] == "company"
    assert ticket.data["refund_amount"] == 0
    assert ticket.data["refund_paid"] is False

    ticket = reply_and_close(engine, ticket)
    done = engine.tasks(ticket=ticket.number, state="completed", order_by="id", limit=100)
    assert [(t.element_id, t.completed_by) for t in done][4:] == [
        ("handle", "zhao.lei"),
        ("difficult_review", "liu.yang"),
        ("reply", "zhao.lei"),
        ("callback", "chen.jing"),
    ]
    assert ("task_completed", "difficult_review") in kinds(engine, ticket.number)


def test_difficult_review_decides_the_refund(engine: Engine) -> None:
    ticket = to_handling(engine, open_complaint(engine, data={"refunds_before": 3}))
    ticket = engine.complete(
        ticket.task("handle").id, Staff.billing, {"outcome": "escalate", "refund_amount": 50}
    )
    ticket = engine.complete(
        ticket.task("difficult_review").id,
        DIFFICULT,
        {
            "resolution": "退 300 元 refund 300",
            "escalation_level": "department",
            "refund_amount": 300,
        },
    )
    assert open_tasks(ticket) == ["approve_refund_l2"], (
        "the review's amount counts, not the handler's"
    )
    assert ticket.data["refund_amount"] == 300.0
    ticket = engine.complete(ticket.task("approve_refund_l2").id, MANAGER, {"approved": True})
    assert ticket.data["refund_paid"] is True
    reply_and_close(engine, ticket)


def test_difficult_review_can_cancel_the_handlers_refund(engine: Engine) -> None:
    ticket = to_handling(engine, open_complaint(engine))
    ticket = engine.complete(
        ticket.task("handle").id, Staff.billing, {"outcome": "escalate", "refund_amount": 80}
    )
    assert ticket.data["refund_amount"] == 80.0
    ticket = engine.complete(
        ticket.task("difficult_review").id,
        DIFFICULT,
        {
            "resolution": "不予退费 no refund due",
            "escalation_level": "department",
            "refund_amount": 0,
        },
    )
    assert ticket.data["refund_amount"] == 0
    assert open_tasks(ticket) == ["reply"]
    assert ticket.data["refund_paid"] is False


def test_no_refund_by_default(engine: Engine) -> None:
    ticket = handled(engine)
    assert ticket.data["refund_amount"] == 0.0, "the form's defaultValue"
    assert ticket.data["refunds_before"] == 0 and ticket.data["refund_paid"] is False
    assert open_tasks(ticket) == ["reply"]
    completed = last_completion(engine, ticket.number)
    assert completed.details["form"]["refund_amount"] == 0.0
    assert completed.details["passed"] == ["gw_handle", "gw_refund", "gw_to_reply"]


def test_level_1_refund_approved_by_the_team_lead(engine: Engine) -> None:
    ticket = handled(engine, refund_amount=80, refunds_before=1)
    assert open_tasks(ticket) == ["approve_refund_l1"]
    assert last_completion(engine, ticket.number).details["passed"] == [
        "gw_handle",
        "gw_refund",
        "gw_refund_first",
        "gw_refund_level",
    ]
    assert ticket.data["refund_paid"] is False
    lane, approver, outsiders = APPROVERS["approve_refund_l1"]
    assert_only_lane_may_complete(engine, ticket, "approve_refund_l1", lane, outsiders)

    ticket = engine.complete(
        ticket.task("approve_refund_l1").id,
        approver,
        {"approved": True, "approved_amount": 80, "approval_note": "属实 confirmed"},
    )
    assert ticket.data["refund_paid"] is True
    assert ticket.data["approved_amount"] == 80.0
    assert open_tasks(ticket) == ["reply"]
    completed = last_completion(engine, ticket.number)
    assert completed.actor == "he.ping"
    assert completed.details["passed"] == [
        "gw_approval_done",
        "gw_approved",
        "pay_refund",
        "gw_to_reply",
    ]
    assert completed.details["scripts"] == {
        "pay_refund": {"refund_paid": True, "refunds_before": 2}
    }
    assert ticket.data["refunds_before"] == 2, "the refund just paid counts from now on"
    reply_and_close(engine, ticket)


def test_level_2_refund_denied_by_the_department_manager(engine: Engine) -> None:
    ticket = handled(engine, refund_amount=500, refunds_before=1)
    assert open_tasks(ticket) == ["approve_refund_l2"]
    lane, approver, outsiders = APPROVERS["approve_refund_l2"]
    assert_only_lane_may_complete(engine, ticket, "approve_refund_l2", lane, outsiders)

    task = ticket.task("approve_refund_l2")
    with pytest.raises(FormValidationError) as info:
        engine.complete(task.id, approver, {"approval_note": "?"})
    assert set(info.value.errors) == {"approved"}

    ticket = engine.complete(
        task.id, approver, {"approved": False, "approval_note": "不符合退费规定 not refundable"}
    )
    assert ticket.data["refund_paid"] is False
    assert ticket.data["refunds_before"] == 1, "a refused refund does not count"
    assert open_tasks(ticket) == ["reply"]
    completed = last_completion(engine, ticket.number)
    assert completed.details["passed"] == ["gw_approval_done", "gw_approved", "gw_to_reply"]
    assert "scripts" not in completed.details or not completed.details["scripts"]
    reply_and_close(engine, ticket)


def test_level_3_refund_approved_by_the_centre_director(engine: Engine) -> None:
    ticket = handled(engine, refund_amount=5000, refunds_before=1)
    assert open_tasks(ticket) == ["approve_refund_l3"]
    lane, approver, outsiders = APPROVERS["approve_refund_l3"]
    assert_only_lane_may_complete(engine, ticket, "approve_refund_l3", lane, outsiders)

    ticket = engine.complete(
        ticket.task("approve_refund_l3").id, approver, {"approved": True, "approved_amount": 4800}
    )
    assert ticket.data["refund_paid"] is True
    assert ticket.data["approved_amount"] == 4800.0
    assert open_tasks(ticket) == ["reply"]
    reply_and_close(engine, ticket)


@pytest.mark.parametrize("verified", [True, False])
def test_first_time_refund_is_paid_first_and_verified_afterwards(
    engine: Engine, verified: bool
) -> None:
    ticket = handled(engine, refund_amount=150, refunds_before=0)
    # paid before anyone approved it; the team lead's verification is waiting
    assert ticket.data["refund_paid"] is True
    assert open_tasks(ticket) == ["verify_refund"]
    completed = last_completion(engine, ticket.number)
    assert completed.details["passed"] == [
        "gw_handle",
        "gw_refund",
        "gw_refund_first",
        "pay_first",
    ]
    assert completed.details["scripts"] == {"pay_first": {"refund_paid": True, "refunds_before": 1}}
    assert_only_lane_may_complete(
        engine, ticket, "verify_refund", "team_lead", [Staff.billing, MANAGER, DIRECTOR]
    )

    ticket = engine.complete(
        ticket.task("verify_refund").id,
        TEAM_LEAD,
        {"verified": verified, "verify_note": "核对账单 checked the bill"},
    )
    assert ticket.data["verified"] is verified
    assert ticket.data["refund_paid"] is True, "verification does not undo the payment"
    assert open_tasks(ticket) == ["reply"]
    assert last_completion(engine, ticket.number).details["passed"] == ["gw_to_reply"]
    ticket = reply_and_close(engine, ticket)
    done = [t.element_id for t in engine.tasks(ticket=ticket.number, state="completed", limit=100)]
    assert "approve_refund_l1" not in done and "verify_refund" in done


def test_repeat_customer_does_not_get_refund_first(engine: Engine) -> None:
    ticket = handled(engine, refund_amount=150, refunds_before=2)
    assert open_tasks(ticket) == ["approve_refund_l2"]
    assert ticket.task("approve_refund_l2").candidate_groups == ("dept_manager",)
    assert ticket.data["refund_paid"] is False


def test_refunds_before_defaults_to_zero(engine: Engine) -> None:
    assert open_complaint(engine).data["refunds_before"] == 0, "host passed no count"
    ticket = handled(engine, refund_amount=30)
    assert open_tasks(ticket) == ["verify_refund"], "so a small refund is paid first"
    assert ticket.data["refunds_before"] == 1


@pytest.mark.parametrize(
    ("amount", "refunds_before", "waiting", "paid"),
    [
        (0.01, 1, "approve_refund_l1", False),
        (100, 1, "approve_refund_l1", False),
        (100.01, 1, "approve_refund_l2", False),
        (1000, 1, "approve_refund_l2", False),
        (1000.01, 1, "approve_refund_l3", False),
        ("100", 1, "approve_refund_l1", False),
        (0.01, 0, "verify_refund", True),
        (100, 0, "verify_refund", True),
        (200, 0, "verify_refund", True),
        (200.01, 0, "approve_refund_l2", False),
        (1000, 0, "approve_refund_l2", False),
        (5000, 0, "approve_refund_l3", False),
        (0, 0, "reply", False),
    ],
)
def test_refund_routing_boundaries(
    engine: Engine, amount: float | str, refunds_before: int, waiting: str, paid: bool
) -> None:
    ticket = handled(engine, refund_amount=amount, refunds_before=refunds_before)
    assert open_tasks(ticket) == [waiting]
    assert ticket.data["refund_paid"] is paid
    if waiting in APPROVERS:
        assert ticket.task(waiting).candidate_groups == (APPROVERS[waiting][0],)


def test_negative_refund_amounts_are_rejected(engine: Engine) -> None:
    ticket = to_handling(engine, open_complaint(engine))
    handle = ticket.task("handle")
    for bad in (-1, -0.01, "-5"):
        with pytest.raises(FormValidationError) as info:
            engine.complete(handle.id, Staff.billing, {"outcome": "resolved", "refund_amount": bad})
        assert set(info.value.errors) == {"refund_amount"}
        assert "must be at least 0" in info.value.errors["refund_amount"]
    with pytest.raises(FormValidationError, match="field 'refund_amount': must be a number"):
        engine.complete(handle.id, Staff.billing, {"outcome": "resolved", "refund_amount": "lots"})
    assert open_tasks(engine.ticket(ticket.number)) == ["handle"], "nothing was stored"
    assert engine.ticket(ticket.number).data.get("refund_amount") is None

    ticket = engine.complete(handle.id, Staff.billing, {"outcome": "escalate"})
    with pytest.raises(FormValidationError) as info:
        engine.complete(
            ticket.task("difficult_review").id,
            DIFFICULT,
            {"resolution": "x", "escalation_level": "department", "refund_amount": -20},
        )
    assert set(info.value.errors) == {"refund_amount"}

    ticket = engine.complete(
        ticket.task("difficult_review").id,
        DIFFICULT,
        {"resolution": "x", "escalation_level": "department", "refund_amount": 20},
    )
    assert open_tasks(ticket) == ["verify_refund"]


def test_approved_amount_cannot_be_negative(engine: Engine) -> None:
    ticket = handled(engine, refund_amount=80, refunds_before=1)
    with pytest.raises(FormValidationError) as info:
        engine.complete(
            ticket.task("approve_refund_l1").id,
            TEAM_LEAD,
            {"approved": True, "approved_amount": -80},
        )
    assert set(info.value.errors) == {"approved_amount"}
    assert engine.ticket(ticket.number).data["refund_paid"] is False


def test_reopened_after_a_refund_keeps_it_paid(engine: Engine) -> None:
    ticket = handled(engine, refund_amount=80, refunds_before=1)
    ticket = engine.complete(ticket.task("approve_refund_l1").id, TEAM_LEAD, {"approved": True})
    ticket = engine.complete(ticket.task("reply").id, Staff.billing, {"reply": "已退 80 元"})
    ticket = callback(engine, ticket, satisfied=False)
    assert open_tasks(ticket) == ["handle"]
    # handled again without a further refund: straight to the reply, the refund stays paid
    ticket = engine.complete(
        ticket.task("handle").id, Staff.billing, {"outcome": "resolved", "refund_amount": 0}
    )
    assert open_tasks(ticket) == ["reply"]
    assert ticket.data["refund_paid"] is True and ticket.data["refund_amount"] == 0.0
    ticket = reply_and_close(engine, ticket)
    assert ticket.data["reopen_count"] == 1


def test_second_refund_of_a_reopened_ticket_is_not_paid_first(engine: Engine) -> None:
    ticket = handled(engine, refund_amount=150, refunds_before=0)
    assert open_tasks(ticket) == ["verify_refund"]
    assert ticket.data["refunds_before"] == 1
    ticket = engine.complete(ticket.task("verify_refund").id, TEAM_LEAD, {"verified": True})
    ticket = engine.complete(ticket.task("reply").id, Staff.billing, {"reply": "已退 150 元"})
    ticket = callback(engine, ticket, satisfied=False)
    # another 150 in the same ticket: no longer a first-time refund, so it needs approval
    ticket = engine.complete(
        ticket.task("handle").id, Staff.billing, {"outcome": "resolved", "refund_amount": 150}
    )
    assert open_tasks(ticket) == ["approve_refund_l2"]
    assert last_completion(engine, ticket.number).details["passed"] == [
        "gw_handle",
        "gw_refund",
        "gw_refund_first",
        "gw_refund_level",
    ]
    ticket = engine.complete(ticket.task("approve_refund_l2").id, MANAGER, {"approved": False})
    assert ticket.data["refunds_before"] == 1
    reply_and_close(engine, ticket)
