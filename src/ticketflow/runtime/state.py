"""Workflow state that stays small: compaction and spec-free serialization.

SpiffWorkflow keeps every task it ever created in one tree, and its serializer writes
the whole tree and the whole process spec. Loading and saving that on each step costs
time proportional to the ticket's history, and past 1,000 tasks deep SpiffWorkflow's
task iterator stops and the workflow *appears* completed.

ticketflow keeps history in its own tables (tasks, events), so the live workflow needs
only the part of the tree that can still change:

* :func:`compact` finds the lowest common ancestor of every unfinished task and re-hangs
  it, with its immediate parent, under the root; finished branches above and beside it
  are dropped, along with sub-workflows whose call-activity task was dropped. The tree
  depth and size are then bounded by the process's shape, not by its history.
* :func:`dump` / :func:`restore` write only instance state (task tree, data, events);
  the spec comes from the in-memory definition cache, never from the stored state.
"""

from __future__ import annotations

import json
from copy import deepcopy
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.serializer import DEFAULT_CONFIG
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from ticketflow.runtime.connectors import ConnectorTask, ConnectorTaskConverter

#: Version of the stored state layout; bump with a migration when it changes.
STATE_FORMAT = 1


class _InstanceConverter(BpmnWorkflowConverter):  # type: ignore[misc]
    """Converts a top-level workflow without its specs."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct: dict[str, Any] = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def restore(
        self, dct: dict[str, Any], spec: Any, subprocess_specs: dict[str, Any], script_engine: Any
    ) -> BpmnWorkflow:
        workflow = BpmnWorkflow(
            spec, subprocess_specs, script_engine=script_engine, deserializing=True
        )
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _make_registry() -> tuple[Any, _InstanceConverter]:
    config = deepcopy(DEFAULT_CONFIG)
    config.pop(BpmnWorkflow)
    registry = BpmnWorkflowSerializer.configure(config)
    ConnectorTaskConverter(ConnectorTask, registry)
    converter = _InstanceConverter(BpmnWorkflow, registry)
    return registry, converter


_REGISTRY, _CONVERTER = _make_registry()


def registry() -> Any:
    """The serializer registry (SpiffWorkflow's spec diff uses it to compare specs)."""
    return _REGISTRY


def dump(workflow: BpmnWorkflow) -> str:
    """Serialize the instance state (no specs) to a compact JSON string."""
    dct = _REGISTRY.convert(workflow)
    dct["format"] = STATE_FORMAT
    return json.dumps(dct, separators=(",", ":"), ensure_ascii=False)


def restore(
    state: str, spec: Any, subprocess_specs: dict[str, Any], script_engine: Any
) -> BpmnWorkflow:
    """Rebuild a workflow from :func:`dump` output and the cached specs."""
    dct = json.loads(state)
    fmt = dct.pop("format", None)
    if fmt != STATE_FORMAT:
        raise ValueError(
            f"stored workflow state has format {fmt!r}; this ticketflow reads {STATE_FORMAT}"
        )
    return _CONVERTER.restore(dct, spec, subprocess_specs, script_engine)


def _path_to_root(task: Any) -> list[Any]:
    path = []
    node = task
    while node is not None:
        path.append(node)
        node = node.parent
    path.reverse()
    return path


def _compact_tree(wf: Any) -> int:
    """Compact one (sub)workflow's tree in place; return how many tasks were dropped."""
    live = [t for t in wf.tasks.values() if not t.has_state(TaskState.FINISHED_MASK)]
    if not live:
        return 0
    common = _path_to_root(live[0])
    for task in live[1:]:
        path = _path_to_root(task)
        n = 0
        for a, b in zip(common, path, strict=False):
            if a is not b:
                break
            n += 1
        common = common[:n]
    # common = [root, ..., parent, lca]; keep root, parent and lca's subtree.
    if len(common) < 4:
        return 0
    root, parent, lca = common[0], common[-2], common[-1]
    root._children = [parent.id]
    parent._parent = root.id
    parent._children = [lca.id]
    kept: dict[UUID, Any] = {root.id: root, parent.id: parent}
    stack = [lca]
    while stack:
        node = stack.pop()
        kept[node.id] = node
        stack.extend(node.children)
    dropped = len(wf.tasks) - len(kept)
    wf.tasks = kept
    if wf.last_task is not None and wf.last_task.id not in kept:
        wf.last_task = parent
    return dropped


def compact(workflow: BpmnWorkflow) -> int:
    """Drop finished history from the live task trees; return the number of tasks dropped."""
    dropped = _compact_tree(workflow)
    for sub in list(workflow.subprocesses.values()):
        dropped += _compact_tree(sub)
    # Forget sub-workflows whose call-activity task is no longer in any tree.
    while True:
        alive = set(workflow.tasks)
        for sub in workflow.subprocesses.values():
            alive.update(sub.tasks)
        orphans = [k for k, sub in workflow.subprocesses.items() if sub.parent_task_id not in alive]
        if not orphans:
            break
        for key in orphans:
            dropped += len(workflow.subprocesses.pop(key).tasks)
    return dropped


def tree_size(workflow: BpmnWorkflow) -> int:
    """Number of tasks held in memory for this workflow and its sub-workflows."""
    return len(workflow.tasks) + sum(len(s.tasks) for s in workflow.subprocesses.values())
