"""Driving a ticket along a path of the process, declaratively.

A path is a list of steps::

    drive(engine, ticket, [
        ("front_desk", {"resolved": False}, agent),   # complete the task as agent
        ("record", {"description": "...", "urgency": "normal"}),
        Timer("remind"),                              # jump the clock to its due time
        ("escalate", timedelta(hours=24)),            # or move it on by 24 hours
    ])

or the same built with :class:`Path`. A step that cannot be taken fails with an
:class:`AssertionError` naming the step and showing where the ticket waits.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ticketflow.engine import Engine
from ticketflow.testing.history import describe_path, describe_waiting, passed_elements
from ticketflow.time.clock import FixedClock
from ticketflow.users import User, as_user
from ticketflow.views import TicketView

#: How far past a timer's due instant the clock is moved to fire it.
TIMER_MARGIN = timedelta(seconds=1)


@dataclass(frozen=True)
class Complete:
    """Complete the open task at ``element`` with ``data``, as ``user``.

    Without a user, the path's default user acts, else the system user (an admin). An
    unclaimed task is claimed first by the acting user, as a person would.
    """

    element: str
    data: Mapping[str, Any] = field(default_factory=dict)
    user: User | str | None = None


@dataclass(frozen=True)
class Timer:
    """Fire the pending timer at ``element``: move the clock by ``after``, or (without it)
    to just past the timer's due time, then run due jobs."""

    element: str
    after: timedelta | None = None


StepLike = Complete | Timer | str | tuple[Any, ...]


def as_step(step: StepLike) -> Complete | Timer:
    """Read the short forms: ``"el"``, ``("el", data)``, ``("el", data, user)``,
    ``("el", timedelta)``."""
    if isinstance(step, (Complete, Timer)):
        return step
    if isinstance(step, str):
        return Complete(step)
    if isinstance(step, tuple) and step and isinstance(step[0], str) and len(step) <= 3:
        element, *rest = step
        if len(rest) == 1 and isinstance(rest[0], timedelta):
            return Timer(element, rest[0])
        data = rest[0] if rest and rest[0] is not None else {}
        user = rest[1] if len(rest) > 1 else None
        if isinstance(data, Mapping) and (user is None or isinstance(user, (User, str))):
            return Complete(element, data, user)
    raise TypeError(
        f"a path step is an element id, (element, data[, user]), (element, timedelta), "
        f"Complete or Timer; got {step!r}"
    )


class Path:
    """A reusable path: ``Path().complete("a", {...}, user).timer("t").complete("b")``."""

    def __init__(self, steps: Iterable[StepLike] = ()) -> None:
        self.steps: list[Complete | Timer] = [as_step(s) for s in steps]

    def complete(
        self,
        element: str,
        data: Mapping[str, Any] | None = None,
        user: User | str | None = None,
    ) -> Path:
        self.steps.append(Complete(element, data or {}, user))
        return self

    def timer(self, element: str, after: timedelta | None = None) -> Path:
        self.steps.append(Timer(element, after))
        return self

    def __add__(self, other: Iterable[StepLike]) -> Path:
        return Path([*self.steps, *other])

    def __iter__(self) -> Iterator[Complete | Timer]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def run(
        self, engine: Engine, ticket: TicketView | str, *, user: User | str | None = None
    ) -> TicketView:
        """Drive ``ticket`` along this path; see :func:`drive`."""
        return drive(engine, ticket, self.steps, user=user)


def drive(
    engine: Engine,
    ticket: TicketView | str,
    steps: Iterable[StepLike],
    *,
    user: User | str | None = None,
) -> TicketView:
    """Take ``steps`` one after the other; return the ticket as it is afterwards.

    ``user`` acts for steps that name nobody (default: the system user, an admin).
    """
    __tracebackhide__ = True
    number = ticket if isinstance(ticket, str) else ticket.number
    plan = [as_step(s) for s in steps]
    default = as_user(user) if user is not None else User.system()
    view = engine.ticket(number)
    for i, step in enumerate(plan, 1):
        where = f"step {i} of {len(plan)}"
        if isinstance(step, Complete):
            view = _complete(engine, view, step, default, where)
        else:
            view = _fire(engine, view, step, where)
    return view


def _complete(
    engine: Engine, view: TicketView, step: Complete, default: User, where: str
) -> TicketView:
    __tracebackhide__ = True
    task = next((t for t in view.open_tasks if t.element_id == step.element), None)
    if task is None or task.state != "open":
        raise AssertionError(
            f"{where}: ticket {view.number} is not waiting at '{step.element}'; "
            f"{describe_waiting(view, engine)}; passed: "
            f"{describe_path(passed_elements(engine.history(view.number)))}"
        )
    actor = as_user(step.user) if step.user is not None else default
    if task.assignee is None:
        engine.claim(task.id, actor)
    elif task.assignee != actor.id and "admin" not in actor.roles:
        raise AssertionError(
            f"{where}: task {task.id} '{task.element_id}' of ticket {view.number} is claimed "
            f"by '{task.assignee}', not '{actor.id}'; complete it as that user"
        )
    return engine.complete(task.id, actor, dict(step.data))


def _fire(engine: Engine, view: TicketView, step: Timer, where: str) -> TicketView:
    __tracebackhide__ = True
    pending = [j for j in engine.jobs(ticket=view.number) if j.kind == "timer" and j.element_id]
    job = next((j for j in pending if j.element_id == step.element), None)
    if job is None:
        raise AssertionError(
            f"{where}: ticket {view.number} has no pending timer at '{step.element}'; "
            f"{describe_waiting(view, engine)}"
        )
    clock = engine.clock
    if not isinstance(clock, FixedClock):
        raise TypeError(
            f"{where}: firing timer '{step.element}' needs an engine on a FixedClock, "
            f"not {type(clock).__name__}"
        )
    if step.after is not None:
        clock.advance(step.after)
    elif clock.now() < job.due_at + TIMER_MARGIN:
        clock.set(job.due_at + TIMER_MARGIN)
    engine.run_due()
    done = {j.id for j in engine.jobs(state="done", ticket=view.number)}
    if job.id not in done:
        state = next(j for j in engine.jobs(state=None, ticket=view.number) if j.id == job.id)
        raise AssertionError(
            f"{where}: timer '{step.element}' of ticket {view.number} did not fire "
            f"(due {job.due_at:%Y-%m-%d %H:%M:%S}, clock {clock.now():%Y-%m-%d %H:%M:%S}, "
            f"job {state.state}{': ' + state.last_error if state.last_error else ''})"
        )
    return engine.ticket(view.number)
