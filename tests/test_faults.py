"""Fault injection: killed processes, dropped connections and races leave no partial state.

Runs on SQLite and, with TICKETFLOW_TEST_DATABASE_URL set, on PostgreSQL; a case that
cannot work on one backend is skipped with the reason. Each test prints one
``[faults]`` line with what it injected (kills, drops, races, iterations) and how long
it took, so docs/reliability.md can quote the figures.

1. SIGKILL inside a step (tests/fault_scripts/die_mid_step.py freezes a child process in
   an in-transaction hook, or just before its COMMIT, after flushing the step's writes).
2. A database connection dropped inside a step (PostgreSQL: pg_terminate_backend of the
   engine's own backend; both: the DBAPI connection closed under the engine; SQLite:
   sqlite3 errors raised by the driver, and a lock held by another process).
3. Races: complete against suspend on one ticket; two workers on one timer job; worker
   threads whose leases keep running out while they fire.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import pytest
import sqlalchemy.exc
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.orm import Session

import ticketflow
from ticketflow import (
    ConcurrencyError,
    Engine,
    FixedClock,
    TaskStateError,
    TicketflowError,
    User,
)
from ticketflow.jobs import LEASE
from ticketflow.runtime.instance import Instance
from ticketflow.store import database
from ticketflow.store.models import Base, EventRow, JobRow, TaskRow, TicketRow, WorkflowStateRow

from .bpmn_samples import HEADER
from .conftest import PG_URL, PROCESSES, Staff
from .journeys import open_complaint

hookimpl = ticketflow.hookimpl
BACKEND = "postgresql" if PG_URL else "sqlite"
SCRIPT = Path(__file__).parent / "fault_scripts" / "die_mid_step.py"
SUPERVISOR = User.of("boss", groups=["supervisors"])

TIMER_PROCESS = (
    HEADER
    + """  <bpmn:process id="fault_timer" isExecutable="true">
    <bpmn:laneSet id="ls">
      <bpmn:lane id="agents"><bpmn:flowNodeRef>work</bpmn:flowNodeRef></bpmn:lane>
      <bpmn:lane id="supervisors"><bpmn:flowNodeRef>escalated</bpmn:flowNodeRef></bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="work" name="Work"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:boundaryEvent id="escalate_timer" attachedToRef="work"><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">PT2H</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:userTask id="escalated" name="Escalated"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end_escalated"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work" />
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end" />
    <bpmn:sequenceFlow id="f3" sourceRef="escalate_timer" targetRef="escalated" />
    <bpmn:sequenceFlow id="f4" sourceRef="escalated" targetRef="end_escalated" />
  </bpmn:process>
