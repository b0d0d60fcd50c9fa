"""The simulated centre: SimPy processes that drive the real engine.

Complaints arrive as a Poisson process; each one is a real ticket opened with
:meth:`Engine.open_ticket`. Every task the engine creates goes on a work board under
its candidate groups (or its assignee), exactly as the engine routed it; staff on shift
take the most urgent, oldest task they may work, claim it with :meth:`Engine.claim`, spend
a handling time drawn from the scenario, and complete it with :meth:`Engine.complete` and
the form data the scenario's decisions produce. Waiting emerges from staffing and shifts.

Every engine call is its own transaction (``[engine] transactions = "call"``), as a host
application's request would be; every ``commit_every_minutes`` of simulated time due jobs
(SLA limits, BPMN timers) run through :meth:`Engine.run_due`. With ``transactions =
"batch"`` the engine joins one host session instead, committed at each of those points.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ticketflow.engine import Engine
from ticketflow.errors import TicketflowError
from ticketflow.simulation.behaviour import (
    Complaint,
    FormFiller,
    callback_result,
    draw_complaint,
    minutes,
)
from ticketflow.simulation.clock import SimulatedClock
from ticketflow.simulation.scenario import Scenario, ScenarioError
from ticketflow.simulation.shifts import calendar_for, overlap, shift_intervals
from ticketflow.store.models import TicketRow
from ticketflow.time.sla import SlaPolicy
from ticketflow.users import User
from ticketflow.views import TaskView, TicketView

if TYPE_CHECKING:
    import simpy
    from numpy.random import Generator as RandomGenerator

DAY = 1440.0
Progress = Callable[[float, float, int], None]
"""Called with (simulated days done, days in all, tickets opened so far)."""


class SimulationError(TicketflowError):
    """The engine refused what the scenario made a simulated person do."""


@dataclass
class SimTicket:
    number: str
    complaint: Complaint
    rng: RandomGenerator
    opened: float
    data: dict[str, Any]
    seen: set[int] = field(default_factory=set)
    #: When the complaint was opened or last reopened (satisfaction is judged from then).
    since: float = 0.0


@dataclass
class WorkItem:
    task_id: int
    element: str
    ticket: SimTicket
    groups: tuple[str, ...]
    assignee: str | None
    priority: int
    ready: float
    taken: bool = False
    claimed: bool = False
    finishing: bool = False


@dataclass
class Worker:
    id: str
    role: str
    user: User
    groups: tuple[str, ...]
    intervals: list[tuple[float, float]]
    seat: bool
    #: Minutes of work inside the measurement window.
    busy: float = 0.0
    wake: simpy.Event | None = None
    shift_end: float = 0.0


@dataclass(frozen=True)
class WorkerStats:
    """One simulated staff member over the measurement window."""

    id: str
    role: str
    seat: bool
    shift_minutes: float
    busy_minutes: float
    worked_days: int


@dataclass(frozen=True)
class RunResult:
    """What the simulator itself knows after a run; everything else is in the store."""

    scenario: Scenario
    start: datetime
    window: tuple[float, float]
    end_minutes: float
    tickets_opened: int
    engine_calls: int
    wall_seconds: float
    workers: tuple[WorkerStats, ...]

    def at(self, minutes: float) -> datetime:
        return self.start + timedelta(minutes=minutes)

    @property
    def window_days(self) -> float:
        return (self.window[1] - self.window[0]) / DAY


class Board:
    """Open work by candidate group and by assignee; idle staff wait for a wake-up."""

    def __init__(self, workers: dict[str, Worker]) -> None:
        self.workers = workers
        self.queues: dict[str, list[list[Any]]] = {}
        self.personal: dict[str, list[list[Any]]] = {w: [] for w in workers}
        self.idle: dict[str, dict[str, Worker]] = {}
        self._seq = itertools.count()

    def post(self, item: WorkItem) -> None:
        entry = [-item.priority, item.ready, next(self._seq), item]
        if item.assignee is not None:
            worker = self.workers.get(item.assignee)
            if worker is None:
                raise SimulationError(
                    f"ticket {item.ticket.number}: task '{item.element}' is assigned to "
                    f"'{item.assignee}', who is not on the scenario's staff"
                )
            if worker.wake is not None:
                self._give(worker, item)
            else:
                heapq.heappush(self.personal[worker.id], entry)
            return
        for group in item.groups:
            for worker in self.idle.get(group, {}).values():
                self._give(worker, item)
                return
        for group in item.groups:
            heapq.heappush(self.queues.setdefault(group, []), entry)

    def take(self, worker: Worker) -> WorkItem | None:
        best: list[list[Any]] | None = None
        for queue in itertools.chain(
            (self.personal[worker.id],), (self.queues.get(g, []) for g in worker.groups)
        ):
            while queue and queue[0][3].taken:
                heapq.heappop(queue)
            if queue and (best is None or queue[0] < best[0]):
                best = queue
        if best is None:
            return None
        item: WorkItem = heapq.heappop(best)[3]
        item.taken = True
        return item

    def wait(self, worker: Worker, event: simpy.Event) -> None:
        worker.wake = event
        for group in worker.groups:
            self.idle.setdefault(group, {})[worker.id] = worker

    def stop_waiting(self, worker: Worker) -> None:
        worker.wake = None
        for group in worker.groups:
            self.idle.get(group, {}).pop(worker.id, None)

    def _give(self, worker: Worker, item: WorkItem) -> None:
        event = worker.wake
        assert event is not None
        self.stop_waiting(worker)
        item.taken = True
        event.succeed(item)


class Centre:
    """One simulation run of ``scenario`` against the database at ``url``."""

    def __init__(self, scenario: Scenario, url: str) -> None:
        try:
            import numpy as np
            import simpy
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise SimulationError(
                f"the simulator needs SimPy and numpy ({exc}); "
                "install them with: pip install 'ticketflow[simulation]'"
            ) from None
        self._np = np
        self.scenario = scenario
        run = scenario.scenario
        self.zone = ZoneInfo(run.timezone)
        self.start = run.start.replace(tzinfo=self.zone)
        self.env = simpy.Environment()
        self._simpy = simpy
        self.clock = SimulatedClock(self.env, self.start)
        plugins: list[object] = []
        if scenario.engine.scoring:
            from ticketflow.plugins.scoring import PieceRateScoring

            plugins.append(PieceRateScoring())
        self.engine = Engine(
            url,
            clock=self.clock,
            plugins=plugins,
            load_entry_points=False,
            auto_migrate=True,
            sla=self._sla_policy() if scenario.sla.enabled else None,
        )
        try:
            self._prepare()
        except BaseException:
            self.engine.close()
            raise
        self.board = Board(self.workers)
        self.supervisor = User.of("sim.supervisor", roles=["supervisor"])
        self.batched = scenario.engine.transactions == "batch"
        self.session: Session | None = self._new_batch()
        self.horizon = (run.days + run.drain_days) * DAY
        self.window = (run.warmup_days * DAY, run.days * DAY)
        self.opened = 0
        self.open_tickets = 0
        self.calls = 0

    # ------------------------------------------------------------------ setup

    def _sla_policy(self) -> SlaPolicy:
        sla = self.scenario.sla
        limits: dict[tuple[str, str], timedelta] = {
            (u, "*"): timedelta(hours=h) for u, h in sla.ticket_hours.items()
        }
        calendar = None
        if sla.days is not None and sla.hours is not None:
            from ticketflow.simulation.scenario import Shift

            shape = Shift(count=1, days=sla.days, hours=sla.hours)
            calendar = calendar_for(
                shape.weekdays,
                shape.intervals,
                self.scenario.scenario.timezone,
                self.scenario.scenario.holidays == "china",
            )
        return SlaPolicy(
            ticket_limits=limits,
            step_fraction=sla.step_fraction,
            reminders=tuple(sla.reminders),
            calendars=calendar,
            contacts=None,
        )

    def _prepare(self) -> None:
        scenario, run = self.scenario, self.scenario.scenario
        where = scenario.path or "<scenario>"
        with Session(self.engine.bind) as s:
            existing = s.scalar(select(func.count()).select_from(TicketRow)) or 0
        if existing:
            raise SimulationError(
                f"the database already holds {existing} tickets; a simulation needs an empty "
                "database (its figures are read back from the store)"
            )
        folder = scenario.processes_path()
        if not folder.exists():
            raise ScenarioError(where, [f"scenario.processes: {folder} does not exist"])
        self.engine.deploy(folder)
        self.definition = self.engine.definition(run.process)
        self.forms = FormFiller(scenario, self.definition.user_tasks)
        self._check_routing()
        self.workers: dict[str, Worker] = {}
        horizon = (run.days + run.drain_days) * DAY
        intervals: dict[tuple[str, int, bool], list[tuple[float, float]]] = {}
        for role_name, n, wid, on_holidays in scenario.staff_rota():
            role = scenario.staff[role_name]
            key = (role_name, n, on_holidays)
            if key not in intervals:
                intervals[key] = shift_intervals(
                    role.shifts[n],
                    self.start,
                    horizon,
                    run.timezone,
                    run.holidays == "china" and not on_holidays,
                )
            self.workers[wid] = Worker(
                id=wid,
                role=role_name,
                user=User.of(wid, groups=role.groups, roles=role.roles),
                groups=tuple(role.groups),
                intervals=intervals[key],
                seat=role.seat,
            )

    def _check_routing(self) -> None:
        """Every group a task can be offered to is served by some staff role."""
        served = {g for role in self.scenario.staff.values() for g in role.groups}
        problems = []
        for element, info in self.definition.user_tasks.items():
            if info.candidate_groups_expression:
                groups = set(self.scenario.departments())
                source = "the categories' departments"
            else:
                groups = set(info.candidate_groups)
                source = "its candidate groups"
            missing = sorted(groups - served)
            if missing:
                problems.append(
                    f"staff: nobody serves {', '.join(missing)} ({source}), so task "
                    f"'{element}' would wait for ever; add the group to a role"
                )
        if problems:
            raise ScenarioError(self.scenario.path or "<scenario>", problems)

    # ------------------------------------------------------------------ running

    def run(self, progress: Progress | None = None) -> RunResult:
        """Simulate the whole horizon; return the simulator's own bookkeeping."""
        env = self.env
        began = time.perf_counter()
        done = env.event()
        env.process(self._arrivals())
        for worker in self.workers.values():
            env.process(self._staff(worker))
        env.process(self._batches())
        env.process(self._monitor(done, progress))
        try:
            env.run(until=done)
            self._checkpoint()
        finally:
            if self.session is not None:
                self.session.close()
        wall = time.perf_counter() - began
        lo, hi = self.window
        stats = tuple(
            WorkerStats(
                id=w.id,
                role=w.role,
                seat=w.seat,
                shift_minutes=overlap(w.intervals, lo, hi),
                busy_minutes=w.busy,
                worked_days=self._worked_days(w.intervals, lo, hi),
            )
            for w in self.workers.values()
        )
        return RunResult(
            scenario=self.scenario,
            start=self.clock.start,
            window=self.window,
            end_minutes=env.now,
            tickets_opened=self.opened,
            engine_calls=self.calls,
            wall_seconds=wall,
            workers=stats,
        )

    def close(self) -> None:
        self.engine.close()

    def _worked_days(self, intervals: list[tuple[float, float]], lo: float, hi: float) -> int:
        days = {
            (self.start + timedelta(minutes=max(s, lo))).astimezone(self.zone).date()
            for s, e in intervals
            if e > lo and s < hi
        }
        return len(days)

    def _monitor(
        self, done: simpy.Event, progress: Progress | None
    ) -> Generator[simpy.Event, Any, None]:
        total = self.horizon / DAY
        arrivals_end = self.scenario.scenario.days * DAY
        while True:
            yield self.env.timeout(60.0)
            if progress is not None:
                progress(self.env.now / DAY, total, self.opened)
            if self.env.now >= self.horizon or (
                self.env.now >= arrivals_end and self.open_tickets == 0
            ):
                done.succeed()
                return

    def _batches(self) -> Generator[simpy.Event, Any, None]:
        every = self.scenario.engine.commit_every_minutes
        while True:
            yield self.env.timeout(every)
            self._checkpoint()

    def _new_batch(self) -> Session | None:
        """The host session the next calls join (batch mode), or None: each call commits."""
        return Session(self.engine.bind, expire_on_commit=False) if self.batched else None

    def _checkpoint(self) -> None:
        """Commit the batch (if any), run due jobs in their own transactions."""
        if self.session is not None:
            self.session.commit()
            self.session.close()
        while self.engine.run_due(limit=1000).attempted:
            pass
        self.session = self._new_batch()

    def _arrivals(self) -> Generator[simpy.Event, Any, None]:
        run, arrivals = self.scenario.scenario, self.scenario.arrivals
        rng = self._np.random.default_rng([run.seed, 1])
        base = self.scenario.expected_daily_arrivals()
        week = [w * 7 / sum(arrivals.weekday_profile) for w in arrivals.weekday_profile]
        day = [h / sum(arrivals.hourly_profile) for h in arrivals.hourly_profile]
        for hour in range(run.days * 24):
            local = (self.start + timedelta(hours=hour)).astimezone(self.zone)
            count = int(rng.poisson(base * week[local.weekday()] * day[local.hour]))
            for offset in sorted(rng.uniform(0.0, 60.0, count)):
                at = hour * 60.0 + float(offset)
                if at > self.env.now:
                    yield self.env.timeout(at - self.env.now)
                self._open()

    def _open(self) -> None:
        run = self.scenario.scenario
        index = self.opened
        rng = self._np.random.default_rng([run.seed, 2, index])
        complaint = draw_complaint(index, self.scenario, rng)
        view = self._call(
            "open a ticket",
            None,
            lambda: self.engine.open_ticket(
                run.process,
                customer=complaint.customer,
                channel=complaint.channel,
                customer_tier=complaint.tier,
                subject=complaint.category.fields.get("l1"),
                session=self.session,
            ),
        )
        self.opened += 1
        self.open_tickets += 1
        now = self.env.now
        ticket = SimTicket(view.number, complaint, rng, now, dict(view.data), since=now)
        self._follow(ticket, view, None)

    def _follow(
        self, ticket: SimTicket, view: TicketView, worker: Worker | None
    ) -> WorkItem | None:
        """Post the ticket's new tasks; return one the worker carries straight on with."""
        ticket.data = dict(view.data)
        if view.status == "closed":
            self.open_tickets -= 1
            return None
        carry: WorkItem | None = None
        for task in view.open_tasks:
            if task.id in ticket.seen or task.state != "open":
                continue
            ticket.seen.add(task.id)
            item = self._item(ticket, task)
            if (
                carry is None
                and worker is not None
                and self.scenario.tasks[task.element_id].follow_on
                and self.env.now < worker.shift_end
                and (task.assignee in (None, worker.id))
                and set(task.candidate_groups) & set(worker.groups)
            ):
                item.taken = True
                carry = item
            else:
                self.board.post(item)
        return carry

    def _item(self, ticket: SimTicket, task: TaskView) -> WorkItem:
        return WorkItem(
            task_id=task.id,
            element=task.element_id,
            ticket=ticket,
            groups=task.candidate_groups,
            assignee=task.assignee,
            priority=task.priority,
            ready=self.env.now,
        )

    def _staff(self, worker: Worker) -> Generator[simpy.Event, Any, None]:
        env = self.env
        for start, end in worker.intervals:
            if env.now < start:
                yield env.timeout(start - env.now)
            worker.shift_end = end
            while env.now < end:
                item = self.board.take(worker)
                if item is None:
                    wake = env.event()
                    self.board.wait(worker, wake)
                    yield wake | env.timeout(end - env.now)
                    if not wake.triggered:
                        self.board.stop_waiting(worker)
                        continue
                    item = wake.value
                while item is not None:
                    item = yield from self._work(worker, item)

    def _work(self, worker: Worker, item: WorkItem) -> Generator[simpy.Event, Any, WorkItem | None]:
        """Claim, handle and complete one task (or suspend its ticket); return follow-on work."""
        spec = self.scenario.tasks[item.element]
        ticket = item.ticket
        began = self.env.now
        if self.scenario.engine.claim and not item.claimed:
            self._call(
                "claim",
                item,
                lambda: self.engine.claim(item.task_id, worker.user, session=self.session),
            )
            item.claimed = True
        if item.finishing and spec.suspend is not None:
            handling = minutes(spec.suspend.finish, ticket.rng)
        else:
            handling = minutes(spec.handling, ticket.rng)
        yield self.env.timeout(handling)
        lo, hi = self.window
        worker.busy += max(0.0, min(self.env.now, hi) - max(began, lo))
        suspend = spec.suspend
        if (
            suspend is not None
            and not item.finishing
            and self.scenario.engine.claim
            and ticket.rng.random() < suspend.probability
        ):
            self._call(
                "suspend",
                item,
                lambda: self.engine.suspend(
                    ticket.number,
                    self.supervisor,
                    reason=f"{item.element}: waiting",
                    session=self.session,
                ),
            )
            self.env.process(
                self._resume_later(item, worker, minutes(suspend.duration, ticket.rng))
            )
            return None
        data = self._form(item)
        view = self._call(
            "complete",
            item,
            lambda: self.engine.complete(item.task_id, worker.user, data, session=self.session),
        )
        return self._follow(ticket, view, worker)

    def _resume_later(
        self, item: WorkItem, worker: Worker, wait: float
    ) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(wait)
        self._call(
            "resume",
            item,
            lambda: self.engine.resume(item.ticket.number, self.supervisor, session=self.session),
        )
        # Back to the same person at its old place (``ready`` stays when it was first
        # posted): resumed work is the oldest they have, so a backlog that grew meanwhile
        # cannot starve it (which would leave every started task unfinished).
        item.assignee = worker.id
        item.finishing = True
        item.taken = False
        self.board.post(item)

    def _form(self, item: WorkItem) -> dict[str, Any]:
        ticket = item.ticket
        data = self.forms.fill(
            item.element, ticket.complaint, ticket.number, ticket.data, ticket.rng
        )
        info = self.definition.user_tasks[item.element]
        if info.callback is not None:
            hours = (self.env.now - ticket.since) / 60.0
            data.update(callback_result(self.scenario.callback, hours, info, ticket.rng))
            ticket.since = self.env.now
        return data

    def _call(self, action: str, item: WorkItem | None, fn: Callable[[], Any]) -> Any:
        self.calls += 1
        try:
            return fn()
        except TicketflowError as exc:
            if item is None:
                raise SimulationError(f"the engine refused to {action}: {exc}") from exc
            raise SimulationError(
                f"ticket {item.ticket.number}, task {item.task_id} '{item.element}': the engine "
                f"refused to {action} (check [tasks.{item.element}] of the scenario): {exc}"
            ) from exc
