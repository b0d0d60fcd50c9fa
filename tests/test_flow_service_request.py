"""The service-request flow (服务请求, seed 002) through the real engine and store.

Registered by phone duty staff (channel ``hotline``) or by the customer on the web portal
(``portal``); remote resolution first, else dispatch -> handle, with unresolved or partly
resolved requests returned to dispatch; a callback with a 1-5 rating for hotline requests and
for portal customers who asked for one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ticketflow import (
    Engine,
    FixedClock,
    FormValidationError,
    PermissionDeniedError,
    TicketView,
    User,
)


class People:
    duty = User.of("zhang.san", groups=["duty_staff"])
    dispatcher = User.of("liu.yang", groups=["dispatcher"])
    wu = User.of("wu.gang", groups=["handler"])
    he = User.of("he.ping", groups=["handler"])
    callback = User.of("chen.jing", groups=["callback_agent"])


def kinds(engine: Engine, number: str) -> list[tuple[str, str | None]]:
    return [(e.kind, e.element_id) for e in engine.history(number)]


def waiting(ticket: TicketView) -> list[str]:
    return [t.element_id for t in ticket.open_tasks]


def open_request(engine: Engine, channel: str = "hotline", **kwargs: Any) -> TicketView:
    kwargs.setdefault("customer", "H-0731")
    kwargs.setdefault("data", {"summary": "HIS 挂号模块报错 registration module error"})
    return engine.open_ticket("service_request", channel=channel, **kwargs)


def remote(engine: Engine, ticket: TicketView, resolved: bool, **extra: Any) -> TicketView:
    form = {"problem_level": "medium", "resolved": resolved, **extra}
    return engine.complete(ticket.task("remote_support").id, People.duty, form)


def dispatch(
    engine: Engine, ticket: TicketView, handler: str, method: str = "onsite"
) -> TicketView:
    return engine.complete(
        ticket.task("dispatch_request").id,
        People.dispatcher,
        {"handler": handler, "planned_time": "2026-01-06", "method": method},
    )


def handle(engine: Engine, ticket: TicketView, user: User, outcome: str) -> TicketView:
    return engine.complete(
        ticket.task("handle_request").id,
        user,
        {
            "outcome": outcome,
            "cause": "数据库连接池耗尽 pool exhausted",
            "measures": "扩容 resized",
        },
    )


def rate(engine: Engine, ticket: TicketView, rating: Any, satisfied: bool = True) -> TicketView:
    return engine.complete(
        ticket.task("callback").id,
        People.callback,
        {"satisfied": satisfied, "rating": rating, "comment": "响应及时 quick"},
    )


# ---------------------------------------------------------------- remote resolution


def test_resolved_remotely_on_hotline_gets_a_callback(engine: Engine) -> None:
    ticket = open_request(engine, channel="hotline")
    assert ticket.number.startswith("FW-")
    assert ticket.status == "open"
    assert waiting(ticket) == ["remote_support"]
    task = ticket.task("remote_support")
    assert task.candidate_groups == ("duty_staff",)
    assert task.assignee is None
    assert task.due_at is None
    assert ticket.data["returns"] == 0
    assert ticket.data["wants_callback"] is False
    assert [f.id for f in engine.task(task.id).form] == ["problem_level", "resolved", "remote_note"]

    ticket = remote(engine, ticket, True, remote_note="远程重启服务 restarted remotely")
    assert waiting(ticket) == ["callback"]
    assert ticket.task("callback").candidate_groups == ("callback_agent",)
    assert ticket.task("callback").assignee is None
    assert ticket.data["problem_level"] == "medium"
    assert ticket.data["resolved"] is True

    ticket = rate(engine, ticket, 5)
    assert ticket.status == "closed"
    assert ticket.end_element == "end_rated"
    assert ticket.open_tasks == ()
    assert ticket.data["rating"] == 5
    assert ticket.data["satisfied"] is True
    assert ticket.data["returns"] == 0
    assert "handler" not in ticket.data
    assert kinds(engine, ticket.number) == [
        ("ticket_opened", None),
        ("task_created", "remote_support"),
        ("task_completed", "remote_support"),
        ("task_created", "callback"),
        ("task_completed", "callback"),
        ("ticket_closed", "end_rated"),
    ]
    history = engine.history(ticket.number)
    assert history[2].actor == "zhang.san"
    assert history[2].details["passed"] == ["gw_remote", "gw_to_callback", "gw_callback"]
    assert history[4].actor == "chen.jing"
    assert history[4].details["form"] == {
        "satisfied": True,
        "rating": 5,
        "comment": "响应及时 quick",
    }
    assert history[4].details["passed"] == ["end_rated"]


def test_resolved_remotely_on_portal_closes_without_callback(engine: Engine) -> None:
    ticket = open_request(engine, channel="portal")
    assert ticket.data["channel"] == "portal"
    ticket = remote(engine, ticket, True)

    assert ticket.status == "closed"
    assert ticket.end_element == "end_no_callback"
    assert ticket.open_tasks == ()
    assert ticket.data["remote_note"] is None
    assert "rating" not in ticket.data
    assert kinds(engine, ticket.number) == [
        ("ticket_opened", None),
        ("task_created", "remote_support"),
        ("task_completed", "remote_support"),
        ("ticket_closed", "end_no_callback"),
    ]
    assert engine.history(ticket.number)[2].details["passed"] == [
        "gw_remote",
        "gw_to_callback",
        "gw_callback",
        "end_no_callback",
    ]


def test_portal_customer_who_wants_a_callback_gets_one(engine: Engine) -> None:
    ticket = open_request(engine, channel="portal", data={"wants_callback": True})
    assert ticket.data["wants_callback"] is True
    assert engine.history(ticket.number)[0].details["data"] == {"wants_callback": True}

    ticket = remote(engine, ticket, True)
    assert waiting(ticket) == ["callback"]
    assert ticket.task("callback").candidate_groups == ("callback_agent",)

    ticket = rate(engine, ticket, 3, satisfied=False)
    assert ticket.status == "closed"
    assert ticket.end_element == "end_rated"
    assert ticket.data["satisfied"] is False
    assert ticket.data["rating"] == 3


# ---------------------------------------------------------------- dispatch and return


def test_partly_resolved_is_returned_and_redispatched_to_another_handler(engine: Engine) -> None:
    ticket = remote(engine, open_request(engine, channel="hotline"), False)
    assert waiting(ticket) == ["dispatch_request"]
    assert ticket.task("dispatch_request").candidate_groups == ("dispatcher",)
    assert ticket.task("dispatch_request").assignee is None

    ticket = dispatch(engine, ticket, "wu.gang")
    assert waiting(ticket) == ["handle_request"]
    first = ticket.task("handle_request")
    assert first.assignee == "wu.gang"
    assert first.candidate_groups == ("handler",)
    assert ticket.data["method"] == "onsite"
    assert ticket.data["planned_time"] == "2026-01-06"
    assert engine.tasks(assignee="wu.gang").total == 1
    # Another handler in the same group may not take a task dispatched to wu.gang.
    with pytest.raises(PermissionDeniedError):
        handle(engine, ticket, People.he, "resolved")

    ticket = handle(engine, ticket, People.wu, "partly")
    assert waiting(ticket) == ["dispatch_request"]
    assert ticket.data["outcome"] == "partly"
    assert ticket.data["returns"] == 1
    returned = engine.history(ticket.number)[-2]
    assert returned.kind == "task_completed" and returned.element_id == "handle_request"
    assert returned.actor == "wu.gang"
    assert returned.details["passed"] == ["gw_outcome", "count_return", "gw_to_dispatch"]
    assert returned.details["scripts"] == {"count_return": {"returns": 1}}
    assert returned.details["changes"]["returns"] == {"old": 0, "new": 1}

    ticket = dispatch(engine, ticket, "he.ping", method="remote")
    second = ticket.task("handle_request")
    assert second.id != first.id
    assert second.assignee == "he.ping"
    assert second.candidate_groups == ("handler",)
    assert ticket.data["handler"] == "he.ping"
    assert ticket.data["method"] == "remote"
    assert engine.tasks(assignee="he.ping").total == 1
    assert engine.tasks(assignee="wu.gang", state="open").total == 0

    ticket = handle(engine, ticket, People.he, "resolved")
    assert waiting(ticket) == ["callback"]  # hotline: callback
    ticket = rate(engine, ticket, 4)
    assert ticket.status == "closed"
    assert ticket.end_element == "end_rated"
    assert ticket.data["outcome"] == "resolved"
    assert ticket.data["returns"] == 1

    done = engine.tasks(ticket=ticket.number, state="completed", order_by="id", limit=100)
    assert [(t.element_id, t.completed_by) for t in done] == [
        ("remote_support", "zhang.san"),
        ("dispatch_request", "liu.yang"),
        ("handle_request", "wu.gang"),
        ("dispatch_request", "liu.yang"),
        ("handle_request", "he.ping"),
        ("callback", "chen.jing"),
    ]
    assert kinds(engine, ticket.number) == [
        ("ticket_opened", None),
        ("task_created", "remote_support"),
        ("task_completed", "remote_support"),
        ("task_created", "dispatch_request"),
        ("task_completed", "dispatch_request"),
        ("task_created", "handle_request"),
        ("task_completed", "handle_request"),
        ("task_created", "dispatch_request"),
        ("task_completed", "dispatch_request"),
        ("task_created", "handle_request"),
        ("task_completed", "handle_request"),
        ("task_created", "callback"),
        ("task_completed", "callback"),
        ("ticket_closed", "end_rated"),
    ]
    created = [e for e in engine.history(ticket.number) if e.kind == "task_created"]
    assert [e.details["assignee"] for e in created if e.element_id == "handle_request"] == [
        "wu.gang",
        "he.ping",
    ]


@pytest.mark.parametrize("outcome", ["partly", "unresolved"])
def test_each_unfinished_outcome_returns_to_dispatch(engine: Engine, outcome: str) -> None:
    ticket = dispatch(engine, remote(engine, open_request(engine), False), "wu.gang")
    ticket = handle(engine, ticket, People.wu, outcome)
    assert waiting(ticket) == ["dispatch_request"]
    assert ticket.data["returns"] == 1

    # A second return counts again.
    ticket = handle(engine, dispatch(engine, ticket, "wu.gang"), People.wu, outcome)
    assert waiting(ticket) == ["dispatch_request"]
    assert ticket.data["returns"] == 2
    assert ticket.status == "open"


def test_dispatched_portal_request_closes_without_callback(engine: Engine) -> None:
    ticket = remote(engine, open_request(engine, channel="portal"), False)
    ticket = dispatch(engine, ticket, "he.ping", method="phone")
    ticket = handle(engine, ticket, People.he, "resolved")

    assert ticket.status == "closed"
    assert ticket.end_element == "end_no_callback"
    assert ticket.data["returns"] == 0
    last = engine.history(ticket.number)[-2]
    assert last.element_id == "handle_request"
    assert last.details["passed"] == [
        "gw_outcome",
        "gw_to_callback",
        "gw_callback",
        "end_no_callback",
    ]
    assert kinds(engine, ticket.number)[-1] == ("ticket_closed", "end_no_callback")


# ---------------------------------------------------------------- forms and time limits


@pytest.mark.parametrize("bad", [0, 6, -1, "9"])
def test_rating_outside_one_to_five_is_refused(engine: Engine, bad: Any) -> None:
    ticket = remote(engine, open_request(engine, channel="hotline"), True)
    task_id = ticket.task("callback").id
    before = engine.history(ticket.number)

    with pytest.raises(FormValidationError) as caught:
        rate(engine, ticket, bad)
    assert set(caught.value.errors) == {"rating"}

    # Nothing was stored: still waiting at the same callback task.
    again = engine.ticket(ticket.number)
    assert again.status == "open"
    assert [t.id for t in again.open_tasks] == [task_id]
    assert "rating" not in again.data
    assert engine.history(ticket.number) == before

    ticket = rate(engine, again, 1)
    assert ticket.status == "closed"
    assert ticket.data["rating"] == 1


def test_callback_needs_satisfaction_and_rating(engine: Engine) -> None:
    ticket = remote(engine, open_request(engine), True)
    with pytest.raises(FormValidationError) as caught:
        engine.complete(ticket.task("callback").id, People.callback, {"comment": "x"})
    assert set(caught.value.errors) == {"satisfied", "rating"}


def test_dispatch_is_due_two_hours_after_it_opens(engine: Engine, clock: FixedClock) -> None:
    opened = clock.now()
    ticket = open_request(engine)
    assert ticket.opened_at == opened

    clock.advance(minutes=30)
    ticket = remote(engine, ticket, False)
    task = ticket.task("dispatch_request")
    assert task.created_at == opened + timedelta(minutes=30)
    assert task.due_at == task.created_at + timedelta(hours=2)
    created = engine.history(ticket.number)[-1]
    assert created.kind == "task_created" and created.element_id == "dispatch_request"
    assert created.details["due_at"] == (task.created_at + timedelta(hours=2)).isoformat()

    clock.advance(hours=1)
    ticket = dispatch(engine, ticket, "wu.gang")
    handling = ticket.task("handle_request")
    assert handling.created_at == clock.now()
    assert handling.due_at == clock.now() + timedelta(days=1)

    # Returned later: the new dispatch task has its own two hours.
    clock.advance(hours=5)
    ticket = handle(engine, ticket, People.wu, "unresolved")
    again = ticket.task("dispatch_request")
    assert again.created_at == clock.now()
    assert again.due_at == clock.now() + timedelta(hours=2)
