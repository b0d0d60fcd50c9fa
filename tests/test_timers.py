"""BPMN timers on the engine's clock, fired by jobs; several workers, each timer once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

import ticketflow
from ticketflow import DefinitionError, Engine, FixedClock, User

from .bpmn_samples import HEADER

AGENT = User.of("a", groups=["agents"])
BOSS = User.of("b", groups=["supervisors"])


def timed_process(
    escalate_after: str = "PT2H", remind: str = "R2/PT30M", wait: str = "PT1H"
) -> str:
    return (
        HEADER
        + f"""  <bpmn:process id="timed" isExecutable="true">
    <bpmn:extensionElements><camunda:properties>
      <camunda:property name="ticketflow.default.reminders" value="0" />
    </camunda:properties></bpmn:extensionElements>
    <bpmn:laneSet id="ls">
      <bpmn:lane id="agents"><bpmn:flowNodeRef>work</bpmn:flowNodeRef><bpmn:flowNodeRef>after_wait</bpmn:flowNodeRef></bpmn:lane>
      <bpmn:lane id="supervisors"><bpmn:flowNodeRef>escalated</bpmn:flowNodeRef></bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="work" name="Work"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:boundaryEvent id="escalate_timer" attachedToRef="work"><bpmn:outgoing>f5</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">{escalate_after}</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:boundaryEvent id="remind_timer" attachedToRef="work" cancelActivity="false"><bpmn:outgoing>f7</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeCycle xsi:type="bpmn:tFormalExpression">{remind}</bpmn:timeCycle></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:scriptTask id="remind" scriptFormat="ticketflow"><bpmn:incoming>f7</bpmn:incoming><bpmn:outgoing>f8</bpmn:outgoing><bpmn:script>reminders = reminders + 1</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="end_reminded"><bpmn:incoming>f8</bpmn:incoming></bpmn:endEvent>
    <bpmn:userTask id="escalated" name="Escalated"><bpmn:incoming>f5</bpmn:incoming><bpmn:outgoing>f6</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end_escalated"><bpmn:incoming>f6</bpmn:incoming></bpmn:endEvent>
    <bpmn:intermediateCatchEvent id="wait"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">{wait}</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:userTask id="after_wait" name="After the wait"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work" />
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="wait" />
    <bpmn:sequenceFlow id="f3" sourceRef="wait" targetRef="after_wait" />
    <bpmn:sequenceFlow id="f4" sourceRef="after_wait" targetRef="end" />
    <bpmn:sequenceFlow id="f5" sourceRef="escalate_timer" targetRef="escalated" />
    <bpmn:sequenceFlow id="f6" sourceRef="escalated" targetRef="end_escalated" />
    <bpmn:sequenceFlow id="f7" sourceRef="remind_timer" targetRef="remind" />
    <bpmn:sequenceFlow id="f8" sourceRef="remind" targetRef="end_reminded" />
  </bpmn:process>
