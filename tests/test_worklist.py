"""Worklist queries: filters, sorting and pagination over task rows."""

from __future__ import annotations

from datetime import timedelta

from ticketflow import Engine, FixedClock

from .conftest import Staff
from .journeys import open_complaint, to_handling


def test_filters_sorting_and_pages(engine: Engine, clock: FixedClock) -> None:
    opened = []
    for i, (tier, region) in enumerate(
        [
            ("ordinary", "jinan"),
            ("vip", "qingdao"),
            ("gold", "jinan"),
            (None, "yantai"),
            ("vip", "jinan"),
        ]
    ):
        opened.append(open_complaint(engine, customer=f"C{i}", customer_tier=tier, region=region))
        clock.advance(minutes=10)
    queue = engine.tasks(candidate_groups=["intake_agent"], order_by="priority", descending=True)
    assert queue.total == 5
    assert [t.priority for t in queue] == [90, 90, 70, 50, 50]
    assert [t.ticket_number for t in queue][:2] == [opened[1].number, opened[4].number], (
        "ties by id"
    )

    assert engine.tasks(region="jinan").total == 3
    assert engine.tasks(min_priority=70).total == 3
    assert engine.tasks(process_id="complaint").total == 5
    assert engine.tasks(process_id="repair").total == 0
    assert engine.tasks(candidate_groups=["back_office"]).total == 0

    page1 = engine.tasks(order_by="created_at", limit=2)
    page2 = engine.tasks(order_by="created_at", limit=2, offset=2)
    page3 = engine.tasks(order_by="created_at", limit=2, offset=4)
    assert page1.total == page2.total == page3.total == 5
    seen = [t.ticket_number for p in (page1, page2, page3) for t in p]
    assert seen == [t.number for t in opened]

    engine.claim(opened[0].task("front_desk").id, Staff.agent)
    assert [t.ticket_number for t in engine.tasks(assignee=Staff.agent.id)] == [opened[0].number]
    assert engine.tasks(candidate_groups=["intake_agent"], unassigned=True).total == 4
    assert engine.tasks(candidate_groups=["intake_agent"], unassigned=False).total == 1
    engine.unclaim(opened[0].task("front_desk").id, Staff.agent)
    assert engine.tasks(assignee=Staff.agent.id).total == 0


def test_due_before_and_due_dates(make_engine, clock: FixedClock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from .bpmn_samples import loop_process

    engine = make_engine()
    text = loop_process().replace(
        '<bpmn:userTask id="work" name="Work">',
        '<bpmn:userTask id="work" name="Work" camunda:dueDate="PT4H">',
    )
    (tmp_path / "loop.bpmn").write_text(text, encoding="utf-8")
    engine.deploy(tmp_path / "loop.bpmn")
    first = engine.open_ticket("loop", customer="A", channel="web")
    clock.advance(hours=2)
    second = engine.open_ticket("loop", customer="B", channel="web")
    assert first.open_tasks[0].due_at == first.opened_at + timedelta(hours=4)
    overdue_at = clock.now() + timedelta(hours=2, minutes=30)
    due = engine.tasks(due_before=overdue_at)
    assert [t.ticket_number for t in due] == [first.number]
    by_due = engine.tasks(order_by="due_at", descending=True)
    assert [t.ticket_number for t in by_due] == [second.number, first.number]


def test_history_of_a_dispatched_ticket_reads_like_a_journey(engine: Engine) -> None:
    ticket = to_handling(engine, open_complaint(engine))
    events = engine.history(ticket.number)
    assert [(e.kind, e.element_id, e.actor) for e in events if e.kind == "task_completed"] == [
        ("task_completed", "front_desk", "li.na"),
        ("task_completed", "record", "li.na"),
        ("task_completed", "classify", "wang.wei"),
        ("task_completed", "dispatch", "wang.wei"),
    ]
    dispatch = next(e for e in events if e.element_id == "dispatch" and e.kind == "task_completed")
    assert dispatch.details["changes"]["department"] == {"old": None, "new": "dept_billing"}
    created = events[-1]
    assert created.kind == "task_created" and created.element_id == "handle"
    assert created.details["candidate_groups"] == ["dept_billing"]
    assert all(e.at.tzinfo is not None for e in events)
