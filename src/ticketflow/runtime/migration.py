"""Moving a running ticket to another version of its process (Camunda's instance migration).

Built on SpiffWorkflow's spec diff: tasks are aligned by BPMN element id. A ticket can move
when every task it is waiting on (READY, WAITING, STARTED) exists in the target version,
and every running call activity still calls a process the target version knows. Finished
tasks whose elements are gone are pruned (ticketflow's own history keeps them); predicted
tasks are predicted again from the new version. Anything else is refused with the list
of elements that block it, and nothing changes.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from SpiffWorkflow.util.task import TaskState

from ticketflow.definitions.model import ProcessDefinition
from ticketflow.errors import MigrationError
from ticketflow.runtime import state
from ticketflow.runtime.instance import Instance

_WAITING = TaskState.READY | TaskState.WAITING | TaskState.STARTED


def blockers(instance: Instance, target: ProcessDefinition) -> list[str]:
    """Why ``instance`` cannot move to ``target`` (empty when it can)."""
    wf = instance.workflow
    top, subs = diff_workflow(state.registry(), wf, target.spec, target.subprocess_specs)
    reasons = [
        f"waiting at '{t.task_spec.name}', which version {target.version} does not have"
        for t in top.removed
        if t.has_state(_WAITING)
    ]
    for sp_id, sp_diff in subs.items():
        sub = wf.subprocesses[sp_id]
        if sp_diff is None and not sub.completed:
            reasons.append(
                f"running call activity to process '{sub.spec.name}', which version "
                f"{target.version} does not call"
            )
        elif sp_diff is not None:
            reasons.extend(
                f"waiting at '{t.task_spec.name}' in called process '{sub.spec.name}', which "
                f"version {target.version} does not have"
                for t in sp_diff.removed
                if t.has_state(_WAITING)
            )
    return sorted(set(reasons))


def migrate(instance: Instance, target: ProcessDefinition) -> Instance:
    """Move ``instance`` onto ``target`` in place; raise MigrationError if it cannot."""
    reasons = blockers(instance, target)
    if reasons:
        raise MigrationError(
            f"ticket {instance.ticket} cannot move to {target.process_id} "
            f"v{target.version}: " + "; ".join(reasons),
            reasons=reasons,
        )
    wf = instance.workflow
    # Timers keep their due times (SpiffWorkflow's reset would restart them from now).
    timer_state = {
        task.id: dict(task.internal_data)
        for task in list(wf.event_manager.tasks.values())
        if isinstance(getattr(task.task_spec, "event_definition", None), TimerEventDefinition)
    }
    top, subs = diff_workflow(state.registry(), wf, target.spec, target.subprocess_specs)
    migrate_workflow(top, wf, target.spec)
    for sp_id, sp_diff in subs.items():
        sub = wf.subprocesses[sp_id]
        if sp_diff is not None:
            migrate_workflow(sp_diff, sub, target.subprocess_specs[sub.spec.name])
    wf.subprocess_specs = target.subprocess_specs
    _prune(wf, target.spec)
    for sp_id, sub in list(wf.subprocesses.items()):
        if sub.spec.name in target.subprocess_specs:
            _prune(sub, target.subprocess_specs[sub.spec.name])
        else:  # a finished call whose process is no longer called
            del wf.subprocesses[sp_id]
    for task_id, internal in timer_state.items():
        task = wf.get_task_from_id(task_id) if task_id in wf.tasks else None
        if task is not None:
            task.internal_data.update(internal)
    state.compact(wf)
    instance.definition = target
    return instance


def _prune(wf: Any, spec: Any) -> None:
    """Splice out finished tasks whose element the new spec lacks; drop stale predictions."""
    for task in list(wf.tasks.values()):
        if task.id not in wf.tasks or spec.task_specs.get(task.task_spec.name) is task.task_spec:
            continue
        if task.has_state(TaskState.PREDICTED_MASK):
            for gone in list(task):
                wf.tasks.pop(gone.id, None)
            if task.parent is not None:
                task.parent._children.remove(task.id)
            continue
        parent = task.parent
        if parent is None:  # pragma: no cover - the root ("Start") exists in every spec
            continue
        position = parent._children.index(task.id)
        parent._children[position : position + 1] = list(task._children)
        for child in task.children:
            child._parent = parent.id
        del wf.tasks[task.id]
    if wf.last_task is not None and wf.last_task.id not in wf.tasks:
        wf.last_task = None