</bpmn:definitions>
"""
    )


@pytest.fixture
def timed(make_engine: Callable[..., Engine], tmp_path: Path) -> Engine:
    engine = make_engine(load_entry_points=False)
    (tmp_path / "timed.bpmn").write_text(timed_process(), encoding="utf-8")
    engine.deploy(tmp_path / "timed.bpmn")
    return engine


def waiting(engine: Engine, number: str) -> list[str]:
    return [t.element_id for t in engine.ticket(number).open_tasks]


def test_jobs_follow_the_timers_a_ticket_waits_on(timed: Engine, clock: FixedClock) -> None:
    ticket = timed.open_ticket("timed", customer="C1", channel="web")
    jobs = {j.element_id: j for j in timed.jobs(ticket=ticket.number)}
    assert set(jobs) == {"escalate_timer", "remind_timer"}
    assert jobs["escalate_timer"].due_at == ticket.opened_at + timedelta(hours=2)
    assert jobs["remind_timer"].due_at == ticket.opened_at + timedelta(minutes=30)
    assert timed.run_due().attempted == 0, "nothing is due yet"


def test_cycle_reminders_then_interrupting_escalation(timed: Engine, clock: FixedClock) -> None:
    ticket = timed.open_ticket("timed", customer="C1", channel="web")
    clock.advance(minutes=31)
    assert timed.run_due().fired == 1
    assert waiting(timed, ticket.number) == ["work"], "non-interrupting: the task stays"
    clock.advance(minutes=30)
    assert timed.run_due().fired == 1
    reminders = [e for e in timed.history(ticket.number) if e.kind == "timer_fired"]
    assert [e.element_id for e in reminders] == ["remind_timer", "remind_timer"]
    assert all(e.details["passed"][:2] == ["remind", "end_reminded"] for e in reminders)
    assert reminders[0].details["scripts"] == {"remind": {"reminders": 1}}
    clock.advance(minutes=30)
    assert timed.run_due().fired == 0, "R2: two reminders only"
    clock.advance(minutes=30)  # 2 h 1 min after opening
    assert timed.run_due().fired == 1
    after = timed.ticket(ticket.number)
    assert [t.element_id for t in after.open_tasks] == ["escalated"]
    kinds = [(e.kind, e.element_id) for e in timed.history(ticket.number)]
    assert ("timer_fired", "escalate_timer") in kinds
    assert ("task_cancelled", "work") in kinds
    assert timed.jobs(ticket=ticket.number) == [], "no timer left to wait for"
    after = timed.complete(after.task("escalated").id, BOSS, {})
    assert after.status == "closed" and after.end_element == "end_escalated"


def test_intermediate_timer_and_cancelled_boundary_jobs(timed: Engine, clock: FixedClock) -> None:
    ticket = timed.open_ticket("timed", customer="C1", channel="web")
    clock.advance(minutes=10)
    ticket = timed.complete(ticket.task("work").id, AGENT, {})
    assert ticket.open_tasks == ()
    (job,) = timed.jobs(ticket=ticket.number)
    assert (job.element_id, job.due_at) == ("wait", clock.now() + timedelta(hours=1))
    cancelled = timed.jobs(ticket=ticket.number, state="cancelled")
    assert {j.element_id for j in cancelled} == {"escalate_timer", "remind_timer"}
    clock.advance(minutes=59)
    assert timed.run_due().attempted == 0
    clock.advance(minutes=2)
    assert timed.run_due().fired == 1
    assert waiting(timed, ticket.number) == ["after_wait"]


def test_a_suspended_ticket_does_not_fire_until_resumed(timed: Engine, clock: FixedClock) -> None:
    from .conftest import Staff

    ticket = timed.open_ticket("timed", customer="C1", channel="web")
    timed.suspend(ticket.number, Staff.supervisor)
    clock.advance(hours=3)
    assert timed.run_due().skipped == 2
    assert waiting(timed, ticket.number) == ["work"]
    timed.resume(ticket.number, Staff.supervisor)
    clock.advance(minutes=6)
    timed.run_due()
    assert "escalated" in waiting(timed, ticket.number)


def test_date_timers_and_iso_text(
    make_engine: Callable[..., Engine], tmp_path: Path, clock: FixedClock
) -> None:
    engine = make_engine(load_entry_points=False)
    at = (clock.now() + timedelta(days=2)).isoformat()
    text = timed_process().replace(
        '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">PT1H</bpmn:timeDuration>',
        f'<bpmn:timeDate xsi:type="bpmn:tFormalExpression">{at}</bpmn:timeDate>',
    )
    (tmp_path / "dated.bpmn").write_text(text, encoding="utf-8")
    engine.deploy(tmp_path / "dated.bpmn")
    ticket = engine.open_ticket("timed", customer="C1", channel="web")
    ticket = engine.complete(ticket.task("work").id, AGENT, {})
    (job,) = engine.jobs(ticket=ticket.number)
    assert job.due_at == clock.now() + timedelta(days=2)


def test_unsafe_timer_expression_is_refused(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "bad.bpmn").write_text(timed_process(wait="__import__('os')"), encoding="utf-8")
    with pytest.raises(DefinitionError, match="unsafe or invalid timeDuration") as info:
        engine.deploy(tmp_path / "bad.bpmn")
    assert info.value.element_id == "wait"


def test_worker_threads_fire_each_timer_once(
    make_engine: Callable[..., Engine], tmp_path: Path, clock: FixedClock
) -> None:
    setup = make_engine(load_entry_points=False)
    (tmp_path / "t.bpmn").write_text(timed_process(remind="R1/PT10H"), encoding="utf-8")
    setup.deploy(tmp_path / "t.bpmn")
    numbers = [
        setup.open_ticket("timed", customer=f"C{i}", channel="web").number for i in range(40)
    ]
    clock.advance(hours=3)
    workers = [make_engine(load_entry_points=False) for _ in range(4)]
    barrier = threading.Barrier(4)
    fired: list[int] = []

    def run(e: Engine) -> None:
        barrier.wait()
        while (report := e.run_due(limit=5)).attempted:
            fired.append(report.fired)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sum(fired) == 40
    for number in numbers:
        events = [e for e in setup.history(number) if e.kind == "timer_fired"]
        assert [e.element_id for e in events] == ["escalate_timer"]
        assert waiting(setup, number) == ["escalated"]


def test_a_crashed_workers_jobs_are_taken_over(
    make_engine: Callable[..., Engine], tmp_path: Path, clock: FixedClock
) -> None:
    from ticketflow.jobs import LEASE

    crashed = make_engine(load_entry_points=False)
    (tmp_path / "t.bpmn").write_text(timed_process(), encoding="utf-8")
    crashed.deploy(tmp_path / "t.bpmn")
    ticket = crashed.open_ticket("timed", customer="C1", channel="web")
    clock.advance(hours=3)
    assert len(crashed.job_runner._claim(10)) == 2  # claimed, then the process dies
    survivor = make_engine(load_entry_points=False)
    assert survivor.run_due().attempted == 0, "leased jobs are not taken while the lease holds"
    clock.advance(LEASE + timedelta(seconds=1))
    assert survivor.run_due().fired >= 1
    assert "escalated" in waiting(survivor, ticket.number)
    fired = [e.element_id for e in survivor.history(ticket.number) if e.kind == "timer_fired"]
    assert fired.count("escalate_timer") == 1


def start_timer_process(kind: str, text: str, process_id: str = "nightly") -> str:
    return (
        HEADER
        + f"""  <bpmn:process id="{process_id}" isExecutable="true">
    <bpmn:laneSet id="ls"><bpmn:lane id="agents"><bpmn:flowNodeRef>check</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="every_night"><bpmn:outgoing>f1</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:{kind} xsi:type="bpmn:tFormalExpression">{text}</bpmn:{kind}></bpmn:timerEventDefinition>
    </bpmn:startEvent>
    <bpmn:userTask id="check" name="Check"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="every_night" targetRef="check" />
    <bpmn:sequenceFlow id="f2" sourceRef="check" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""
    )


