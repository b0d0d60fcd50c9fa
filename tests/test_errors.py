"""Bad input gets a clear TicketflowError naming what and where, and stores nothing."""

from __future__ import annotations

import pytest

from ticketflow import (
    Engine,
    FormValidationError,
    InvalidDataError,
    PermissionDeniedError,
    TaskNotFoundError,
    TaskStateError,
    TicketflowError,
    TicketNotFoundError,
    UnknownProcessError,
    User,
)
from ticketflow.errors import DataLimitError

from .conftest import Staff
from .journeys import open_complaint, to_handling


def test_unknown_process(engine: Engine) -> None:
    with pytest.raises(
        UnknownProcessError, match=r"unknown process 'complain' \(deployed: .*\bcomplaint\b"
    ):
        engine.open_ticket("complain", customer="C1", channel="hotline")
    assert engine.tickets().total == 0


def test_unknown_process_before_any_deploy(make_engine) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnknownProcessError, match="nothing deployed yet"):
        make_engine().open_ticket("complaint", customer="C1", channel="hotline")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"channel": "pigeon"}, r"unknown channel 'pigeon'; known channels: hotline"),
        ({"customer": ""}, "customer must be a non-empty id"),
        ({"priority": 101}, "priority must be an integer from 0 to 100"),
        ({"priority": True}, "priority must be an integer"),
        ({"data": {"bad key": 1}}, "key 'bad key' is not a valid name"),
        ({"data": {"_private": 1}}, "key '_private' is not a valid name"),
        ({"data": {"when": object()}}, "must be JSON data"),
        ({"data": ["not", "a", "mapping"]}, "must be a mapping, got list"),
    ],
)
def test_bad_open_arguments(engine: Engine, kwargs: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidDataError, match=message):
        open_complaint(engine, **kwargs)
    assert engine.tickets().total == 0


def test_ticket_data_size_limit(make_engine) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(max_data_bytes=2000)
    engine.deploy("processes")
    with pytest.raises(DataLimitError, match=r"open_ticket data is \d+ bytes; the limit is 2000"):
        open_complaint(engine, data={"text": "x" * 3000})
    ticket = open_complaint(engine)
    with pytest.raises(DataLimitError, match=f"ticket {ticket.number} data is"):
        engine.complete(
            ticket.task("front_desk").id, Staff.agent, {"resolved": False, "note": "y" * 2500}
        )
    assert engine.ticket(ticket.number) == ticket, "the failed step stored nothing"


def test_missing_required_field(engine: Engine) -> None:
    ticket = open_complaint(engine)
    task = ticket.task("front_desk")
    with pytest.raises(FormValidationError) as info:
        engine.complete(task.id, Staff.agent, {"note": "called back"})
    assert info.value.errors == {"resolved": "required (boolean)"}
    assert f"task {task.id} 'front_desk'" in str(info.value)
    assert ticket.number in str(info.value)
    assert engine.ticket(ticket.number) == ticket


def test_mistyped_and_unknown_fields(engine: Engine) -> None:
    ticket = to_handling(engine, open_complaint(engine))
    handle = ticket.task("handle")
    with pytest.raises(FormValidationError) as info:
        engine.complete(
            handle.id, Staff.billing, {"outcome": "fixed", "result": 42, "colour": "red"}
        )
    assert set(info.value.errors) == {"outcome", "result", "colour"}
    assert (
        "must be one of resolved, transfer, return, escalate; got 'fixed'"
        in info.value.errors["outcome"]
    )
    assert "must be a string, got int 42" in info.value.errors["result"]
    assert "not a field of this task" in info.value.errors["colour"]


def test_typed_fields_are_coerced_and_checked(engine: Engine) -> None:
    ticket = to_handling(engine, open_complaint(engine))
    ticket = engine.complete(ticket.task("handle").id, Staff.billing, {"outcome": "resolved"})
    ticket = engine.complete(ticket.task("reply").id, Staff.billing, {"reply": "ok"})
    cb = ticket.task("callback")
    with pytest.raises(
        FormValidationError, match=r"field 'score': must be an integer \(long\), got 'high'"
    ):
        engine.complete(cb.id, Staff.callback, {"satisfied": True, "score": "high"})
    with pytest.raises(FormValidationError, match="field 'satisfied': must be a boolean"):
        engine.complete(cb.id, Staff.callback, {"satisfied": "maybe"})
    ticket = engine.complete(cb.id, Staff.callback, {"satisfied": "true", "score": "95"})
    assert ticket.data["satisfied"] is True and ticket.data["score"] == 95


def test_completing_a_task_twice(engine: Engine) -> None:
    ticket = open_complaint(engine)
    task = ticket.task("front_desk")
    engine.complete(task.id, Staff.agent, {"resolved": False})
    with pytest.raises(
        TaskStateError, match=rf"task {task.id} 'front_desk' .* already completed by 'li.na'"
    ):
        engine.complete(task.id, Staff.agent, {"resolved": False})


