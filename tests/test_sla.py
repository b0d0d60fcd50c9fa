"""SLA: due times, reminders, escalation and breach in business time, across a holiday."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

import ticketflow
from ticketflow import Engine, FixedClock
from ticketflow.hooks.types import CustomerInfo, Notification
from ticketflow.time.calendar import BusinessCalendar
from ticketflow.time.sla import SlaPolicy

from .conftest import PROCESSES, Staff
from .journeys import open_complaint

SH = ZoneInfo("Asia/Shanghai")


def shanghai(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH).astimezone(timezone.utc)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, float | None]] = []
        self.sent: list[Notification] = []

    @ticketflow.hookimpl
    def ticketflow_sla_event(self, ctx, ticket, task, kind, level) -> None:  # type: ignore[no-untyped-def]
        self.events.append((kind, level))

    @ticketflow.hookimpl
    def ticketflow_customer_lookup(self, customer_id: str) -> CustomerInfo | None:
        if customer_id == "C-VIP":
            return CustomerInfo(customer_id, tier="vip", account_manager="am.liu")
        return None

    @ticketflow.hookimpl
    def ticketflow_notify(self, message: Notification) -> bool:
        self.sent.append(message)
        return True


CONTACTS = {"intake_agent": "13800000001", "supervisor": "13800000002", "am.liu": "13800000003"}


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def sla_engine(make_engine: Callable[..., Engine], clock: FixedClock, recorder: Recorder) -> Engine:
    clock.set(shanghai(2025, 9, 30, 16, 0))  # the afternoon before National Day
    policy = SlaPolicy(
        step_limits={"front_desk": timedelta(hours=8)},
        calendars=BusinessCalendar(),
        contacts=CONTACTS.get,
    )
    engine = make_engine(sla=policy, plugins=[recorder], load_entry_points=False)
    engine.deploy(PROCESSES)
    return engine


def sla_events(engine: Engine, number: str) -> list[tuple[str, datetime, object]]:
    return [
        (e.kind, e.at, e.details.get("level"))
        for e in engine.history(number)
        if e.kind.startswith(("sla_", "ticket_sla"))
    ]


def test_reminders_and_breach_at_business_instants_across_national_day(
    sla_engine: Engine, clock: FixedClock, recorder: Recorder
) -> None:
    ticket = open_complaint(sla_engine)
    task = ticket.task("front_desk")
    # 8 business hours from Tue 30 Sep 16:00: 2 h that day, 1-8 Oct are holidays,
    # then Thu 9 Oct 09:00-12:00 and 13:30-16:30.
    assert task.due_at == shanghai(2025, 10, 9, 16, 30)
    # The ticket: 48 business hours (normal urgency, ordinary customer).
    assert ticket.due_at == BusinessCalendar().add(ticket.opened_at, timedelta(hours=48))

    expected = [
        ("sla_reminder", shanghai(2025, 10, 9, 11, 0), 0.5),  # 4 h: 2 h + 09:00-11:00
        ("sla_reminder", shanghai(2025, 10, 9, 14, 54), 0.8),  # 6 h 24 min
        ("sla_breached", shanghai(2025, 10, 9, 16, 30), None),
    ]
    clock.set(shanghai(2025, 10, 8, 23, 59))  # the whole holiday passes: nothing is due
    assert sla_engine.run_due().attempted == 0
    for kind, at, _level in expected:
        clock.set(at - timedelta(minutes=1))
        assert sla_engine.run_due().fired == 0, f"{kind} fired early"
        clock.set(at)
        assert sla_engine.run_due().fired == 1, kind
    assert sla_events(sla_engine, ticket.number) == expected
    assert recorder.events == [("reminder", 0.5), ("reminder", 0.8), ("breach", None)]

    escalated = sla_engine.task(task.id)
    assert escalated.candidate_groups == ("intake_agent", "supervisor")
    assert escalated.priority == 95
    assert sla_engine.tasks(candidate_groups=["supervisor"]).total == 1
    sla_engine.deliver_outbox()
    assert [(m.to, m.recipient_role) for m in recorder.sent] == [
        ("13800000001", "handler"),
        ("13800000001", "handler"),
        ("13800000001", "supervisor"),
        ("13800000002", "supervisor"),
    ]
    assert "催办 Reminder" in recorder.sent[0].body


def test_completed_tasks_are_not_reminded(sla_engine: Engine, clock: FixedClock) -> None:
    ticket = open_complaint(sla_engine)
    ticket = sla_engine.complete(ticket.task("front_desk").id, Staff.agent, {"resolved": False})
    clock.set(shanghai(2025, 10, 20, 9, 0))
    sla_engine.run_due()
    kinds = [k for k, _, _ in sla_events(sla_engine, ticket.number)]
    assert "sla_breached" in kinds  # the record task, left alone, breached
    assert all(
        e.element_id != "front_desk"
        for e in sla_engine.history(ticket.number)
        if e.kind.startswith("sla_")
    )


def test_suspension_stops_the_clock(sla_engine: Engine, clock: FixedClock) -> None:
    ticket = open_complaint(sla_engine)
    due = ticket.task("front_desk").due_at
    clock.set(shanghai(2025, 9, 30, 17, 0))
    sla_engine.suspend(ticket.number, Staff.supervisor, reason="customer asked to wait")
    clock.set(shanghai(2025, 10, 9, 10, 0))  # 1 business hour on 30 Sep + 1 h on 9 Oct
    assert sla_engine.run_due().fired == 0, "no reminder while suspended"
    resumed = sla_engine.resume(ticket.number, Staff.supervisor)
    assert resumed.task("front_desk").due_at == BusinessCalendar().add(due, timedelta(hours=2))
    assert resumed.due_at == BusinessCalendar().add(ticket.due_at, timedelta(hours=2))
    # The 50 % reminder moves from 11:00 by 2 business hours: 11:00-12:00, lunch, 13:30-14:30.
    clock.set(shanghai(2025, 10, 9, 14, 29))
    assert sla_engine.run_due().fired == 0
    clock.set(shanghai(2025, 10, 9, 14, 30))
    assert sla_engine.run_due().fired == 1
    assert [e.kind for e in sla_engine.history(ticket.number)][-1] == "sla_reminder"


def test_vip_breach_alerts_the_account_manager_and_the_ticket_breaches(
    sla_engine: Engine, clock: FixedClock, recorder: Recorder
) -> None:
    ticket = open_complaint(sla_engine, customer="C-VIP")
    assert ticket.customer_tier == "vip"
    # VIP, normal urgency: 16 business hours for the ticket.
    assert ticket.due_at == BusinessCalendar().add(ticket.opened_at, timedelta(hours=16))
    clock.set(shanghai(2025, 11, 3, 9, 0))
    sla_engine.run_due(limit=50)
    after = sla_engine.ticket(ticket.number)
    assert after.sla_breached_at == clock.now()
    kinds = [k for k, _, _ in sla_events(sla_engine, ticket.number)]
    assert kinds.count("ticket_sla_breached") == 1 and "sla_breached" in kinds
    sla_engine.deliver_outbox()
    assert "13800000003" in {m.to for m in recorder.sent}, "the account manager is told"
    assert ("ticket_breach", None) in recorder.events


def test_urgency_from_the_form_tightens_the_ticket_limit(sla_engine: Engine) -> None:
    ticket = open_complaint(sla_engine)
    ticket = sla_engine.complete(ticket.task("front_desk").id, Staff.agent, {"resolved": False})
    ticket = sla_engine.complete(
        ticket.task("record").id, Staff.agent, {"description": "no signal", "urgency": "critical"}
    )
    assert ticket.due_at == BusinessCalendar().add(ticket.opened_at, timedelta(hours=8))
    pending = [j for j in sla_engine.jobs(ticket=ticket.number) if j.element_id is None]
    assert [j.due_at for j in pending] == [ticket.due_at], (
        "one ticket breach job, at the new due time"
    )


def test_policy_validation() -> None:
    with pytest.raises(ValueError, match="reminder levels"):
        SlaPolicy(reminders=(0.5, 1.2))
    with pytest.raises(ValueError, match="step_fraction"):
        SlaPolicy(step_fraction=0)
    policy = SlaPolicy()
    assert policy.ticket_limit("urgent", "vip") == timedelta(hours=8)
    assert policy.ticket_limit("urgent", "silver") == timedelta(hours=24)
    assert policy.step_limit("handle", "normal", None) == timedelta(hours=12)


def test_compliance_and_overdue_reports(sla_engine: Engine, clock: FixedClock) -> None:
    from ticketflow.reports import overdue, sla_compliance

    from .journeys import to_handling

    on_time = open_complaint(sla_engine, region="jinan")
    sla_engine.complete(on_time.task("front_desk").id, Staff.agent, {"resolved": True})
    late = open_complaint(sla_engine, region="qingdao")
    handled = to_handling(sla_engine, open_complaint(sla_engine, region="jinan"))
    clock.set(shanghai(2025, 10, 20, 9, 0))  # long after every limit
    sla_engine.complete(late.task("front_desk").id, Staff.agent, {"resolved": True})

    by_department = {r.key: r for r in sla_compliance(sla_engine, "department")}
    intake = by_department["intake_agent"]
    # front desk on time (1), front desk late (1), and the handled ticket's intake steps
    # (front desk, record) done on 30 Sep: on time.
    assert (intake.completed, intake.on_time, intake.late) == (4, 3, 1)
    assert intake.compliance == 0.75
    assert by_department["dept_billing"].open_overdue == 1  # the handle task waits
    by_region = {r.key: r for r in sla_compliance(sla_engine, "region")}
    assert by_region["qingdao"].late == 1 and by_region["jinan"].late == 0
    by_category = {r.key for r in sla_compliance(sla_engine, "category")}
    assert "计费 billing" in by_category

    lists = overdue(sla_engine, "region")
    assert [t.element_id for t in lists["jinan"]] == ["handle"]
    assert lists["jinan"][0].ticket_number == handled.number
    assert lists["jinan"][0].overdue_by_hours > 24
    with pytest.raises(ticketflow.InvalidDataError, match="report dimension"):
        sla_compliance(sla_engine, "colour")