def test_cycle_timer_start_event_opens_a_ticket_per_occurrence(
    make_engine: Callable[..., Engine], tmp_path: Path, clock: FixedClock
) -> None:
    # FixedClock starts at 2026-01-05 09:00 UTC; nightly at 02:00 Shanghai (18:00 UTC), 3 times.
    engine = make_engine(load_entry_points=False)
    (tmp_path / "n.bpmn").write_text(
        start_timer_process("timeCycle", "R3/2026-01-05T02:00:00+08:00/P1D"), encoding="utf-8"
    )
    engine.deploy(tmp_path / "n.bpmn")
    engine.deploy(tmp_path / "n.bpmn")  # redeploying does not schedule twice
    (job,) = [j for j in engine.jobs() if j.kind == "start"]
    assert job.due_at.isoformat() == "2026-01-05T18:00:00+00:00"
    opened = []
    for day in range(5):
        clock.set(job.due_at + timedelta(days=day, seconds=1))
        engine.run_due()
        opened = engine.tickets(process_id="nightly", limit=100).items
    # R3 from 4 Jan 18:00 UTC: the 4 Jan occurrence was past at deploy; 5 and 6 Jan remain.
    assert sorted(t.data["scheduled_at"] for t in opened) == [
        "2026-01-05T18:00:00+00:00",
        "2026-01-06T18:00:00+00:00",
    ]
    for ticket in opened:
        full = engine.ticket(ticket.number)
        assert [t.element_id for t in full.open_tasks] == ["check"], "starts at once"
        assert ticket.channel == "monitoring" and ticket.customer_id == "system"
    assert [j for j in engine.jobs() if j.kind == "start"] == []


@pytest.mark.parametrize(
    ("kind", "text", "after"),
    [
        ("timeDate", "2026-01-06T00:00:00Z", timedelta(hours=15)),
        ("timeDuration", "PT2H", timedelta(hours=2)),
    ],
)
def test_one_off_timer_start_events(
    make_engine: Callable[..., Engine],
    tmp_path: Path,
    clock: FixedClock,
    kind: str,
    text: str,
    after: timedelta,
) -> None:
    engine = make_engine(load_entry_points=False)
    (tmp_path / "n.bpmn").write_text(start_timer_process(kind, text), encoding="utf-8")
    engine.deploy(tmp_path / "n.bpmn")
    start = clock.now()
    clock.set(start + after - timedelta(seconds=1))
    assert engine.run_due().attempted == 0
    clock.set(start + after)
    assert engine.run_due().fired == 1
    clock.advance(days=30)
    engine.run_due()
    assert engine.tickets(process_id="nightly").total == 1


