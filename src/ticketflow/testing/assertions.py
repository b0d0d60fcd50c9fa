"""Assertions about a ticket's path, with messages that show where it really is.

They raise :class:`AssertionError` themselves (so they also work under ``python -O`` and
outside pytest) and hide their own frames from pytest tracebacks.
"""

from __future__ import annotations

from ticketflow.engine import Engine
from ticketflow.testing.history import (
    describe_path,
    describe_task,
    describe_waiting,
    passed_elements,
)
from ticketflow.views import TaskView, TicketView


def _fresh(ticket: TicketView, engine: Engine | None) -> TicketView:
    return engine.ticket(ticket.number) if engine is not None else ticket


def assert_waiting_at(ticket: TicketView, element: str, *, engine: Engine | None = None) -> None:
    """The ticket has an open task at ``element``.

    With ``engine``, the ticket is read afresh and a pending timer at ``element`` counts too.
    """
    __tracebackhide__ = True
    ticket = _fresh(ticket, engine)
    if any(t.element_id == element for t in ticket.open_tasks):
        return
    if engine is not None and any(
        j.element_id == element and j.kind == "timer" for j in engine.jobs(ticket=ticket.number)
    ):
        return
    raise AssertionError(
        f"ticket {ticket.number} ({ticket.process_id} v{ticket.definition_version}) is not "
        f"waiting at '{element}'; {describe_waiting(ticket, engine)}"
    )


def assert_passed(engine: Engine, ticket: TicketView | str, element: str) -> None:
    """The ticket's history shows it went through ``element`` (automatic or completed)."""
    __tracebackhide__ = True
    number = ticket if isinstance(ticket, str) else ticket.number
    passed = passed_elements(engine.history(number))
    if element in passed:
        return
    view = engine.ticket(number)
    raise AssertionError(
        f"ticket {number} did not pass '{element}'; passed: {describe_path(passed)}; "
        f"{describe_waiting(view, engine)}"
    )


def assert_not_passed(engine: Engine, ticket: TicketView | str, element: str) -> None:
    """The ticket never went through ``element``."""
    __tracebackhide__ = True
    number = ticket if isinstance(ticket, str) else ticket.number
    passed = passed_elements(engine.history(number))
    if element not in passed:
        return
    raise AssertionError(
        f"ticket {number} passed '{element}' ({passed.count(element)}x); "
        f"passed: {describe_path(passed)}"
    )


def assert_ended_at(ticket: TicketView, end_element: str, *, engine: Engine | None = None) -> None:
    """The ticket is closed and ended at the end event ``end_element``."""
    __tracebackhide__ = True
    ticket = _fresh(ticket, engine)
    if ticket.status == "closed" and ticket.end_element == end_element:
        return
    if ticket.status == "closed":
        where = f"ended at {ticket.end_element!r} instead"
    else:
        where = f"has not ended: {describe_waiting(ticket, engine)}"
    raise AssertionError(f"ticket {ticket.number} did not end at '{end_element}'; it {where}")


def assert_offered_to(
    subject: TicketView | TaskView, group: str, *, element: str | None = None
) -> None:
    """The task (or an open task of the ticket, at ``element`` if given) is offered to
    ``group`` (one of its candidate groups)."""
    __tracebackhide__ = True
    if isinstance(subject, TaskView):
        tasks: tuple[TaskView, ...] = (subject,)
        what = f"task {subject.id} '{subject.element_id}' of ticket {subject.ticket_number}"
    else:
        tasks = tuple(t for t in subject.open_tasks if element is None or t.element_id == element)
        what = f"ticket {subject.number}" + (f" at '{element}'" if element else "")
        if not tasks:
            others = ", ".join(describe_task(t) for t in subject.open_tasks) or "none"
            raise AssertionError(f"{what}: no open task; open tasks: {others}")
    if any(group in t.candidate_groups for t in tasks):
        return
    shown = ", ".join(describe_task(t) for t in tasks)
    raise AssertionError(f"{what} is not offered to group '{group}'; {shown}")
