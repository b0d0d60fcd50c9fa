"""Reading a ticket's state for test messages: where it waits, what it passed."""

from __future__ import annotations

from ticketflow.engine import Engine
from ticketflow.views import EventView, TaskView, TicketView


def passed_elements(history: list[EventView]) -> list[str]:
    """Elements the ticket went through, in order (automatic ones, completed tasks, timers)."""
    passed: list[str] = []
    previous: EventView | None = None
    for event in history:
        if event.kind == "task_completed" and event.element_id:
            passed.append(event.element_id)
        same_step = (
            previous is not None
            and previous.kind == event.kind == "timer_fired"
            and previous.at == event.at
        )
        if not same_step:  # timers fired together share one step's details
            passed.extend(str(e) for e in event.details.get("passed", ()))
        previous = event
    return passed


def describe_task(task: TaskView) -> str:
    groups = ",".join(task.candidate_groups) or "-"
    who = f", claimed by {task.assignee}" if task.assignee else ""
    state = f", {task.state}" if task.state != "open" else ""
    return f"'{task.element_id}' (task {task.id}, groups {groups}{who}{state})"


def describe_waiting(ticket: TicketView, engine: Engine | None = None) -> str:
    """``open tasks: ...; pending timers: ...`` for ``ticket``, as the engine has it."""
    tasks = ", ".join(describe_task(t) for t in ticket.open_tasks) or "none"
    text = f"status {ticket.status}; open tasks: {tasks}"
    if engine is not None:
        timers = [
            f"'{j.element_id}' due {j.due_at:%Y-%m-%d %H:%M:%S}"
            for j in engine.jobs(ticket=ticket.number)
            if j.kind == "timer"
        ]
        text += f"; pending timers: {', '.join(timers) or 'none'}"
    if ticket.status == "closed":
        text += f"; ended at {ticket.end_element!r}"
    return text


def describe_path(passed: list[str], limit: int = 40) -> str:
    if not passed:
        return "nothing yet"
    shown = passed if len(passed) <= limit else ["…", *passed[-limit:]]
    return " → ".join(shown)