def test_a_new_version_reschedules_its_start_timer(
    make_engine: Callable[..., Engine], tmp_path: Path, clock: FixedClock
) -> None:
    engine = make_engine(load_entry_points=False)
    path = tmp_path / "n.bpmn"
    path.write_text(
        start_timer_process("timeCycle", "R/2026-01-05T02:00:00+08:00/P1D"), encoding="utf-8"
    )
    engine.deploy(path)
    path.write_text(
        start_timer_process("timeCycle", "R/2026-01-05T03:00:00+08:00/P1D"), encoding="utf-8"
    )
    engine.deploy(path)
    pending = [j for j in engine.jobs() if j.kind == "start"]
    assert [j.due_at.isoformat() for j in pending] == ["2026-01-05T19:00:00+00:00"]
    # Opening such a process by hand starts it at once too.
    ticket = engine.open_ticket("nightly", customer="C1", channel="web")
    assert [t.element_id for t in ticket.open_tasks] == ["check"]


ASYNC_PROCESS = (
    HEADER
    + """  <bpmn:process id="async_flow" isExecutable="true">
    <bpmn:laneSet id="ls"><bpmn:lane id="agents"><bpmn:flowNodeRef>first</bpmn:flowNodeRef><bpmn:flowNodeRef>second</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="first" name="First"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:serviceTask id="billing" camunda:asyncBefore="true" camunda:type="external" camunda:topic="boss.adjust">
      <bpmn:extensionElements><camunda:properties><camunda:property name="ticketflow.resultVariable" value="boss" /></camunda:properties></bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:userTask id="second" name="Second"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="first" />
    <bpmn:sequenceFlow id="f2" sourceRef="first" targetRef="billing" />
    <bpmn:sequenceFlow id="f3" sourceRef="billing" targetRef="second" />
    <bpmn:sequenceFlow id="f4" sourceRef="second" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""
)


class Boss:
    def __init__(self) -> None:
        self.down = True
        self.calls = 0

    @ticketflow.hookimpl
    def ticketflow_connector(self, call):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.down:
            raise ConnectionError("BOSS unreachable")
        return {"adjusted": True}


def test_async_continuation_commits_first_then_a_job_goes_on(
    make_engine: Callable[..., Engine], tmp_path: Path, clock: FixedClock
) -> None:
    boss = Boss()
    engine = make_engine(plugins=[boss], load_entry_points=False)
    engine.job_runner.max_attempts = 2
    (tmp_path / "a.bpmn").write_text(ASYNC_PROCESS, encoding="utf-8")
    engine.deploy(tmp_path / "a.bpmn")
    ticket = engine.open_ticket("async_flow", customer="C1", channel="web")
    ticket = engine.complete(ticket.task("first").id, AGENT, {})
    assert boss.calls == 0, "the service task does not run inside the user's step"
    assert ticket.open_tasks == () and ticket.status == "open"
    (job,) = engine.jobs(ticket=ticket.number)
    assert (job.kind, job.element_id) == ("continue", "billing")

    assert engine.run_due().retried == 1  # BOSS is down: retried with backoff
    (job,) = engine.jobs(ticket=ticket.number)
    assert job.attempts == 1 and "BOSS unreachable" in (job.last_error or "")
    assert engine.ticket(ticket.number).open_tasks == ()
    clock.advance(seconds=30)
    assert engine.run_due().dead == 1
    (incident,) = engine.incidents()
    assert incident.kind == "continue_failed" and "BOSS unreachable" in incident.message
    assert incident.ticket_number == ticket.number


def test_async_continuation_goes_on_when_the_system_answers(
    make_engine: Callable[..., Engine], tmp_path: Path
) -> None:
    boss = Boss()
    boss.down = False
    engine = make_engine(plugins=[boss], load_entry_points=False)
    (tmp_path / "a.bpmn").write_text(ASYNC_PROCESS, encoding="utf-8")
    engine.deploy(tmp_path / "a.bpmn")
    ticket = engine.open_ticket("async_flow", customer="C1", channel="web")
    engine.complete(ticket.task("first").id, AGENT, {})
    assert engine.run_due().fired == 1
    after = engine.ticket(ticket.number)
    assert [t.element_id for t in after.open_tasks] == ["second"]
    assert after.data["boss"] == {"adjusted": True}
    kinds = [(e.kind, e.element_id) for e in engine.history(ticket.number)]
    assert ("continued", "billing") in kinds
