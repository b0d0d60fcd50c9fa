"""What the API needs besides the engine: the directory, tokens, and view helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from ticketflow import (
    Engine,
    EventView,
    TaskView,
    TicketView,
    UnknownProcessError,
)
from ticketflow.definitions.xml import BPMN_NS, parse_bpmn_bytes
from ticketflow_rest.auth import TokenStore
from ticketflow_rest.directory import Directory
from ticketflow_rest.schemas import ProgressOut, SlaColour, TaskOut, TicketOut
from ticketflow_rest.settings import Settings
from ticketflow_rest.worker import WorkerStats

#: History events whose own element the ticket went through.
THROUGH_ELEMENT = ("task_completed", "timer_fired", "continued", "ticket_reopened")
#: Share of a task's time after which it shows amber, without an SLA policy to ask.
AMBER_WITHOUT_POLICY = 0.8


@dataclass
class Service:
    """The running service: one engine, the user directory and the issued tokens."""

    settings: Settings
    engine: Engine
    directory: Directory
    tokens: TokenStore
    stats: WorkerStats = field(default_factory=WorkerStats)
    _diagrams: dict[tuple[str, int], _Diagram] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, settings: Settings, engine: Engine) -> Service:
        settings.check()
        directory = Directory.load(settings.users_file)
        tokens = TokenStore(
            timedelta(hours=settings.token_hours), lambda: datetime.now(timezone.utc)
        )
        return cls(settings, engine, directory, tokens)

    # ------------------------------------------------------------------ views

    def sla_colour(self, task: TaskView) -> SlaColour:
        """green, amber once past the policy's last reminder level, red once past due."""
        if task.due_at is None or task.state not in ("open", "suspended"):
            return "none"
        now = self.engine.clock.now()
        if now >= task.due_at:
            return "red"
        policy = self.engine.sla
        if policy is not None:
            calendar = policy.calendar(task.region)
            window = calendar.business_time_between(task.created_at, task.due_at)
            spent = calendar.business_time_between(task.created_at, now)
            amber = max(policy.reminders, default=AMBER_WITHOUT_POLICY)
        else:
            window, spent = task.due_at - task.created_at, now - task.created_at
            amber = AMBER_WITHOUT_POLICY
        if window > timedelta(0) and spent / window >= amber:
            return "amber"
        return "green"

    def task_out(self, task: TaskView) -> TaskOut:
        return TaskOut.of(task, self.sla_colour(task))

    def ticket_out(self, ticket: TicketView) -> TicketOut:
        return TicketOut.of(ticket, [self.task_out(t) for t in ticket.open_tasks])

    def progress(self, ticket: TicketView, history: list[EventView]) -> ProgressOut:
        """Elements waiting (open tasks and pending timers) and passed (from the history).

        Elements of a called process (a call activity's tasks) count for the call activity
        that runs them, so the ticket's own diagram shows where it stands.
        """
        waiting = [t.element_id for t in ticket.open_tasks]
        if ticket.status in ("open", "suspended"):
            jobs = self.engine.jobs(ticket=ticket.number, state="pending")
            waiting += [j.element_id for j in jobs if j.kind == "timer" and j.element_id]
        passed: list[str] = []
        for event in history:
            if event.kind in THROUGH_ELEMENT and event.element_id:
                passed.append(event.element_id)
            for element in event.details.get("passed") or ():
                if isinstance(element, str):
                    passed.append(element)
        shape = self._diagram(ticket.process_id, ticket.definition_version)
        waiting_here = [shape.at(e) for e in waiting]
        passed_here = [shape.at(e) for e in passed]
        return ProgressOut(
            number=ticket.number,
            process_id=ticket.process_id,
            version=ticket.definition_version,
            status=ticket.status,
            waiting=list(dict.fromkeys(e for e in waiting_here if e)),
            passed=list(dict.fromkeys(e for e in passed_here if e)),
            end_element=ticket.end_element,
        )

    def _diagram(self, process_id: str, version: int) -> _Diagram:
        key = (process_id, version)
        if key not in self._diagrams:
            root = parse_bpmn_bytes(self.bpmn_source(process_id, version), f"{process_id}.bpmn")
            own = {el.get("id") for el in root.iter() if el.get("id")}
            inside: dict[str, str] = {}
            for call in root.iter(f"{{{BPMN_NS}}}callActivity"):
                called = call.get("calledElement")
                try:
                    elements = self.engine.definition(called).elements if called else {}
                except UnknownProcessError:
                    continue
                for element in elements:
                    inside.setdefault(element, call.get("id", ""))
            self._diagrams[key] = _Diagram(frozenset(own - {None}), inside)
        return self._diagrams[key]

    def bpmn_source(self, process_id: str, version: int | None) -> bytes:
        """The BPMN XML of a deployed definition (the latest version by default)."""
        return self.engine.definition(process_id, version).source


@dataclass(frozen=True)
class _Diagram:
    """The element ids of a process diagram, and its call activities' inner elements."""

    own: frozenset[str]
    #: element id of a called process -> id of the call activity that runs it
    inside: dict[str, str]

    def at(self, element: str) -> str | None:
        """Where ``element`` shows in this diagram: itself, its call activity, or nowhere."""
        return element if element in self.own else self.inside.get(element)
