"""State survives a restart of the host process: a second Engine on the same database."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ticketflow import Engine

from .conftest import PROCESSES, Staff
from .journeys import callback, open_complaint, resolve_and_reply, to_handling


def test_restart_mid_flow(make_engine: Callable[..., Engine]) -> None:
    first = make_engine()
    first.deploy(PROCESSES)
    ticket = to_handling(first, open_complaint(first))
    ticket = engine_step = first.complete(
        ticket.task("handle").id, Staff.billing, {"outcome": "resolved"}
    )
    history_before = first.history(ticket.number)
    first.close()

    second = make_engine()  # no deploy: definitions come from the database
    reloaded = second.ticket(ticket.number)
    assert reloaded == engine_step
    assert second.history(ticket.number) == history_before
    reply = reloaded.task("reply")
    assert second.tasks(candidate_groups=["dept_billing"]).items == (reply,)

    ticket = second.complete(reply.id, Staff.billing, {"reply": "已处理 done"})
    ticket = callback(second, ticket, satisfied=False)
    second.close()

    third = make_engine()
    ticket = callback(third, resolve_and_reply(third, third.ticket(ticket.number)), satisfied=True)
    assert ticket.status == "closed"
    assert ticket.data["reopen_count"] == 1


def test_many_tickets_keep_their_own_state(make_engine: Callable[..., Engine]) -> None:
    engine = make_engine()
    engine.deploy(PROCESSES)
    tickets = [open_complaint(engine, customer=f"C{i}") for i in range(6)]
    # Move each ticket a different distance along the flow.
    moved = []
    for i, t in enumerate(tickets):
        if i % 3 == 1:
            t = to_handling(engine, t)
        elif i % 3 == 2:
            t = resolve_and_reply(engine, to_handling(engine, t))
        moved.append(t)
    restarted = make_engine()
    for t in moved:
        again = restarted.ticket(t.number)
        assert again == t
    assert restarted.tasks(candidate_groups=["intake_agent"]).total == 2
    assert restarted.tasks(candidate_groups=["dept_billing"]).total == 2
    assert restarted.tasks(candidate_groups=["callback_agent"]).total == 2
    numbers = [t.number for t in moved]
    assert len(set(numbers)) == len(numbers)


def test_unreadable_state_is_a_clear_error_and_changes_nothing(
    make_engine: Callable[..., Engine],
) -> None:
    from sqlalchemy import update

    from ticketflow import StoreError
    from ticketflow.store.models import WorkflowStateRow

    engine = make_engine()
    engine.deploy(PROCESSES)
    ticket = open_complaint(engine)
    for broken in ("{not json", '{"format": 99}', '{"format": 1, "tasks": {}}'):
        with engine.bind.begin() as conn:
            conn.execute(update(WorkflowStateRow).values(state=broken))
        with pytest.raises(
            StoreError, match=f"ticket {ticket.number}: stored workflow state cannot be read"
        ):
            engine.complete(ticket.task("front_desk").id, Staff.agent, {"resolved": True})
        assert engine.ticket(ticket.number) == ticket
