"""A process-wide seam for watching which BPMN elements and sequence flows steps exercise.

Listeners (e.g. the BPMN coverage of ``ticketflow.testing``) are called once per
successful engine step, by every :class:`~ticketflow.engine.Engine` in the process, with a
:class:`StepObservation`. With no listener registered this costs one truth test per
loaded workflow.

What counts, read from SpiffWorkflow's task tree before and after the step:

* a flow node is **activated** when one of its tasks becomes ready, running or completed
  (a user task waiting for a person counts), or waits after a token reached it (an
  intermediate catch event); a boundary event or an event-based gateway's alternative
  counts only when it fires, a join only when it fires;
* a sequence flow is **taken** when a token arrives at its target from its source
  (every arriving branch of a join counts). SpiffWorkflow keeps no sequence-flow ids, so
  flows are reported as (source, target) element pairs; the listener maps them to ids.

Observations are made while the step runs; a step whose transaction is rolled back
afterwards has still been observed. A listener that raises is logged and ignored.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import (
    BoundaryEvent,
    EventBasedGateway,
)
from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.util.task import TaskState

from ticketflow.definitions.model import ProcessDefinition

log = logging.getLogger("ticketflow.observe")

_ACTIVE = TaskState.READY | TaskState.STARTED | TaskState.COMPLETED | TaskState.ERROR
_PARKED = TaskState.WAITING | TaskState.CANCELLED


@dataclass(frozen=True)
class StepObservation:
    """What one engine step exercised in a ticket's process version."""

    #: The ticket's process version (``content_hash``, ``filename``, ``source``, ``version``).
    definition: ProcessDefinition
    #: (workflow spec name, element id) per activated flow node, in tree order.
    nodes: tuple[tuple[str, str], ...]
    #: (workflow spec name, source element id, target element id) per sequence flow taken.
    flows: tuple[tuple[str, str, str], ...]
    #: workflow spec name -> the file it was parsed from, for every workflow named above.
    #: The top workflow is named after the process id; an embedded sub-process after its
    #: element id; a call activity's workflow after the called process id.
    files: Mapping[str, str]


Listener = Callable[[StepObservation], None]

_lock = threading.Lock()
_listeners: tuple[Listener, ...] = ()


def add_listener(listener: Listener) -> None:
    """Call ``listener`` after every successful step of every engine in this process."""
    global _listeners
    with _lock:
        _listeners = (*_listeners, listener)


def remove_listener(listener: Listener) -> None:
    """Stop calling ``listener`` (no error if it was not registered)."""
    global _listeners
    with _lock:
        _listeners = tuple(x for x in _listeners if x != listener)  # bound methods are new objects


def active() -> bool:
    """Whether any listener is registered (steps only track their tasks then)."""
    return bool(_listeners)


@dataclass(frozen=True)
class Snapshot:
    """Task ids that had already arrived / been activated when the snapshot was taken."""

    arrived: frozenset[UUID]
    activated: frozenset[UUID]


def snapshot(workflow: Any) -> Snapshot:
    """Record what has happened so far in ``workflow`` (a ``BpmnWorkflow``)."""
    arrived: set[UUID] = set()
    activated: set[UUID] = set()
    for task in _tasks(workflow):
        a, b = _classify(task)
        if a:
            arrived.add(task.id)
        if b:
            activated.add(task.id)
    return Snapshot(frozenset(arrived), frozenset(activated))


def step_done(definition: ProcessDefinition, workflow: Any, before: Snapshot) -> Snapshot:
    """Tell the listeners what changed since ``before``; return the new snapshot."""
    listeners = _listeners
    arrived: set[UUID] = set()
    activated: set[UUID] = set()
    nodes: list[tuple[str, str]] = []
    flows: list[tuple[str, str, str]] = []
    files: dict[str, str] = {}
    for task in _tasks(workflow):
        is_arrived, is_activated = _classify(task)
        if not is_arrived:
            continue
        arrived.add(task.id)
        new_arrival = task.id not in before.arrived
        new_activation = is_activated and task.id not in before.activated
        if is_activated:
            activated.add(task.id)
        if not (new_arrival or new_activation):
            continue
        spec = task.workflow.spec
        if spec.file:
            files.setdefault(spec.name, spec.file)
        if new_activation:
            nodes.append((spec.name, task.task_spec.bpmn_id))
        if new_arrival:
            source = _source(task)
            if source is not None:
                flows.append((spec.name, source.task_spec.bpmn_id, task.task_spec.bpmn_id))
    if listeners and (nodes or flows):
        observation = StepObservation(definition, tuple(nodes), tuple(flows), files)
        for listener in listeners:
            try:
                listener(observation)
            except Exception:  # an observer must never break a ticket's step
                log.exception("step observer %r failed", listener)
    return Snapshot(frozenset(arrived), frozenset(activated))


def _tasks(workflow: Any) -> Iterator[Any]:
    yield from workflow.tasks.values()
    for sub in workflow.subprocesses.values():
        yield from sub.tasks.values()


def _source(task: Any) -> Any:
    """The nearest ancestor that is a BPMN element (skipping SpiffWorkflow's own tasks)."""
    node = task.parent
    while node is not None and getattr(node.task_spec, "bpmn_id", None) is None:
        node = node.parent
    return node


def _classify(task: Any) -> tuple[bool, bool]:
    """(a token arrived at this task, the flow node is activated by it)."""
    spec = task.task_spec
    if getattr(spec, "bpmn_id", None) is None:
        return False, False
    if task.state & _ACTIVE:
        return True, True
    if not task.state & _PARKED or isinstance(spec, BoundaryEvent):
        return False, False
    source = _source(task)
    arrived = (
        source is not None
        and source.state == TaskState.COMPLETED
        and not isinstance(source.task_spec, EventBasedGateway)
    )
    return arrived, arrived and not isinstance(spec, UnstructuredJoin)
