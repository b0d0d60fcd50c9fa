"""What a parsed BPMN process gives the engine: executable specs plus task metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ticketflow.definitions.forms import Form
from ticketflow.runtime.expressions import strip_el


@dataclass(frozen=True)
class UserTaskInfo:
    """Everything the engine needs to know about one BPMN user task."""

    element_id: str
    name: str
    lane: str | None
    #: Static candidate groups (from ``camunda:candidateGroups`` or else the lane id).
    candidate_groups: tuple[str, ...]
    #: A ``${...}`` expression giving the groups from ticket data, evaluated when the task opens.
    candidate_groups_expression: str | None
    #: A ``${...}`` expression (or a literal user id) naming the assignee.
    assignee_expression: str | None
    form: Form
    due_in: timedelta | None
    documentation: str | None
    line: int | None
    #: camunda:properties of the task (e.g. ``ticketflow.callback``).
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def callback(self) -> str | None:
        """The expression judging satisfaction on a callback (回访) task: its
        ``ticketflow.callback`` property without ``${...}``, ``satisfied`` when the property
        is empty; None when the task is not a callback."""
        expression = self.properties.get("ticketflow.callback")
        return None if expression is None else strip_el(expression or "satisfied")


@dataclass(frozen=True)
class ProcessDefinition:
    """One executable process parsed from a BPMN file, ready to run."""

    process_id: str
    name: str
    filename: str
    content_hash: str
    source: bytes
    spec: Any
    subprocess_specs: dict[str, Any]
    user_tasks: dict[str, UserTaskInfo]
    number_prefix: str
    #: element id -> (kind, name) for every flow node, for readable history.
    elements: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: Initial data from ``ticketflow.default.*`` process properties.
    data_defaults: dict[str, Any] = field(default_factory=dict)
    documentation: str | None = None
    #: Processes reached through call activities (directly or further down).
    called: tuple[str, ...] = ()
    #: element id -> lifecycle event fired when the flow passes it (``ticketflow.lifecycle``).
    lifecycle: dict[str, str] = field(default_factory=dict)
    #: Timer start events: (element id, "timeCycle" | "timeDate" | "timeDuration", text).
    start_timers: tuple[tuple[str, str, str], ...] = ()
    #: Elements marked ``camunda:asyncBefore``: the step commits before them; a job goes on.
    async_before: frozenset[str] = frozenset()
    #: id of the deployed version (set once stored), and its version number.
    definition_id: int | None = None
    version: int | None = None
