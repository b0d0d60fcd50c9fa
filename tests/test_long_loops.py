"""A ticket reopened hundreds of times keeps working, with bounded stored state.

SpiffWorkflow's task iterator stops at depth 1,000; without compaction a loop like this
one appears completed after about 333 cycles although it never reached its end event.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ticketflow import Engine, User
from ticketflow.store.models import WorkflowStateRow

from .bpmn_samples import loop_process
from .conftest import Staff
from .journeys import callback, open_complaint, resolve_and_reply, to_handling

CYCLES = 520


def stored_state(engine: Engine, ticket_id: int) -> WorkflowStateRow:
    with Session(engine.bind) as s:
        row = s.scalars(
            select(WorkflowStateRow).where(WorkflowStateRow.ticket_id == ticket_id)
        ).one()
        s.expunge(row)
        return row


def test_loop_far_past_spiffworkflow_depth_limit(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "loop.bpmn"
    path.write_text(loop_process(), encoding="utf-8")
    engine.deploy(path)
    worker = User.of("w", groups=["agents"])
    ticket = engine.open_ticket("loop", customer="C1", channel="web")
    sizes = set()
    lengths = []
    for i in range(CYCLES):
        ticket = engine.complete(ticket.task("work").id, worker, {"again": True})
        assert ticket.status == "open", f"cycle {i}: ticket ended early"
        assert [t.element_id for t in ticket.open_tasks] == ["work"]
        state = stored_state(engine, ticket.id)
        sizes.add(state.tree_size)
        lengths.append(len(state.state))
    assert ticket.data["rounds"] == CYCLES
    assert max(sizes) <= 12, sizes
    assert max(lengths) - min(lengths[10:]) < 200, "stored state does not grow with history"
    ticket = engine.complete(ticket.task("work").id, worker, {"again": False})
    assert ticket.status == "closed"
    assert ticket.end_element == "end"
    assert ticket.data["rounds"] == CYCLES + 1


def test_complaint_reopened_many_times(engine: Engine) -> None:
    ticket = resolve_and_reply(engine, to_handling(engine, open_complaint(engine)))
    first = stored_state(engine, ticket.id)
    for _ in range(60):
        ticket = resolve_and_reply(engine, callback(engine, ticket, satisfied=False))
    last = stored_state(engine, ticket.id)
    assert last.tree_size <= first.tree_size + 2
    assert abs(len(last.state) - len(first.state)) < 400
    ticket = callback(engine, ticket, satisfied=True)
    assert ticket.status == "closed"
    assert ticket.data["reopen_count"] == 60
    assert len(engine.history(ticket.number)) > 60 * 6
    callbacks = engine.tasks(
        ticket=ticket.number, state="completed", assignee=Staff.callback.id, limit=100
    )
    assert callbacks.total == 61
