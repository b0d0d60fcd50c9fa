"""One ticket's running workflow: start it, complete a user task, read where it waits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException, TaskNotFoundException
from SpiffWorkflow.util.task import TaskState

from ticketflow.definitions.model import ProcessDefinition
from ticketflow.errors import ProcessExecutionError, StoreError, TaskStateError, TicketflowError
from ticketflow.runtime import observe, state
from ticketflow.runtime.expressions import ExpressionError
from ticketflow.runtime.scripting import SAFE_SCRIPT_ENGINE

_AUTOMATIC_KINDS = ("Gateway", "Event", "ScriptTask", "Task", "CallActivity", "SubWorkflow")


class _AsyncBoundary(Exception):
    """Raised before an ``asyncBefore`` element runs: the step ends there."""


@dataclass
class StepResult:
    """What happened inside the engine during one step."""

    #: bpmn ids of automatic elements run (gateways, scripts, events), in order.
    passed: list[str] = field(default_factory=list)
    #: data changes made by script tasks: element id -> changed keys.
    scripted: dict[str, dict[str, Any]] = field(default_factory=dict)
    completed: bool = False
    end_element: str | None = None
    dropped: int = 0
    #: An asyncBefore element reached: (workflow task id, element id); a job continues it.
    continuation: tuple[str, str] | None = None


class Instance:
    """Wraps a SpiffWorkflow ``BpmnWorkflow`` with ticketflow's conventions."""

    def __init__(self, definition: ProcessDefinition, workflow: BpmnWorkflow, ticket: str | None):
        self.definition = definition
        self.workflow = workflow
        self.ticket = ticket
        self._observed = observe.snapshot(workflow) if observe.active() else None

    # --- construction -------------------------------------------------------------

    @classmethod
    def start(
        cls, definition: ProcessDefinition, data: Mapping[str, Any], ticket: str | None
    ) -> tuple[Instance, StepResult]:
        workflow = BpmnWorkflow(
            definition.spec, definition.subprocess_specs, script_engine=SAFE_SCRIPT_ENGINE
        )
        workflow.task_tree.data.update(data)
        instance = cls(definition, workflow, ticket)
        if definition.start_timers:
            # A timer start event is a schedule the engine keeps (one ticket per occurrence);
            # the ticket itself starts at once, and its start timer never cycles inside it.
            cycles = {e for e, kind, _ in definition.start_timers if kind == "timeCycle"}
            starts = {e for e, _, _ in definition.start_timers}
            for task in workflow.get_tasks():
                if task.task_spec.bpmn_id in cycles:  # exactly one occurrence, already due
                    task._set_internal_data(
                        event_value={
                            "cycles": 1,
                            "next": "2000-01-01T00:00:00+00:00",
                            "duration": 0.0,
                        }
                    )
                elif task.task_spec.bpmn_id in starts:
                    task._set_internal_data(event_fired=True)
        return instance, instance._advance()

    @classmethod
    def load(cls, definition: ProcessDefinition, stored: str, ticket: str | None) -> Instance:
        try:
            workflow = state.restore(
                stored, definition.spec, definition.subprocess_specs, SAFE_SCRIPT_ENGINE
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StoreError(
                f"ticket {ticket}: stored workflow state cannot be read "
                f"({type(exc).__name__}: {exc}); the ticket was left unchanged"
            ) from exc
        return cls(definition, workflow, ticket)

    def dump(self) -> str:
        return state.dump(self.workflow)

    # --- reading ------------------------------------------------------------------

    def ready_user_tasks(self) -> list[Any]:
        """READY tasks that wait for a person (user and manual tasks), top workflow first."""
        ready = [t for t in self.workflow.get_tasks(state=TaskState.READY) if t.task_spec.manual]
        for sub in self.workflow.subprocesses.values():
            ready.extend(t for t in sub.get_tasks(state=TaskState.READY) if t.task_spec.manual)
        return ready

    def current_data(self) -> dict[str, Any]:
        """The ticket's business data as the process sees it now."""
        ready = self.ready_user_tasks()
        if ready:
            merged: dict[str, Any] = {}
            for task in ready:
                merged.update(task.data)
            return merged
        if self.workflow.is_completed():
            return dict(self.workflow.data)
        last = self.workflow.last_task
        return dict(last.data) if last is not None else dict(self.workflow.task_tree.data)

    def tree_size(self) -> int:
        return state.tree_size(self.workflow)

    # --- stepping -----------------------------------------------------------------

    def complete(self, spiff_task_id: str, data: Mapping[str, Any]) -> StepResult:
        """Complete a READY user task with ``data`` and run the engine until people are needed."""
        try:
            task = self.workflow.get_task_from_id(UUID(spiff_task_id))
        except (TaskNotFoundException, ValueError):
            task = None
        if task is None or task.state != TaskState.READY or not task.task_spec.manual:
            raise TaskStateError(
                f"ticket {self.ticket}: workflow task {spiff_task_id} is not waiting for completion"
            )
        task.data.update(data)
        try:
            task.run()
        except SpiffWorkflowException as exc:
            raise self._execution_error(exc, task.task_spec.bpmn_id) from None
        return self._advance()

    def continue_at(self, spiff_task_id: str) -> StepResult:
        """Go on from an asyncBefore element where an earlier step stopped."""
        try:
            task = self.workflow.get_task_from_id(UUID(spiff_task_id))
        except (TaskNotFoundException, ValueError):
            task = None
        if task is None or task.state != TaskState.READY:
            return StepResult()
        task._set_internal_data(async_passed=True)
        return self._advance()

    def fire_timers(self) -> StepResult:
        """Let due timers fire (by the clock in force) and run the engine on from there."""
        try:
            self.workflow.refresh_timers()
        except SpiffWorkflowException as exc:
            raise self._execution_error(exc, None) from None
        return self._advance()

    def _advance(self) -> StepResult:
        result = StepResult()
        before: dict[UUID, dict[str, Any]] = {}

        running: list[str | None] = [None]

        def will_complete(task: Any) -> None:
            running[0] = task.task_spec.bpmn_id
            if (
                task.task_spec.bpmn_id in self.definition.async_before
                and not task._get_internal_data("async_passed", False)
            ):
                result.continuation = (str(task.id), task.task_spec.bpmn_id)
                raise _AsyncBoundary
            if type(task.task_spec).__name__ == "ScriptTask":
                before[task.id] = dict(task.data)

        def did_complete(task: Any) -> None:
            bpmn_id = task.task_spec.bpmn_id
            if bpmn_id is None:
                return
            result.passed.append(bpmn_id)
            if task.id in before:
                old = before.pop(task.id)
                result.scripted[bpmn_id] = {
                    k: v for k, v in task.data.items() if k not in old or old[k] != v
                }

        try:
            self.workflow.do_engine_steps(will_complete, did_complete)
        except _AsyncBoundary:
            pass  # the rest happens in a job, after this step commits
        except SpiffWorkflowException as exc:
            current = getattr(getattr(exc, "task", None), "task_spec", None)
            raise self._execution_error(exc, getattr(current, "bpmn_id", running[0])) from None
        except ProcessExecutionError:
            raise
        except (ExpressionError, TicketflowError) as exc:  # e.g. a connector that failed
            raise ProcessExecutionError(
                str(exc), ticket=self.ticket, element_id=running[0]
            ) from exc
        if self._observed is not None:
            self._observed = observe.step_done(self.definition, self.workflow, self._observed)
        result.dropped = state.compact(self.workflow)
        if self.workflow.is_completed():
            result.completed = True
            ends = [
                p
                for p in result.passed
                if self.definition.elements.get(p, ("", ""))[0] == "endEvent"
            ]
            result.end_element = ends[-1] if ends else None
        return result

    def _execution_error(
        self, exc: SpiffWorkflowException, element_id: str | None
    ) -> ProcessExecutionError:
        task = getattr(exc, "task", None)
        if task is not None and getattr(task.task_spec, "bpmn_id", None):
            element_id = task.task_spec.bpmn_id
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, ExpressionError):
            cause = getattr(cause, "exception", None) or cause.__cause__ or cause.__context__
        reason = str(cause) if cause is not None else str(exc)
        return ProcessExecutionError(reason, ticket=self.ticket, element_id=element_id)
