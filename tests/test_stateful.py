"""Random sequences of the public API on the real engine, checked against a model.

A Hypothesis ``RuleBasedStateMachine`` opens complaint tickets (``processes/complaint.bpmn``)
and tickets of the small timed process of ``test_timers.py``, then claims, unclaims and
completes their tasks (with valid form data, invalid data, or as the wrong user), suspends
and resumes tickets, moves the clock, fires due timers, delivers the outbox through a
gateway that is sometimes down, and restarts the engine on the same database.

The model says what each action must do: which error a refused action raises (and that it
changes nothing at all), where a ticket waits after a step (an oracle of the complaint
flow's gateways and of the timers), who a task is assigned to. After every step the
invariants are checked for every ticket: it still loads; its history agrees with its
state; its open task rows are exactly the user tasks its stored workflow waits at; its
pending timer jobs are exactly the timers the workflow waits on; no side effect is lost.

Each example gets its own database (a temporary SQLite file, or a new PostgreSQL schema
when ``TICKETFLOW_TEST_DATABASE_URL`` is set), dropped when the example ends.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

import ticketflow
from ticketflow import Engine, FixedClock, TaskView, TicketView, User
from ticketflow.definitions.forms import FormField
from ticketflow.errors import (
    DataLimitError,
    FormValidationError,
    InvalidDataError,
    PermissionDeniedError,
    TaskNotFoundError,
    TaskStateError,
    TicketflowError,
    TicketNotFoundError,
    UnknownProcessError,
)
from ticketflow.runtime import timers
from ticketflow.runtime.instance import Instance
from ticketflow.store.models import TaskRow, TicketRow, WorkflowStateRow

from .conftest import PG_URL, PROCESSES
from .test_timers import timed_process

#: What the machine did, by action and outcome ("complete:ok", "claim:TaskStateError"...).
ACTIONS: Counter[str] = Counter()
#: What those actions caused: timer jobs fired, messages delivered.
EFFECTS: Counter[str] = Counter()

SUPERVISOR = User.of("zhou.min", roles=["supervisor"])
OUTSIDER = User.of("guest", groups=["marketing"])
NOT_A_SUPERVISOR = User.of("li.na", groups=["intake_agent"])
PROCESS_IDS = ("complaint", "timed")
START = {"complaint": frozenset({"front_desk"}), "timed": frozenset({"work"})}
ESCALATE_AFTER = timedelta(hours=2)  # timed_process() defaults
WAIT_FOR = timedelta(hours=1)
MAX_TICKETS = 5


# ------------------------------------------------------------------ a database per example


class FreshDatabase:
    """A database nobody else uses: a temporary SQLite file, or a new PostgreSQL schema."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="tf-stateful-"))
        self.schema: str | None = None
        if not PG_URL:
            self.url = f"sqlite:///{self.folder / 'ticketflow.db'}"
            return
        self.schema = f"tf_test_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE SCHEMA "{self.schema}"')
        sep = "&" if "?" in PG_URL else "?"
        self.url = f"{PG_URL}{sep}options=-csearch_path%3D{self.schema}"

    @staticmethod
    def _admin(statement: str) -> None:
        assert PG_URL
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(statement))
        finally:
            admin.dispose()

    def drop(self) -> None:
        if self.schema is not None:
            self._admin(f'DROP SCHEMA "{self.schema}" CASCADE')
        shutil.rmtree(self.folder, ignore_errors=True)


# ------------------------------------------------------------------ plugins


class Notifier:
    """Queues a voice call per created task and an SMS per closed ticket; delivers voice
    calls through a gateway that can be down (the built-in plugin sends the SMS)."""

    def __init__(self) -> None:
        self.down = False
        self.delivered: list[str] = []

    @ticketflow.hookimpl
    def ticketflow_task_created(self, ctx: Any, ticket: TicketView, task: TaskView) -> None:
        ctx.notify("voice", "4008-100-100", f"new task {task.name}", key=f"task:{task.id}")

    @ticketflow.hookimpl
    def ticketflow_ticket_closed(self, ctx: Any, ticket: TicketView) -> None:
        ctx.notify("sms", "13800138000", f"工单 {ticket.number} 已办结 closed", key="closed")

    @ticketflow.hookimpl
    def ticketflow_notify(self, message: Any) -> bool | None:
        if message.channel != "voice":
            return None
        if self.down:
            raise ConnectionError("voice gateway unreachable")
        self.delivered.append(message.idempotency_key)
        return True


# ------------------------------------------------------------------ form data

OMIT = object()