</bpmn:definitions>
"""
)


# --- helpers ---------------------------------------------------------------------------


def say(capsys: pytest.CaptureFixture[str], line: str) -> None:
    """Print the test's summary line past pytest's capture (it shows in CI logs)."""
    with capsys.disabled():
        print(f"\n[faults] {BACKEND}: {line}", flush=True)


@pytest.fixture
def setup(make_engine: Callable[..., Engine], tmp_path: Path) -> Engine:
    """An engine without test plugins, with the complaint process and a timer process.

    (Not every shipped process: the nightly import's timer start event would fire too.)
    """
    engine = make_engine(load_entry_points=False)
    engine.deploy(PROCESSES / "complaint.bpmn")
    (tmp_path / "fault_timer.bpmn").write_text(TIMER_PROCESS, encoding="utf-8")
    engine.deploy(tmp_path / "fault_timer.bpmn")
    return engine


Snapshot = dict[str, list[tuple[Any, ...]]]
#: Columns a claim commits before the step starts: a killed step leaves its lease behind.
LEASE_COLUMNS = {"lease_owner", "lease_until"}


def snapshot(engine: Engine, *, skip: frozenset[str] = frozenset()) -> Snapshot:
    """Every row of every ticketflow table (job leases masked), ordered by primary key."""
    out: Snapshot = {}
    with Session(engine.bind) as s:
        for table in Base.metadata.sorted_tables:
            if table.name in skip:
                continue
            cols = [
                c for c in table.columns if not (table.name == "tf_job" and c.name in LEASE_COLUMNS)
            ]
            rows = s.execute(select(*cols).order_by(*table.primary_key.columns)).all()
            out[table.name] = [tuple(r) for r in rows]
    return out


def assert_unchanged(before: Snapshot, after: Snapshot) -> None:
    changed = {
        name: {
            "gone": [r for r in rows if r not in after[name]][:3],
            "new": [r for r in after[name] if r not in rows][:3],
        }
        for name, rows in before.items()
        if after[name] != rows
    }
    assert not changed, f"partial state left behind: {changed}"


def rows_of(before: Snapshot) -> int:
    return sum(len(rows) for rows in before.values())


def waits(engine: Engine, number: str) -> list[str]:
    """The user tasks the stored workflow state waits at, read by loading it afresh."""
    with Session(engine.bind) as s:
        ticket = s.scalars(select(TicketRow).where(TicketRow.number == number)).one()
        state = s.get(WorkflowStateRow, ticket.id)
        assert state is not None, f"ticket {number} has no workflow state"
        definition = engine._definition(s, ticket.definition_id)
        instance = Instance.load(definition, state.state, number)
        return sorted(t.task_spec.bpmn_id for t in instance.ready_user_tasks())


def open_elements(engine: Engine, number: str) -> list[str]:
    return sorted(t.element_id for t in engine.ticket(number).open_tasks)


def assert_consistent(engine: Engine, number: str) -> None:
    """Task rows, ticket status and the stored workflow state agree."""
    ticket = engine.ticket(number)
    assert waits(engine, number) == open_elements(engine, number)
    assert {t.state for t in ticket.open_tasks} <= {ticket.status}, ticket


def timer_events(engine: Engine, number: str) -> list[str]:
    return [e.element_id or "" for e in engine.history(number) if e.kind == "timer_fired"]


def timer_jobs(engine: Engine, number: str) -> list[JobRow]:
    with Session(engine.bind) as s:
        ticket_id = s.scalar(select(TicketRow.id).where(TicketRow.number == number))
        return list(
            s.scalars(select(JobRow).where(JobRow.ticket_id == ticket_id, JobRow.kind == "timer"))
        )


# --- 1. SIGKILL in the middle of a step ------------------------------------------------


@dataclass
class KillPoint:
    name: str
    action: str  # open, complete, suspend, run_due
    hook: str
    element: str | None = None
    at_commit: bool = False
    #: What the killed transaction must have written (seen uncommitted, from inside it).
    partial: dict[str, Any] = field(default_factory=dict)


KILL_POINTS = [
    KillPoint("open: ticket row written", "open", "ticket_opened", partial={"tf_ticket": 1}),
    KillPoint(
        # History events are written in one statement at the end of the unit.
        "complete: workflow stepped, task row completed, history not yet written",
        "complete",
        "task_completed",
        partial={"tf_event": 0, "tf_task": 0},
    ),
    KillPoint(
        "complete: next task row inserted",
        "complete",
        "task_created",
        "record",
        partial={"tf_task": 1},
    ),
    KillPoint(
        "complete: everything flushed, before COMMIT",
        "complete",
        "task_completed",
        at_commit=True,
        partial={"tf_task": 1, "tf_outbox": 1},
    ),
    KillPoint(
        "suspend: ticket and tasks updated",
        "suspend",
        "ticket_suspended",
        partial={"status": "suspended"},
    ),
    KillPoint(
        "timer job firing: escalation task inserted",
        "run_due",
        "task_created",
        "escalated",
        partial={"tf_task": 1},
    ),
    KillPoint(
        "timer job firing: everything flushed, before COMMIT",
        "run_due",
        "task_created",
        "escalated",
        at_commit=True,
        partial={"tf_task": 1, "tf_outbox": 1},
    ),
]
KILL_ROUNDS = 2


@dataclass
class Child:
    name: str
    point: KillPoint
    spec: dict[str, Any]
    number: str | None = None
    task_id: int | None = None
    customer: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    seen: dict[str, Any] = field(default_factory=dict)


def run_and_kill(children: list[Child], tmp_path: Path, timeout: float = 60.0) -> None:
    """Start every child at once; SIGKILL each as soon as it signals its freeze point."""
    logs = {}
    try:
        for c in children:
            c.spec["signal"] = str(tmp_path / f"{c.name}.signal")
            spec_path = tmp_path / f"{c.name}.json"
            spec_path.write_text(json.dumps(c.spec), encoding="utf-8")
            logs[c.name] = (tmp_path / f"{c.name}.log").open("wb")
            c.proc = subprocess.Popen(
                [sys.executable, str(SCRIPT), str(spec_path)],
                stdout=logs[c.name],
                stderr=subprocess.STDOUT,
            )
        pending = list(children)
        deadline = time.monotonic() + timeout
        while pending:
            for c in list(pending):
                assert c.proc is not None
                signal_file = Path(c.spec["signal"])
                if signal_file.exists():
                    c.seen = json.loads(signal_file.read_text(encoding="utf-8"))
                    os.kill(c.proc.pid, signal.SIGKILL)
                    c.proc.wait(10)
                    assert c.proc.returncode == -signal.SIGKILL
                    assert c.seen["pid"] == c.proc.pid
                    pending.remove(c)
                elif c.proc.poll() is not None:
                    logs[c.name].flush()
                    output = (tmp_path / f"{c.name}.log").read_text(errors="replace")
                    pytest.fail(
                        f"child {c.name} ({c.point.name}) exited with {c.proc.returncode} "
                        f"before its freeze point:\n{output[-3000:]}"
                    )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"children never reached their freeze point: {[c.name for c in pending]}"
                )
            time.sleep(0.02)
    finally:
        for c in children:
            if c.proc is not None and c.proc.poll() is None:
                os.kill(c.proc.pid, signal.SIGKILL)
                c.proc.wait(10)
        for log in logs.values():
            log.close()


def test_sigkill_mid_step_leaves_no_partial_state(
    setup: Engine,
    make_engine: Callable[..., Engine],
    db_url: str,
    clock: FixedClock,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    started = time.monotonic()
    children: list[Child] = []
    for r in range(KILL_ROUNDS):
        for i, point in enumerate(KILL_POINTS):
            action: dict[str, Any] = {"kind": point.action}
            child = Child(f"r{r}p{i}", point, {})
            if point.action == "open":
                child.customer = f"C-KILL-{r}-{i}"
                action.update(process="complaint", customer=child.customer)
                action["data"] = {"summary": "killed while opening"}
            elif point.action == "run_due":
                child.number = setup.open_ticket(
                    "fault_timer", customer=f"C-KILL-{r}-{i}", channel="web"
                ).number
            else:
                ticket = open_complaint(setup, customer=f"C-KILL-{r}-{i}")
                child.number = ticket.number
                child.task_id = ticket.task("front_desk").id
                if point.action == "complete":
                    action.update(task_id=child.task_id, data={"resolved": False})
                    action.update(user=Staff.agent.id, groups=sorted(Staff.agent.groups))
                else:
                    action.update(number=child.number, user=Staff.supervisor.id)
                    action.update(groups=sorted(Staff.supervisor.groups))
                    action.update(roles=sorted(Staff.supervisor.roles))
            child.spec = {
                "url": db_url,
                "point": point.hook,
                "element": point.element,
                "at_commit": point.at_commit,
                "number": child.number,
                "action": action,
            }
            children.append(child)
    clock.advance(hours=3)  # every escalation timer is due
    for child in children:
        child.spec["now"] = clock.now().isoformat()
    before = snapshot(setup)
    counts = {name: len(rows) for name, rows in before.items()}
    numbers = [c.number for c in children if c.number]
    views = {n: setup.ticket(n) for n in numbers}
    histories = {n: setup.history(n) for n in numbers}

    run_and_kill(children, tmp_path)

    # The killed transactions really had written (uncommitted) what each point promises.
    seen = Counter[str]()
    for c in children:
        for key, want in c.point.partial.items():
            got = c.seen[key] if key == "status" else c.seen[key] - counts[key]
            assert got == want, f"{c.point.name}: {key} seen {got}, expected {want}"
        for table in ("tf_task", "tf_event", "tf_outbox"):
            seen[table] += c.seen[table] - counts[table]

    # A fresh engine (a restarted process) finds every ticket exactly as before.
    fresh = make_engine(load_entry_points=False)
    assert_unchanged(before, snapshot(fresh))
    for n in numbers:
        assert fresh.ticket(n) == views[n]
        assert fresh.history(n) == histories[n]
        assert waits(fresh, n) == open_elements(fresh, n)
    assert fresh.outbox_messages() == []
    timer_children = [c for c in children if c.point.action == "run_due"]
    leased = [j for c in timer_children for j in timer_jobs(fresh, c.number or "")]
    assert all(j.lease_owner for j in leased)
    assert {int((j.lease_owner or "").split(":")[-2]) for j in leased} == {
        c.seen["pid"] for c in timer_children
    }, "each killed worker leaves behind the lease it claimed"
    assert all(j.state == "pending" and j.attempts == 0 for j in leased)

    # Every action works when done again.
    retried = 0
    for c in children:
        if c.point.action == "open":
            assert c.customer is not None
            open_complaint(fresh, customer=c.customer)
            assert fresh.tickets(customer=c.customer).total == 1
        elif c.point.action == "complete":
            assert c.task_id is not None and c.number is not None
            after = fresh.complete(c.task_id, Staff.agent, {"resolved": False})
            assert [t.element_id for t in after.open_tasks] == ["record"]
            kinds = [e.kind for e in fresh.history(c.number)]
            assert kinds.count("task_completed") == 1
        elif c.point.action == "suspend":
            assert c.number is not None
            assert fresh.suspend(c.number, Staff.supervisor).status == "suspended"
        else:
            continue
        retried += 1
        if c.number:
            assert_consistent(fresh, c.number)
    # The timer jobs: leased to the dead workers until the lease runs out, then taken over.
    assert fresh.run_due().attempted == 0, "a dead worker's lease still holds"
    clock.advance(LEASE + timedelta(seconds=1))
    report = fresh.run_due()
    assert (report.fired, report.retried, report.dead) == (len(timer_children), 0, 0)
    for c in timer_children:
        assert c.number is not None
        assert timer_events(fresh, c.number) == ["escalate_timer"]
        assert open_elements(fresh, c.number) == ["escalated"]
        (job,) = timer_jobs(fresh, c.number)
        assert (job.state, job.attempts) == ("done", 1), "the killed attempt left no trace"
        assert_consistent(fresh, c.number)
        retried += 1

    say(
        capsys,
        f"SIGKILL mid-step: kills={len(children)} ({len(KILL_POINTS)} points x {KILL_ROUNDS} "
        f"rounds); uncommitted writes killed: {seen['tf_task']} task rows, "
        f"{seen['tf_event']} events, {seen['tf_outbox']} outbox rows; rows changed after "
        f"restart: 0 of {rows_of(before)}; retries ok: {retried}/{len(children)} "
        f"({len(timer_children)} timer jobs taken over after LEASE); "
        f"{time.monotonic() - started:.1f}s",
    )


# --- 2. a database connection dropped mid-step -----------------------------------------


@dataclass(frozen=True)
class Drop:
    id: str
    how: str  # terminate, close, io_error, locked
    where: str  # task_completed, task_created, commit, timer, begin
    backend: str | None  # None: both

    @property
    def skip_reason(self) -> str | None:
        if self.backend is None or self.backend == BACKEND:
            return None
        if self.how == "terminate":
            return "pg_terminate_backend is PostgreSQL's; SQLite runs the simulated drops"
        if self.how == "locked":
            return "'database is locked' is SQLite's file lock; PostgreSQL locks rows (see races)"
        return "simulates SQLite driver errors; PostgreSQL runs the real drop (terminate)"


DROPS = [
    Drop("pg-terminate-mid-step", "terminate", "task_completed", "postgresql"),
    Drop("pg-terminate-after-new-task", "terminate", "task_created", "postgresql"),
    Drop("pg-terminate-before-commit", "terminate", "commit", "postgresql"),
    Drop("pg-terminate-timer-firing", "terminate", "timer", "postgresql"),
    Drop("close-dbapi-connection-mid-step", "close", "task_created", None),
    Drop("sqlite-io-error-mid-step", "io_error", "task_completed", "sqlite"),
    Drop("sqlite-io-error-at-commit", "io_error", "commit", "sqlite"),
    Drop("sqlite-io-error-timer-firing", "io_error", "timer", "sqlite"),
    Drop("sqlite-database-locked", "locked", "begin", "sqlite"),
]
DROP_REPEAT = 3


class Dropper:
    """Breaks the engine's database connection at one point of its next step (once armed):
    terminates its PostgreSQL backend, closes the DBAPI connection under it, or makes the
    SQLite driver fail the next statement or the COMMIT."""

    def __init__(self, engine: Engine, drop: Drop, admin: sqlalchemy.Engine | None) -> None:
        self.engine = engine
        self.drop = drop
        self.admin = admin
        self.armed = False
        self.at_commit = False
        self.fail_next_execute = False
        self.fail_next_commit = False
        self.injected = 0
        event.listen(engine.bind, "commit", self._on_commit)
        if drop.how == "io_error":
            event.listen(engine.bind, "do_execute", self._on_execute)
            self._real_commit = engine.bind.dialect.do_commit
            engine.bind.dialect.do_commit = self._do_commit  # type: ignore[method-assign]

    #: The hook each drop point is reached through (commit: armed there, dropped at COMMIT).
    HOOKS: ClassVar[dict[str, str]] = {
        "task_completed": "task_completed",
        "commit": "task_completed",
        "task_created": "task_created",
        "timer": "task_created",
    }

    def _hit(self, ctx: Any, hook: str) -> None:
        if not self.armed or self.HOOKS.get(self.drop.where) != hook:
            return
        self.armed = False
        if self.drop.where == "commit":
            self.at_commit = True
            return
        self.injected += 1
        if self.drop.how == "terminate":
            pid = ctx.session.execute(text("SELECT pg_backend_pid()")).scalar()
            self._terminate(pid)
        elif self.drop.how == "close":
            ctx.session.connection().connection.dbapi_connection.close()
        elif self.drop.how == "io_error":
            self.fail_next_execute = True

    def _terminate(self, pid: int) -> None:
        assert self.admin is not None
        with self.admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
            for _ in range(500):
                gone = not conn.execute(
                    text("SELECT 1 FROM pg_stat_activity WHERE pid = :p"), {"p": pid}
                ).first()
                if gone:
                    return
                time.sleep(0.01)
        raise AssertionError(f"backend {pid} still alive after pg_terminate_backend")

    def _on_commit(self, conn: Any) -> None:
        if not self.at_commit:
            return
        self.at_commit = False
        self.injected += 1
        if self.drop.how == "terminate":
            self._terminate(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar())
        elif self.drop.how == "io_error":
            self.fail_next_commit = True

    def _on_execute(self, cursor: Any, statement: str, parameters: Any, context: Any) -> None:
        if self.fail_next_execute:
            self.fail_next_execute = False
            raise sqlite3.OperationalError("disk I/O error")

    def _do_commit(self, dbapi_connection: Any) -> None:
        if self.fail_next_commit:
            self.fail_next_commit = False
            raise sqlite3.OperationalError("disk I/O error")
        self._real_commit(dbapi_connection)

    @hookimpl
    def ticketflow_task_completed(self, ctx, ticket, task, data) -> None:  # type: ignore[no-untyped-def]
        self._hit(ctx, "task_completed")

    @hookimpl
    def ticketflow_task_created(self, ctx, ticket, task) -> None:  # type: ignore[no-untyped-def]
        self._hit(ctx, "task_created")


def describe(exc: BaseException) -> str:
    name = f"{type(exc).__module__}.{type(exc).__qualname__}"
    orig = getattr(exc, "orig", None)
    if orig is not None:
        name += f"({type(orig).__module__}.{type(orig).__qualname__})"
    return name


@pytest.mark.parametrize("drop", DROPS, ids=[d.id for d in DROPS])
def test_dropped_connection_fails_cleanly_and_retries(
    drop: Drop,
    setup: Engine,
    make_engine: Callable[..., Engine],
    db_url: str,
    clock: FixedClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if drop.skip_reason:
        pytest.skip(drop.skip_reason)
    started = time.monotonic()
    admin = create_engine(db_url, isolation_level="AUTOCOMMIT") if BACKEND == "postgresql" else None
    if drop.how == "locked":
        victim = Engine(
            bind=database.make_engine(db_url, connect_args={"timeout": 0.2}),
            clock=clock,
            load_entry_points=False,
        )
    else:
        victim = make_engine(load_entry_points=False)
    dropper = Dropper(victim, drop, admin)
    victim.plugins.register(dropper)
    errors = Counter[str]()
    invalidated = 0
    try:
        for i in range(DROP_REPEAT):
            if drop.where == "timer":
                number = setup.open_ticket(
                    "fault_timer", customer=f"C-DROP-{i}", channel="web"
                ).number
                clock.advance(hours=3)
            else:
                ticket = open_complaint(setup, customer=f"C-DROP-{i}")
                number, task_id = ticket.number, ticket.task("front_desk").id
            skip = frozenset({"tf_job"}) if drop.where == "timer" else frozenset()
            before = snapshot(setup, skip=skip)
            view, history = setup.ticket(number), setup.history(number)

            dropper.armed = True
            if drop.where == "timer":
                report = victim.run_due()
                assert (report.fired, report.retried) == (0, 1), report
                (job,) = timer_jobs(setup, number)
                assert (job.state, job.attempts) == ("pending", 1)
                assert job.last_error is not None
                kind = re.match(r"\w+(: \([\w.]+\))?", job.last_error)
                assert kind is not None
                errors[f"recorded on the job as {kind.group(0)}"] += 1
            elif drop.how == "locked":
                holder = sqlite3.connect(db_url.removeprefix("sqlite:///"))
                holder.execute("BEGIN IMMEDIATE")
                dropper.injected += 1
                try:
                    with pytest.raises(Exception) as info:
                        victim.complete(task_id, Staff.agent, {"resolved": False})
                finally:
                    holder.rollback()
                    holder.close()
            else:
                with pytest.raises(Exception) as info:
                    victim.complete(task_id, Staff.agent, {"resolved": False})
            assert dropper.injected == i + 1, "the fault was not injected"
            if drop.where != "timer":
                exc = info.value
                errors[describe(exc)] += 1
                # A clear error: ticketflow's own, naming what happened; the driver's error
                # is kept as its cause.
                assert isinstance(exc, TicketflowError), repr(exc)
                assert "nothing was saved" in str(exc)
                cause = exc.__cause__
                if isinstance(cause, sqlalchemy.exc.DBAPIError) and drop.how in (
                    "terminate",
                    "close",
                ):
                    assert cause.connection_invalidated, (
                        "the disconnect went unrecognised by the pool"
                    )
                    invalidated += 1

            # Nothing of the step was stored; a fresh engine sees the ticket as before.
            fresh = make_engine(load_entry_points=False)
            assert_unchanged(before, snapshot(fresh, skip=skip))
            assert fresh.ticket(number) == view
            assert fresh.history(number) == history
            assert waits(fresh, number) == open_elements(fresh, number)
            fresh.close()

            # The same call, retried on the same engine, succeeds.
            if drop.where == "timer":
                clock.advance(victim.job_runner.backoff + timedelta(seconds=1))
                assert victim.run_due().fired == 1
                assert timer_events(setup, number) == ["escalate_timer"]
                assert open_elements(setup, number) == ["escalated"]
            else:
                after = victim.complete(task_id, Staff.agent, {"resolved": False})
                assert [t.element_id for t in after.open_tasks] == ["record"]
                kinds = [e.kind for e in setup.history(number)]
                assert kinds.count("task_completed") == 1
            assert_consistent(setup, number)
    finally:
        victim.close()
        if drop.how == "locked":
            victim.bind.dispose()
        if admin is not None:
            admin.dispose()
    raised = ", ".join(f"{n}x {name}" for name, n in errors.items())
    translated = sum(n for name, n in errors.items() if name.startswith("ticketflow."))
    say(
        capsys,
        f"connection drop {drop.id}: drops={dropper.injected} at {drop.where}; raised: "
        f"{raised}; TicketflowError: {translated}/{dropper.injected}; connection invalidated: "
        f"{invalidated}; partial rows stored: 0; retries ok: {DROP_REPEAT}/{DROP_REPEAT}; "
        f"{time.monotonic() - started:.1f}s",
    )


# --- 3. races ----------------------------------------------------------------------------

RACE_ROUNDS = 15
#: Every action locks the ticket row first (one lock order), so complete and suspend no
#: longer deadlock each other on PostgreSQL; a deadlock would now fail the test.
TOLERATE_DEADLOCK = False


def is_deadlock(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", None) or getattr(exc.__cause__, "orig", None)
    return "Deadlock" in type(orig).__name__ or "DeadlockDetected" in str(exc)


class Gate:
    """Holds every authorized action until both racers have read the ticket."""

    def __init__(self) -> None:
        self.barrier: threading.Barrier | None = None

    @hookimpl
    def ticketflow_authorize(self, user, action, ticket, task):  # type: ignore[no-untyped-def]
        if self.barrier is not None:
            self.barrier.wait()
        return None  # the built-in rules decide


def race(actions: dict[str, Callable[[], object]]) -> dict[str, object]:
    start = threading.Barrier(len(actions))
    results: dict[str, object] = {}

    def run(name: str, action: Callable[[], object]) -> None:
        start.wait()
        try:
            results[name] = action()
        except Exception as exc:
            results[name] = exc

    threads = [threading.Thread(target=run, args=item) for item in actions.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == len(actions), "a racer hung"
    return results


@pytest.mark.parametrize("overlap", [False, True], ids=["free", "overlapped"])
def test_complete_races_suspend_on_one_ticket(
    overlap: bool,
    setup: Engine,
    make_engine: Callable[..., Engine],
    capsys: pytest.CaptureFixture[str],
) -> None:
    if overlap:
        pytest.skip(
            "every action locks the ticket row first (FOR UPDATE on PostgreSQL, BEGIN "
            "IMMEDIATE on SQLite), so one action cannot read the ticket before the other "
            "commits; the free race runs on both backends"
        )
    started = time.monotonic()
    gate = Gate()
    completer = make_engine(plugins=[gate], load_entry_points=False)
    suspender = make_engine(plugins=[gate], load_entry_points=False)
    outcomes = Counter[str]()
    losers = Counter[str]()
    deadlocks = 0
    for r in range(RACE_ROUNDS):
        ticket = open_complaint(setup, customer=f"C-RACE-{r}")
        number, task_id = ticket.number, ticket.task("front_desk").id
        gate.barrier = threading.Barrier(2, timeout=20) if overlap else None
        results = race(
            {
                "complete": partial(completer.complete, task_id, Staff.agent, {"resolved": False}),
                "suspend": partial(suspender.suspend, number, Staff.supervisor, reason="race"),
            }
        )
        ok = {name for name, res in results.items() if not isinstance(res, Exception)}
        for name, res in results.items():
            if isinstance(res, Exception):
                losers[f"{name}: {describe(res)}"] += 1
                if is_deadlock(res):
                    deadlocks += 1
                    assert TOLERATE_DEADLOCK, f"round {r}: {name} lost to a deadlock: {res!r}"
                    continue
                assert isinstance(res, (ConcurrencyError, TaskStateError)), (
                    f"round {r}: {name} lost with an untranslated error: {res!r}"
                )
        assert ok, f"both lost: {results}"
        if overlap:
            assert len(ok) == 1, f"both read the same version, yet both won: {results}"
        kinds = [e.kind for e in setup.history(number)]
        after = setup.ticket(number)
        assert kinds.count("task_completed") == ("complete" in ok)
        assert kinds.count("ticket_suspended") == ("suspend" in ok)
        if ok == {"complete", "suspend"}:
            outcomes["both, complete first"] += 1
            assert kinds.index("task_completed") < kinds.index("ticket_suspended")
            assert (after.status, open_elements(setup, number)) == ("suspended", ["record"])
        elif ok == {"complete"}:
            outcomes["complete won"] += 1
            assert (after.status, open_elements(setup, number)) == ("open", ["record"])
        else:
            outcomes["suspend won"] += 1
            assert (after.status, open_elements(setup, number)) == ("suspended", ["front_desk"])
        assert_consistent(setup, number)
        # The ticket goes on from wherever the winner left it.
        if after.status == "suspended":
            setup.resume(number, Staff.supervisor)
        step = setup.ticket(number).open_tasks[0]
        data = (
            {"resolved": False}
            if step.element_id == "front_desk"
            else {"description": "race", "urgency": "normal"}
        )
        setup.complete(step.id, Staff.agent, data)
        assert_consistent(setup, number)
    say(
        capsys,
        f"race complete vs suspend ({'forced overlap' if overlap else 'free'}): "
        f"races={RACE_ROUNDS}; outcomes: {dict(outcomes)}; losers: {dict(losers)}; "
        f"untranslated deadlocks: {deadlocks}; "
        f"{time.monotonic() - started:.1f}s",
    )


class Hold:
    """Keeps a timer firing open (inside its transaction) until told to go on."""

    def __init__(self) -> None:
        self.inside = threading.Event()
        self.go = threading.Event()

    @hookimpl
    def ticketflow_task_created(self, ctx, ticket, task) -> None:  # type: ignore[no-untyped-def]
        if task.element_id == "escalated":
            self.inside.set()
            assert self.go.wait(20), "never released"


SAME_JOB_ROUNDS = 5


def run_due_into(engine: Engine, reports: dict[str, Any], name: str) -> None:
    reports[name] = engine.run_due()


def test_two_workers_never_fire_one_job_twice(
    setup: Engine,
    make_engine: Callable[..., Engine],
    clock: FixedClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    started = time.monotonic()
    first = make_engine(load_entry_points=False)
    second = make_engine(load_entry_points=False)
    fired = skipped = blocked = 0
    for r in range(SAME_JOB_ROUNDS):
        # (a) The first worker claims, stalls past its lease; the second takes the job over
        # and fires it; the first then tries to fire it too.
        number = setup.open_ticket("fault_timer", customer=f"C-STALE-{r}", channel="web").number
        clock.advance(hours=3)
        (job_id,) = first.job_runner._claim(10)
        clock.advance(LEASE + timedelta(seconds=1))
        report = second.run_due()
        fired += report.fired
        assert report.fired == 1
        outcome = first._fire_job(job_id, first.job_runner.worker_id)
        assert outcome == "skipped"
        skipped += 1
        assert timer_events(setup, number) == ["escalate_timer"]
        (job,) = timer_jobs(setup, number)
        assert (job.state, job.attempts) == ("done", 1)
        assert_consistent(setup, number)

        # (b) The first worker is still inside the firing transaction when its lease runs
        # out; the second worker looks for due work meanwhile.
        hold = Hold()
        holder = make_engine(plugins=[hold], load_entry_points=False)
        number = setup.open_ticket("fault_timer", customer=f"C-HELD-{r}", channel="web").number
        clock.advance(hours=3)
        reports: dict[str, Any] = {}
        t1 = threading.Thread(target=run_due_into, args=(holder, reports, "first"))
        t1.start()
        assert hold.inside.wait(20)
        clock.advance(LEASE + timedelta(seconds=1))
        t2 = threading.Thread(target=run_due_into, args=(second, reports, "second"))
        t2.start()
        t2.join(2 if BACKEND == "postgresql" else 0.5)
        if BACKEND == "postgresql":
            assert not t2.is_alive(), "SKIP LOCKED: the second worker passes the locked job"
            assert reports["second"].attempted == 0
        else:
            assert t2.is_alive(), "SQLite: the second worker waits for the write lock"
            blocked += 1
        hold.go.set()
        t1.join(20)
        t2.join(20)
        assert reports["first"].fired == 1 and reports["second"].attempted == 0, reports
        fired += 1
        assert timer_events(setup, number) == ["escalate_timer"]
        (job,) = timer_jobs(setup, number)
        assert (job.state, job.attempts) == ("done", 1)
        assert_consistent(setup, number)
        holder.close()
    say(
        capsys,
        f"two workers, one timer job: races={2 * SAME_JOB_ROUNDS} (stale lease taken over: "
        f"{SAME_JOB_ROUNDS}, lease expired mid-firing: {SAME_JOB_ROUNDS}); fired={fired}, "
        f"second firings refused={skipped}, "
        + (
            f"second worker passed the locked job (SKIP LOCKED)={SAME_JOB_ROUNDS}"
            if BACKEND == "postgresql"
            else f"second worker waited for the write lock={blocked}"
        )
        + f"; {time.monotonic() - started:.1f}s",
    )


CHAOS_TICKETS = 300
CHAOS_WORKERS = 6


def test_workers_with_expiring_leases_fire_each_timer_once(
    setup: Engine,
    make_engine: Callable[..., Engine],
    clock: FixedClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    started = time.monotonic()
    with Session(setup.bind) as session, session.begin():
        for i in range(CHAOS_TICKETS):
            setup.open_ticket("fault_timer", customer=f"C{i}", channel="web", session=session)
    clock.advance(hours=3)
    workers = [make_engine(load_entry_points=False) for _ in range(CHAOS_WORKERS)]
    start = threading.Barrier(CHAOS_WORKERS + 1)
    done = threading.Event()
    lock = threading.Lock()
    totals = Counter[str]()
    failures: list[BaseException] = []

    def work(engine: Engine) -> None:
        start.wait()
        idle = 0
        try:
            while idle < 3:
                report = engine.run_due(limit=5)
                with lock:
                    totals["fired"] += report.fired
                    totals["skipped"] += report.skipped
                    totals["retried"] += report.retried + report.dead
                idle = idle + 1 if report.attempted == 0 else 0
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    def expire_leases() -> None:
        start.wait()
        while not done.is_set():
            clock.advance(LEASE + timedelta(seconds=1))
            with lock:
                totals["lease expiries"] += 1
            time.sleep(0.005)

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    chaos = threading.Thread(target=expire_leases)
    for t in [*threads, chaos]:
        t.start()
    for t in threads:
        t.join(120)
    done.set()
    chaos.join(10)
    assert not failures, failures
    clock.advance(LEASE + timedelta(seconds=1))
    assert setup.run_due(limit=1000).attempted == 0, "a claimed job was left unfired"

    assert (totals["fired"], totals["retried"]) == (CHAOS_TICKETS, 0), totals
    with Session(setup.bind) as s:
        per_ticket = s.execute(
            select(EventRow.ticket_id, func.count())
            .where(EventRow.kind == "timer_fired")
            .group_by(EventRow.ticket_id)
        ).all()
        assert len(per_ticket) == CHAOS_TICKETS
        assert {n for _, n in per_ticket} == {1}, "a timer fired twice"
        jobs = s.execute(
            select(JobRow.state, JobRow.attempts, func.count()).group_by(
                JobRow.state, JobRow.attempts
            )
        ).all()
        assert [tuple(j) for j in jobs] == [("done", 1, CHAOS_TICKETS)], jobs
        open_tasks = s.execute(
            select(TaskRow.element_id, func.count())
            .where(TaskRow.state == "open")
            .group_by(TaskRow.element_id)
        ).all()
        assert [tuple(t) for t in open_tasks] == [("escalated", CHAOS_TICKETS)]
    say(
        capsys,
        f"worker threads with expiring leases: {CHAOS_WORKERS} workers, {CHAOS_TICKETS} due "
        f"timers, lease expiries injected={totals['lease expiries']}; fired={totals['fired']} "
        f"(each exactly once), second attempts refused={totals['skipped']}, retries=0; "
        f"{time.monotonic() - started:.1f}s",
    )