def test_task_that_is_not_yours(engine: Engine) -> None:
    ticket = open_complaint(engine)
    task = ticket.task("front_desk")
    with pytest.raises(
        PermissionDeniedError,
        match=r"user 'guest' may not complete task .* none of its candidate groups \(intake_agent\)",
    ):
        engine.complete(task.id, Staff.outsider, {"resolved": True})
    other_agent = User.of("liu.yang", groups=["intake_agent"])
    engine.claim(task.id, other_agent)
    with pytest.raises(PermissionDeniedError, match="it is assigned to 'liu.yang'"):
        engine.complete(task.id, Staff.agent, {"resolved": True})
    with pytest.raises(TaskStateError, match="already claimed by 'liu.yang'"):
        engine.claim(task.id, Staff.agent)
    with pytest.raises(PermissionDeniedError, match="may not unclaim"):
        engine.unclaim(task.id, Staff.agent)
    assert engine.ticket(ticket.number).status == "open"


def test_region_scope(engine: Engine) -> None:
    ticket = open_complaint(engine, region="jinan")
    qingdao_agent = User.of("qd.agent", groups=["intake_agent"], region="qingdao")
    with pytest.raises(
        PermissionDeniedError, match="the ticket is in region 'jinan', the user in 'qingdao'"
    ):
        engine.claim(ticket.task("front_desk").id, qingdao_agent)


def test_unknown_ticket_and_task(engine: Engine) -> None:
    with pytest.raises(TicketNotFoundError, match="ticket 'TS-19990101-000001' does not exist"):
        engine.ticket("TS-19990101-000001")
    with pytest.raises(TicketNotFoundError):
        engine.history("nope")
    with pytest.raises(TaskNotFoundError, match="task 999 does not exist"):
        engine.complete(999, Staff.agent, {})
    with pytest.raises(InvalidDataError, match="a task id is an integer"):
        engine.claim("1", Staff.agent)  # type: ignore[arg-type]


def test_suspended_ticket_refuses_work(engine: Engine) -> None:
    ticket = open_complaint(engine)
    task = ticket.task("front_desk")
    with pytest.raises(PermissionDeniedError, match="may not suspend ticket .* supervisor role"):
        engine.suspend(ticket.number, Staff.agent)
    ticket = engine.suspend(ticket.number, Staff.supervisor, reason="客户出差 customer away")
    assert ticket.status == "suspended"
    assert ticket.open_tasks[0].state == "suspended"
    assert engine.tasks(candidate_groups=["intake_agent"]).total == 0
    with pytest.raises(TaskStateError, match="ticket .* is suspended"):
        engine.complete(task.id, Staff.agent, {"resolved": True})
    with pytest.raises(TaskStateError, match="is suspended"):
        engine.claim(task.id, Staff.agent)
    with pytest.raises(TaskStateError, match="only an open ticket can be suspended"):
        engine.suspend(ticket.number, Staff.supervisor)
    ticket = engine.resume(ticket.number, Staff.supervisor)
    assert ticket.status == "open" and ticket.open_tasks[0].state == "open"
    ticket = engine.complete(task.id, Staff.agent, {"resolved": True})
    assert ticket.status == "closed"
    with pytest.raises(TaskStateError, match="only a suspended ticket can be resumed"):
        engine.resume(ticket.number, Staff.supervisor)
    kinds = [e.kind for e in engine.history(ticket.number)]
    assert kinds.count("ticket_suspended") == 1 and kinds.count("ticket_resumed") == 1
    suspended = next(e for e in engine.history(ticket.number) if e.kind == "ticket_suspended")
    assert suspended.actor == "zhou.min" and suspended.details == {
        "reason": "客户出差 customer away"
    }


def test_bad_worklist_arguments(engine: Engine) -> None:
    with pytest.raises(InvalidDataError, match="order_by must be one of"):
        engine.tasks(order_by="name; drop table")
    with pytest.raises(InvalidDataError, match="limit must be an integer from 1 to 1000"):
        engine.tasks(limit=0)
    with pytest.raises(InvalidDataError, match="offset must be a non-negative integer"):
        engine.tasks(offset=-1)


def test_every_error_is_a_ticketflow_error() -> None:
    import ticketflow.errors as errors

    for name in dir(errors):
        obj = getattr(errors, name)
        if (
            isinstance(obj, type)
            and issubclass(obj, Exception)
            and obj.__module__ == errors.__name__
        ):
            assert issubclass(obj, TicketflowError), name


def test_optional_field_left_out_keeps_the_tickets_value(engine: Engine) -> None:
    ticket = to_handling(engine, open_complaint(engine))
    ticket = engine.complete(ticket.task("handle").id, Staff.billing, {"outcome": "return"})
    named = engine.complete(
        ticket.task("dispatch").id,
        Staff.back_office,
        {"department": "dept_billing", "handler": "zhao.lei"},
    )
    assert named.task("handle").assignee == "zhao.lei"
    # Returned again and re-dispatched without naming a handler: the ticket keeps its handler.
    again = engine.complete(named.task("handle").id, Staff.billing, {"outcome": "return"})
    kept = engine.complete(
        again.task("dispatch").id, Staff.back_office, {"department": "dept_billing"}
    )
    assert kept.data["handler"] == "zhao.lei" and kept.task("handle").assignee == "zhao.lei"
    # Sent empty, the field is cleared.
    again = engine.complete(kept.task("handle").id, Staff.billing, {"outcome": "return"})
    cleared = engine.complete(
        again.task("dispatch").id, Staff.back_office, {"department": "dept_billing", "handler": ""}
    )
    assert cleared.data["handler"] is None and cleared.task("handle").assignee is None