#: Values for fields whose meaning matters to the complaint flow (who gets the next task,
#: which approval level a refund needs).
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "department": st.sampled_from(["dept_billing", "dept_network", "dept_billing, dept_network"]),
    "handler": st.sampled_from([None, "", "zhao.lei", "sun.li"]),
    "transfer_to": st.sampled_from([None, "", "dept_network", "dept_billing"]),
    "refund_amount": st.sampled_from([0, 50, 100, 100.5, 150, 200, 201, 999, 1000, 1000.01, 2500])
    | st.floats(min_value=0, max_value=3000, allow_nan=False),
    "score": st.integers(0, 100),
    # Mostly on to the back office: a ticket solved at the front desk ends there.
    "resolved": st.sampled_from([False, False, False, "false", True, "true"]),
}

#: Values each field type refuses (whatever its constraints).
WRONG_VALUES: dict[str, list[Any]] = {
    "string": [123, True, ["x"], "x" * 10_001],
    "boolean": ["maybe", 1, 0, [True]],
    "long": [1.5, "1.5", "ten", True],
    "double": ["abc", float("nan"), float("inf"), True],
    "enum": ["bogus", 1, True],
    "date": ["yesterday", 5],
}


def _number(f: FormField, name: str) -> float | None:
    value = f.constraints.get(name)
    return float(value) if value is not None else None


def field_values(f: FormField) -> st.SearchStrategy[Any]:
    """Values the field accepts (in any of the forms the engine converts)."""
    if f.id in FIELD_VALUES:
        return FIELD_VALUES[f.id]
    low, high = _number(f, "min"), _number(f, "max")
    if f.type == "string":
        shortest = max(int(_number(f, "minlength") or 0), 1 if f.required else 0)
        return st.text(min_size=shortest, max_size=min(int(_number(f, "maxlength") or 30), 30))
    if f.type == "boolean":
        return st.booleans() | st.sampled_from(["true", "false", "TRUE", "False"])
    if f.type == "long":
        ints = st.integers(
            int(low) if low is not None else -1000, int(high) if high is not None else 1000
        )
        return ints | ints.map(str) | ints.map(float)
    if f.type == "double":
        return st.floats(low if low is not None else -1e6, high if high is not None else 1e6)
    if f.type == "enum":
        return st.sampled_from([c for c, _ in f.choices])
    if f.type == "date":
        return st.dates() | st.dates().map(date.isoformat)
    raise AssertionError(f"no strategy for form field type {f.type}")


def valid_form(task: TaskView) -> st.SearchStrategy[dict[str, Any]]:
    """Form data the task accepts: every required field, optional ones now and then."""
    parts: dict[str, st.SearchStrategy[Any]] = {}
    for f in task.form:
        values = field_values(f)
        parts[f.id] = values if f.required else st.one_of(st.just(OMIT), st.none(), values)
    return st.fixed_dictionaries(parts).map(lambda d: {k: v for k, v in d.items() if v is not OMIT})


def invalid_form(task: TaskView) -> st.SearchStrategy[Any]:
    """Form data the task refuses, each in one definite way."""
    base = valid_form(task)
    options: list[st.SearchStrategy[Any]] = [
        st.just(["not", "a", "mapping"]),
        base.map(lambda d: {**d, "zz_not_a_field": 1}),
    ]
    required = [f for f in task.form if f.required]
    if required:
        options.append(
            st.tuples(base, st.sampled_from(required), st.sampled_from([OMIT, None, ""])).map(
                lambda t: {
                    **{k: v for k, v in t[0].items() if k != t[1].id},
                    **({} if t[2] is OMIT else {t[1].id: t[2]}),
                }
            )
        )
    for f in task.form:
        wrong = list(WRONG_VALUES[f.type])
        if _number(f, "min") is not None:
            wrong.append(float(f.constraints["min"]) - 1)
        options.append(
            st.tuples(base, st.sampled_from(wrong)).map(lambda t, name=f.id: {**t[0], name: t[1]})
        )
    return st.one_of(options)


def _normalized(f: FormField, value: Any) -> Any:
    if f.type == "boolean":
        return value if isinstance(value, bool) else value.lower() == "true"
    if f.type == "long":
        return int(value)
    if f.type == "double":
        return float(value)
    if f.type == "date":
        return value if isinstance(value, str) else value.isoformat()
    return value


def after_form(task: TaskView, form: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """The ticket data the process sees once ``form`` is accepted (documented rules: an
    optional field left out keeps the ticket's value, else its default, else None)."""
    merged = dict(current)
    for f in task.form:
        value = form.get(f.id, OMIT)
        if value is not OMIT and value is not None and value != "":
            merged[f.id] = _normalized(f, value)
        elif value is OMIT and f.id in current:
            pass
        else:
            merged[f.id] = _normalized(f, f.default) if f.default is not None else None
    return merged


# ------------------------------------------------------------------ oracle of the flows


def _refund_step(d: dict[str, Any]) -> str:
    amount = d.get("refund_amount") or 0
    if not amount > 0:
        return "reply"
    if amount <= 200 and d.get("refunds_before") == 0:
        return "verify_refund"
    if amount <= 100:
        return "approve_refund_l1"
    if amount <= 1000:
        return "approve_refund_l2"
    return "approve_refund_l3"


def next_waiting(process: str, element: str, d: dict[str, Any]) -> frozenset[str] | None:
    """Where the ticket waits after ``element`` completes with data ``d``; None: closed."""
    if process == "timed":
        return frozenset() if element == "work" else None  # work -> the wait timer
    if element == "front_desk":
        return None if d["resolved"] else frozenset({"record"})
    if element == "handle":
        outcome = d["outcome"]
        if outcome in ("transfer", "escalate", "return"):
            target = {"transfer": "handle", "escalate": "difficult_review", "return": "dispatch"}
            return frozenset({target[outcome]})
        return frozenset({_refund_step(d)})
    if element == "difficult_review":
        return frozenset({_refund_step(d)})
    if element == "callback":
        return None if d["satisfied"] else frozenset({"handle"})
    following = {"record": "classify", "classify": "dispatch", "dispatch": "handle"}
    return frozenset({following.get(element, "callback" if element == "reply" else "reply")})


def groups_of(value: Any) -> tuple[str, ...]:
    return tuple(g.strip() for g in str(value).split(",") if g.strip())


@dataclass
class Expected:
    """What the model knows about one ticket."""

    process: str
    status: str = "open"  # open, suspended, closed
    waiting: frozenset[str] = field(default_factory=frozenset)  # elements with open tasks
    since: datetime | None = None  # when it started waiting there (for the timers)
    suspended_since_then: bool = False  # timers may have been put off meanwhile
    region: str | None = None


@dataclass(frozen=True)
class World:
    """Everything an action could change, to show that a refused one changed nothing."""

    tickets: tuple[Any, ...]
    total: int
    tasks: tuple[TaskView, ...]
    jobs: tuple[Any, ...]
    outbox: tuple[Any, ...]
    incidents: tuple[Any, ...]


# ------------------------------------------------------------------ the machine


class TicketflowMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.db = FreshDatabase()
        self.clock = FixedClock()
        self.notifier = Notifier()
        (self.db.folder / "timed.bpmn").write_text(timed_process(), encoding="utf-8")
        self.engines: list[Engine] = []
        self.engine = self._start(deploy=True)
        self.tickets: dict[str, Expected] = {}
        #: ticket number -> {open task id: its expected assignee}
        self.assignees: dict[str, dict[int, str | None]] = {}

    # --- plumbing -----------------------------------------------------------------------

    def _start(self, deploy: bool) -> Engine:
        engine = Engine(
            self.db.url,
            clock=self.clock,
            plugins=[self.notifier],
            load_entry_points=False,
            auto_migrate=True,
        )
        self.engines.append(engine)
        self.definitions: dict[str, Any] = {}
        if deploy:
            engine.deploy(PROCESSES / "complaint.bpmn", self.db.folder / "timed.bpmn")
        return engine

    def teardown(self) -> None:
        for engine in self.engines:
            engine.close()
        self.db.drop()

    def _world(self) -> World:
        e = self.engine
        return World(
            tickets=tuple((e.ticket(n), tuple(e.history(n))) for n in sorted(self.tickets)),
            total=e.tickets(limit=1).total,
            tasks=e.tasks(state=None, order_by="id", limit=1000).items,
            jobs=tuple(e.jobs(state=None, limit=1000)),
            outbox=tuple(e.outbox_messages(limit=1000)),
            incidents=tuple(e.incidents(open_only=False, limit=1000)),
        )

    def _refused(self, action: str, expected: type[Exception], call: Callable[[], Any]) -> None:
        """``call`` must raise exactly ``expected`` and leave everything as it was."""
        before = self._world()
        with pytest.raises(TicketflowError) as info:
            call()
        assert type(info.value) is expected, (
            f"{action}: expected {expected.__name__}, got {info.value!r}"
        )
        assert self._world() == before, f"{action} failed with {info.value!r} but changed something"
        ACTIONS[f"{action}:{expected.__name__}"] += 1

    def _with_tasks(self, *statuses: str) -> list[str]:
        statuses = statuses or ("open", "suspended")
        return sorted(n for n, x in self.tickets.items() if x.status in statuses and x.waiting)

    def _pick_task(
        self, data: st.DataObject, number: str | None = None
    ) -> tuple[TicketView, TaskView]:
        if number is None:
            number = data.draw(st.sampled_from(self._with_tasks()), label="ticket")
        view = self.engine.ticket(number)
        task = data.draw(st.sampled_from(view.open_tasks), label="task")
        return view, task

    def _user(self, data: st.DataObject, task: TaskView, kind: str) -> User:
        groups = task.candidate_groups
        if kind == "worker":
            if task.assignee is not None:
                return User.of(task.assignee, groups=groups)
            group = data.draw(st.sampled_from(groups), label="group")
            return User.of(f"u.{group}", groups=[group])
        if kind == "colleague":
            return User.of("colleague", groups=groups)
        if kind == "lead":
            return User.of("team.lead", groups=groups, roles=["supervisor"])
        if kind == "far_away":
            return User.of("far.away", groups=groups, region="qingdao")
        return OUTSIDER

    def _moved(self, view: TicketView, assigned: dict[str, str | None] | None = None) -> None:
        """The ticket moved on: record its open tasks. New ones start unassigned unless
        ``assigned`` names their assignee (by element)."""
        known = self.assignees.get(view.number, {})
        for task in view.open_tasks:
            if task.id not in known:
                want = (assigned or {}).get(task.element_id)
                assert task.assignee == want, f"new task {task.element_id}: {task.assignee!r}"
        self.assignees[view.number] = {t.id: t.assignee for t in view.open_tasks}

    # --- tickets ------------------------------------------------------------------------

    @precondition(lambda self: len(self.tickets) < MAX_TICKETS)
    @rule(
        process=st.sampled_from(PROCESS_IDS),
        tier=st.sampled_from([None, "vip", "gold", "ordinary"]),
        region=st.sampled_from([None, "jinan"]),
        channel=st.sampled_from(["hotline", "web", "sms", "app"]),
    )
    def open_ticket(self, process: str, tier: str | None, region: str | None, channel: str):
        view = self.engine.open_ticket(
            process,
            customer=f"C-{len(self.tickets) + 1}",
            channel=channel,
            customer_tier=tier,
            region=region,
            data={"summary": "话费多扣 charged twice"},
        )
        assert view.number not in self.tickets
        assert view.status == "open" and view.definition_version == 1
        assert frozenset(t.element_id for t in view.open_tasks) == START[process]
        self.tickets[view.number] = Expected(
            process, waiting=START[process], since=self.clock.now(), region=region
        )
        self._moved(view)
        ACTIONS["open_ticket:ok"] += 1

    @rule(
        data=st.data(),
        mistake=st.sampled_from(
            [
                "unknown_process",
                "unknown_channel",
                "blank_customer",
                "priority_101",
                "private_key",
                "not_json",
                "too_big",
                "finished_task",
                "finished_task",
                "missing_task",
                "task_id_not_int",
                "missing_ticket",
            ]
        ),
    )
    def refused_call(self, data: st.DataObject, mistake: str) -> None:
        """Calls the engine must refuse whatever the state: bad arguments, unknown ids,
        tasks already completed or cancelled."""
        e = self.engine
        if mistake == "finished_task":
            finished = e.tasks(state=["completed", "cancelled"], order_by="id", limit=1000)
            if not finished.items:
                return
            task = data.draw(st.sampled_from(finished.items), label="finished task")
            user = User.of(task.completed_by or "someone", groups=task.candidate_groups)
            action = data.draw(st.sampled_from(["claim", "unclaim", "complete"]), label="action")
            calls = {
                "claim": lambda: e.claim(task.id, user),
                "unclaim": lambda: e.unclaim(task.id, user),
                "complete": lambda: e.complete(task.id, user, {}),
            }
            self._refused(action, TaskStateError, calls[action])
            return
        if mistake == "missing_task":
            last = e.tasks(state=None, order_by="id", descending=True, limit=1)
            missing = (last.items[0].id if last.items else 0) + 1000
            self._refused("complete", TaskNotFoundError, lambda: e.complete(missing, OUTSIDER))
            return
        if mistake == "task_id_not_int":
            self._refused("claim", InvalidDataError, lambda: e.claim("1", OUTSIDER))
            return
        if mistake == "missing_ticket":
            number = "TS-20260105-999999"
            self._refused("suspend", TicketNotFoundError, lambda: e.suspend(number, SUPERVISOR))
            return
        kwargs: dict[str, Any] = {"customer": "C-1", "channel": "web", "data": {}}
        expected: type[Exception] = InvalidDataError
        process = "complaint"
        if mistake == "unknown_process":
            process, expected = "no_such_process", UnknownProcessError
        elif mistake == "unknown_channel":
            kwargs["channel"] = "carrier_pigeon"
        elif mistake == "blank_customer":
            kwargs["customer"] = " "
        elif mistake == "priority_101":
            kwargs["priority"] = 101
        elif mistake == "private_key":
            kwargs["data"] = {"_private": 1}
        elif mistake == "not_json":
            kwargs["data"] = {"tags": {1, 2}}
        else:
            kwargs["data"], expected = {"blob": "x" * 300_000}, DataLimitError
        self._refused("open_ticket", expected, lambda: e.open_ticket(process, **kwargs))

    # --- tasks --------------------------------------------------------------------------

    @precondition(lambda self: self._with_tasks())
    @rule(
        data=st.data(),
        kind=st.sampled_from(["worker", "worker", "colleague", "outsider", "far_away"]),
    )
    def claim(self, data: st.DataObject, kind: str) -> None:
        view, task = self._pick_task(data)
        user = self._user(data, task, kind)
        expected = self._predict(view, task, user, "claim")
        if expected is not None:
            self._refused("claim", expected, lambda: self.engine.claim(task.id, user))
            return
        claimed = self.engine.claim(task.id, user)
        assert claimed.assignee == user.id and claimed.state == "open"
        self.assignees[view.number][task.id] = user.id
        ACTIONS["claim:ok"] += 1

    @precondition(lambda self: self._with_tasks())
    @rule(
        data=st.data(),
        kind=st.sampled_from(["worker", "lead", "colleague", "outsider", "far_away"]),
    )
    def unclaim(self, data: st.DataObject, kind: str) -> None:
        view, task = self._pick_task(data)
        user = self._user(data, task, kind)
        expected = self._predict(view, task, user, "unclaim")
        if expected is not None:
            self._refused("unclaim", expected, lambda: self.engine.unclaim(task.id, user))
            return
        unclaimed = self.engine.unclaim(task.id, user)
        assert unclaimed.assignee is None
        self.assignees[view.number][task.id] = None
        ACTIONS["unclaim:ok"] += 1

    @precondition(lambda self: self._with_tasks("open"))
    @rule(data=st.data())
    def complete(self, data: st.DataObject) -> None:
        number = data.draw(st.sampled_from(self._with_tasks("open")), label="ticket")
        self._complete(data, "valid", number)

    @precondition(lambda self: self._with_tasks("open"))
    @rule(data=st.data(), steps=st.integers(2, 8))
    def work_through(self, data: st.DataObject, steps: int) -> None:
        """Several steps of one ticket in a row, so tickets get deep into their flow."""
        number = data.draw(st.sampled_from(self._with_tasks("open")), label="ticket")
        for _ in range(steps):
            if number not in self._with_tasks("open"):
                break
            self._complete(data, "valid", number)

    @precondition(lambda self: self._with_tasks())
    @rule(data=st.data(), how=st.sampled_from(["invalid", "colleague", "outsider", "far_away"]))
    def complete_refused_or_not(self, data: st.DataObject, how: str) -> None:
        """Invalid data, or a user who may not (a colleague may, if the task is free)."""
        self._complete(data, how)

    def _complete(self, data: st.DataObject, how: str, number: str | None = None) -> None:
        view, task = self._pick_task(data, number)
        user = self._user(data, task, "worker" if how in ("valid", "invalid") else how)
        valid = how != "invalid"
        form = data.draw(valid_form(task) if valid else invalid_form(task), label="form")
        expected = self._predict(view, task, user, "complete", valid)
        if expected is not None:
            self._refused("complete", expected, lambda: self.engine.complete(task.id, user, form))
            return
        process = self.tickets[view.number].process
        merged = after_form(task, form, view.data)
        waiting = next_waiting(process, task.element_id, merged)
        after = self.engine.complete(task.id, user, form)
        x = self.tickets[view.number]
        if waiting is None:
            assert after.status == "closed" and after.open_tasks == ()
            x.status, x.waiting = "closed", frozenset()
        else:
            assert after.status == "open"
            assert frozenset(t.element_id for t in after.open_tasks) == waiting, (
                f"{task.element_id} with {form!r}: expected {set(waiting)}, "
                f"waiting at {[t.element_id for t in after.open_tasks]}"
            )
            x.waiting = waiting
        x.since, x.suspended_since_then = self.clock.now(), False
        assert task.id not in {t.id for t in after.open_tasks}
        for t in after.open_tasks:
            if t.element_id == "handle":
                assert t.candidate_groups == groups_of(after.data["department"])
                if task.element_id == "handle" and merged["outcome"] == "transfer":
                    moved_to = merged.get("transfer_to") or merged["department"]
                    assert t.candidate_groups == groups_of(moved_to)
                    assert t.assignee is None, "a transfer goes to the queue"
            if t.element_id == "reply":
                assert t.candidate_groups == groups_of(after.data["department"])
        self._moved(after, {"handle": after.data.get("handler") or None})
        ACTIONS["complete:ok"] += 1
        EFFECTS[f"completed {task.element_id}"] += 1
        EFFECTS["tickets_closed"] += waiting is None

    def _predict(
        self, view: TicketView, task: TaskView, user: User, action: str, valid: bool = True
    ) -> type[Exception] | None:
        """The error the documented rules call for, or None if the action is allowed."""
        if view.status == "suspended":
            return TaskStateError
        in_group = bool(user.groups & set(task.candidate_groups))
        other_region = bool(user.region and view.region and user.region != view.region)
        if action == "claim":
            if task.assignee == user.id:
                return None  # already theirs: nothing to do
            if task.assignee is not None:
                return TaskStateError
            return PermissionDeniedError if other_region or not in_group else None
        if action == "unclaim":
            if task.assignee is None:
                return TaskStateError
            mine = task.assignee == user.id or ("supervisor" in user.roles and in_group)
            return PermissionDeniedError if other_region or not mine else None
        mine = task.assignee == user.id or (task.assignee is None and in_group)
        if other_region or not mine:
            return PermissionDeniedError
        return None if valid else FormValidationError

    # --- suspension ---------------------------------------------------------------------

    @precondition(lambda self: self.tickets)
    @rule(data=st.data(), suspend=st.booleans(), supervisor=st.booleans())
    def suspend_or_resume(self, data: st.DataObject, suspend: bool, supervisor: bool) -> None:
        number = data.draw(st.sampled_from(sorted(self.tickets)), label="ticket")
        x = self.tickets[number]
        user = SUPERVISOR if supervisor else NOT_A_SUPERVISOR
        action = "suspend" if suspend else "resume"
        method = self.engine.suspend if suspend else self.engine.resume
        if x.status != ("open" if suspend else "suspended"):
            self._refused(action, TaskStateError, lambda: method(number, user, reason="客户出差"))
            return
        if not supervisor:
            self._refused(action, PermissionDeniedError, lambda: method(number, user))
            return
        view = method(number, user, reason="客户出差")
        x.status = "suspended" if suspend else "open"
        x.suspended_since_then = True
        assert view.status == x.status
        assert all(t.state == ("suspended" if suspend else "open") for t in view.open_tasks)
        ACTIONS[f"{action}:ok"] += 1

    # --- time, jobs, outbox, restarts ---------------------------------------------------

    @rule(minutes=st.sampled_from([1, 5, 29, 31, 59, 61, 119, 121, 60 * 24]))
    def advance_clock(self, minutes: int) -> None:
        self.clock.advance(minutes=minutes)
        ACTIONS["advance_clock"] += 1

    @rule(limit=st.sampled_from([1, 3, None]))
    def run_due(self, limit: int | None) -> None:
        """One pass of at most ``limit`` jobs, or (None) passes until nothing is due."""
        if limit is not None:
            self._check_run(self.engine.run_due(limit=limit))
            self._timers_moved(drained=False)
            ACTIONS["run_due"] += 1
            return
        for _ in range(20):
            report = self._check_run(self.engine.run_due())
            if report.attempted == 0:
                break
        else:
            raise AssertionError("run_due still finds due jobs after 20 passes")
        now = self.clock.now()
        for job in self.engine.jobs(limit=1000):
            assert job.due_at > now, f"job {job} is due but was left pending"
        self._timers_moved(drained=True)
        ACTIONS["run_due_until_idle"] += 1

    def _check_run(self, report: Any) -> Any:
        """Timer jobs never fail."""
        EFFECTS["timer_jobs_fired"] += report.fired
        assert report.retried == report.dead == 0, (
            report,
            [
                (j.kind, j.element_id, j.last_error)
                for j in self.engine.jobs(limit=1000)
                if j.last_error
            ],
        )
        return report

    def _definition(self, process: str) -> Any:
        if process not in self.definitions:
            self.definitions[process] = self.engine.definition(process)
        return self.definitions[process]

    def _timers_due_now(self) -> set[tuple[int, str]]:
        """(ticket id, element) of the timers whose due instant is exactly now."""
        now, found = self.clock.now(), set()
        for number, x in self.tickets.items():
            view = self.engine.ticket(number)
            with Session(self.engine.bind) as s:
                stored = s.scalars(
                    select(WorkflowStateRow.state).where(WorkflowStateRow.ticket_id == view.id)
                ).one()
            instance = Instance.load(self._definition(x.process), stored, number)
            for timer in timers.waiting_timers(instance.workflow):
                if timer.due_at == now:
                    found.add((view.id, timer.element_id))
        return found

    def _timers_moved(self, drained: bool) -> None:
        """Where timed tickets may wait now: a timer moves 'work' to 'escalated' (2 h)
        and the wait to 'after_wait' (1 h); complaint tickets have no timers."""
        now = self.clock.now()
        for number, x in self.tickets.items():
            view = self.engine.ticket(number)
            waiting = frozenset(t.element_id for t in view.open_tasks)
            if x.process != "timed" or x.status != "open" or x.since is None:
                assert waiting == x.waiting, f"{number} moved without a timer"
                continue
            due = None
            if x.waiting == {"work"}:
                due, fired = x.since + ESCALATE_AFTER, frozenset({"escalated"})
            elif not x.waiting:
                due, fired = x.since + WAIT_FOR, frozenset({"after_wait"})
            if due is None or now <= due:
                assert waiting == x.waiting, f"{number} moved before its timer was due"
                continue
            if drained and not x.suspended_since_then:
                assert waiting == fired, f"{number}: its timer was due at {due} but did not fire"
            assert waiting in (x.waiting, fired), f"{number} waits at {set(waiting)}"
            if waiting != x.waiting:
                x.waiting, x.since, x.suspended_since_then = fired, now, False
                self._moved(view)
                EFFECTS[f"timer moved to {set(fired)}"] += 1

    @rule(gateway=st.sampled_from(["as_is", "as_is", "down", "up"]))
    def deliver_outbox(self, gateway: str) -> None:
        if gateway != "as_is":
            self.notifier.down = gateway == "down"
            ACTIONS[f"gateway_{gateway}"] += 1
        report = self.engine.deliver_outbox(limit=1000)
        ACTIONS["deliver_outbox"] += 1
        EFFECTS["messages_delivered"] += report.delivered
        EFFECTS["delivery_retries"] += report.retried
        if not self.notifier.down:
            now = self.clock.now()
            late = [
                m
                for m in self.engine.outbox_messages(state="pending", limit=1000)
                if m.next_attempt_at <= now
            ]
            assert late == [], "a working gateway left due messages undelivered"

    @rule(redeploy=st.booleans())
    def restart(self, redeploy: bool) -> None:
        before = self._world()
        self.engine.close()
        self.engine = self._start(deploy=redeploy)
        assert self._world() == before, "a restart changed what is stored"
        versions = Counter(d.process_id for d in self.engine.definitions())
        assert versions == {"complaint": 1, "timed": 1}, "unchanged files keep their version"
        ACTIONS["restart"] += 1

    # --- invariants ---------------------------------------------------------------------

    @invariant()
    def everything_is_consistent(self) -> None:
        e = self.engine
        assert e.tickets(limit=1).total == len(self.tickets), "a ticket appeared or vanished"
        with Session(e.bind) as s:
            rows = s.execute(
                select(TaskRow.ticket_number, TaskRow.id, TaskRow.spiff_task_id, TaskRow.state)
            ).all()
            states = dict(
                s.execute(
                    select(TicketRow.number, WorkflowStateRow.state).join(
                        WorkflowStateRow, WorkflowStateRow.ticket_id == TicketRow.id
                    )
                )
                .tuples()
                .all()
            )
        open_rows: dict[str, dict[str, int]] = {}
        for number, task_id, spiff_id, state in rows:
            if state in ("open", "suspended"):
                spiff_ids = open_rows.setdefault(number, {})
                assert spiff_id not in spiff_ids, f"{number}: two open rows for one workflow task"
                spiff_ids[spiff_id] = task_id
        created = closed = 0
        for number, x in self.tickets.items():
            view = e.ticket(number)  # no ticket lost
            events = e.history(number)
            created += sum(ev.kind == "task_created" for ev in events)
            closed += sum(ev.kind == "ticket_closed" for ev in events)
            self._check_ticket(x, view, events, open_rows.get(number, {}), states[number])
        self._check_outbox(created, closed)

    def _check_ticket(
        self,
        x: Expected,
        view: TicketView,
        events: list[Any],
        open_rows: dict[str, int],
        stored: str,
    ) -> None:
        number = view.number
        assert view.status == x.status, f"{number} is {view.status}, the model says {x.status}"
        assert frozenset(t.element_id for t in view.open_tasks) == x.waiting
        for task in view.open_tasks:
            assert task.state == ("suspended" if x.status == "suspended" else "open")
        assert self.assignees.get(number, {}) == {t.id: t.assignee for t in view.open_tasks}
        # History: ids and times increase, one opening, at most one closing, at the end.
        ids = [ev.id for ev in events]
        assert ids == sorted(set(ids)), f"{number}: event ids do not increase"
        assert [ev.at for ev in events] == sorted(ev.at for ev in events)
        assert events[0].kind == "ticket_opened"
        assert sum(ev.kind == "ticket_opened" for ev in events) == 1
        closings = [ev for ev in events if ev.kind == "ticket_closed"]
        if x.status == "closed":
            assert len(closings) == 1 and events[-1].kind == "ticket_closed"
            assert view.open_tasks == () and view.closed_at is not None
        else:
            assert closings == []
        pauses = [ev.kind for ev in events if ev.kind in ("ticket_suspended", "ticket_resumed")]
        assert all(a != b for a, b in pairwise(pauses)), pauses
        assert (pauses[-1:] == ["ticket_suspended"]) == (x.status == "suspended")
        # Every task created once and ended at most once; the ones not ended are the open ones.
        created: set[int] = set()
        ended: set[int] = set()
        for ev in events:
            if ev.kind == "task_created":
                assert ev.task_id not in created, f"{number}: task {ev.task_id} created twice"
                created.add(ev.task_id)
            elif ev.kind in ("task_completed", "task_cancelled"):
                assert ev.task_id in created and ev.task_id not in ended, (number, ev)
                ended.add(ev.task_id)
            elif ev.kind in ("task_claimed", "task_unclaimed"):
                assert ev.task_id in created and ev.task_id not in ended, (number, ev)
        assert {t.id for t in view.open_tasks} == created - ended
        # The open task rows are exactly the user tasks the stored workflow waits at.
        instance = Instance.load(self._definition(x.process), stored, number)
        ready = {str(t.id): t.task_spec.bpmn_id for t in instance.ready_user_tasks()}
        assert set(ready) == set(open_rows), f"{number}: workflow {ready} vs rows {open_rows}"
        by_id = {t.id: t.element_id for t in view.open_tasks}
        assert {s: by_id[i] for s, i in open_rows.items()} == ready
        assert instance.workflow.is_completed() == (x.status == "closed")
        # Pending timer jobs are exactly the timers the workflow waits on.
        jobs = self.engine.jobs(ticket=number)
        waiting_timers = sorted(t.element_id for t in timers.waiting_timers(instance.workflow))
        assert sorted(j.element_id or "" for j in jobs if j.kind == "timer") == waiting_timers
        if x.status != "closed":
            assert view.open_tasks or jobs, f"{number} is open but waits for nothing"
        else:
            assert jobs == []

    def _check_outbox(self, created: int, closed: int) -> None:
        messages = self.engine.outbox_messages(limit=1000)
        kinds = Counter(m.payload["channel"] for m in messages)
        assert kinds == Counter({"voice": created, "sms": closed}), "a side effect is missing"
        states = Counter(m.state for m in messages)
        assert set(states) <= {"pending", "delivered", "dead"}
        incidents = self.engine.incidents(limit=1000)
        assert len(incidents) == states["dead"], "every dead message has its incident"
        voice = [m for m in messages if m.payload["channel"] == "voice" and m.state == "delivered"]
        assert len(self.notifier.delivered) == len(set(self.notifier.delivered)) == len(voice)


SETTINGS = settings(
    max_examples=30,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_random_api_sequences_keep_the_invariants(
    record_property: Callable[[str, object], None], capsys: pytest.CaptureFixture[str]
) -> None:
    ACTIONS.clear()
    EFFECTS.clear()
    started = time.perf_counter()
    run_state_machine_as_test(TicketflowMachine, settings=SETTINGS)
    elapsed = time.perf_counter() - started
    record_property("stateful_actions", dict(ACTIONS))
    record_property("stateful_effects", dict(EFFECTS))
    with capsys.disabled():
        print(
            f"\nstateful: {ACTIONS.total()} actions in {elapsed:.1f} s "
            f"({dict(sorted(EFFECTS.items()))}): {dict(sorted(ACTIONS.items()))}"
        )
    assert ACTIONS["open_ticket:ok"] and ACTIONS["complete:ok"], "the machine did nothing"


# ------------------------------------------------------------------ bugs the machine found


def test_a_timer_run_at_its_exact_due_instant_fires(
    make_engine: Callable[..., Engine], tmp_path: Path, clock: FixedClock
) -> None:
    engine = make_engine(load_entry_points=False)
    (tmp_path / "timed.bpmn").write_text(timed_process(), encoding="utf-8")
    engine.deploy(tmp_path / "timed.bpmn")
    ticket = engine.open_ticket("timed", customer="C1", channel="web")
    clock.advance(minutes=30)  # exactly when the first reminder (R2/PT30M) is due
    report = engine.run_due()
    errors = [j.last_error for j in engine.jobs(ticket=ticket.number, state=None)]
    assert report.retried == report.dead == 0, (report, errors)
    assert errors == [None, None]
