"""Static checks of BPMN files for process designers: every problem, with file:line:element.

:func:`validate_sources` reads files together (call activities resolve across them) and
returns a list of :class:`Problem`. Errors make a file undeployable or a flow unsound;
warnings do not stop deployment but should be fixed (a missing diagram shape, say).

Checks: well-formed safe XML; the OMG BPMN 2.0 XML schema; references (sequence-flow
ends, lane members, defaults, boundary attachments, call-activity targets); reachability
(every node reachable from a start event, every node able to reach an end event);
gateway conditions and defaults; lanes versus candidate groups; form-field conventions;
safe expressions and scripts; diagram interchange (a shape or edge for every element).
Finally the files go through the same loader as ``Engine.deploy``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from ticketflow.definitions.loader import (
    FLOW_NODE_TAGS,
    _check_expressions,
    _form,
    _validator,
    load_sources,
    read_sources,
)
from ticketflow.definitions.xml import BPMN_NS, BPMNDI_NS, CAMUNDA_NS, parse_bpmn_bytes
from ticketflow.errors import DefinitionError

FLOW_NODES = FLOW_NODE_TAGS
GATEWAYS_WITH_CONDITIONS = ("exclusiveGateway", "inclusiveGateway")


@dataclass(frozen=True, order=True)
class Problem:
    """One finding: where, how bad, what."""

    file: str
    line: int
    element_id: str
    severity: str  # "error" or "warning"
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:" if self.line else f"{self.file}:"
        element = f" element '{self.element_id}':" if self.element_id else ""
        return f"{where}{element} {self.severity}: {self.message}"


def _q(tag: str, ns: str = BPMN_NS) -> str:
    return f"{{{ns}}}{tag}"


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


class _Report:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def error(self, el: etree._Element | None, message: str, element_id: str | None = None) -> None:
        self._add("error", el, message, element_id)

    def warning(
        self, el: etree._Element | None, message: str, element_id: str | None = None
    ) -> None:
        self._add("warning", el, message, element_id)

    def _add(
        self, severity: str, el: etree._Element | None, message: str, element_id: str | None
    ) -> None:
        line = (el.sourceline or 0) if el is not None else 0
        eid = element_id if element_id is not None else (el.get("id", "") if el is not None else "")
        self.problems.append(Problem(self.file, line, eid or "", severity, message))


def validate_paths(paths: Iterable[str | Path]) -> list[Problem]:
    """Validate every BPMN file under ``paths``."""
    try:
        sources = read_sources(paths)
    except DefinitionError as exc:
        return [Problem(exc.file or "", exc.line or 0, exc.element_id or "", "error", exc.reason)]
    return validate_sources(sources)


def validate_sources(sources: list[tuple[str, bytes]]) -> list[Problem]:
    """Every problem found in ``(filename, content)`` pairs, sorted by file and line."""
    problems: list[Problem] = []
    roots: dict[str, etree._Element] = {}
    for filename, content in sources:
        try:
            roots[filename] = parse_bpmn_bytes(content, filename)
        except DefinitionError as exc:
            problems.append(Problem(filename, exc.line or 0, "", "error", exc.reason))
    processes = {
        p.get("id", ""): p for root in roots.values() for p in root.iterfind(_q("process"))
    }
    clean = True
    for filename, root in roots.items():
        report = _Report(filename)
        _schema(root, report)
        if not report.problems:  # the structural checks assume a schema-valid document
            _expressions(root, filename, report)
            for process in root.iterfind(_q("process")):
                _process(process, report, processes, filename)
            _diagram(root, report)
        clean = clean and not any(p.severity == "error" for p in report.problems)
        problems.extend(report.problems)
    if clean and roots and not any(p.severity == "error" for p in problems):
        # Last, what the engine itself would say on deploy.
        try:
            load_sources(sources)
        except DefinitionError as exc:
            problems.append(
                Problem(exc.file or "", exc.line or 0, exc.element_id or "", "error", exc.reason)
            )
    return sorted(set(problems))


def _schema(root: etree._Element, report: _Report) -> None:
    schema = _validator().validator
    if schema.validate(root):
        return
    for entry in schema.error_log:
        report.problems.append(
            Problem(report.file, entry.line, "", "error", f"BPMN 2.0 XML schema: {entry.message}")
        )


def _expressions(root: etree._Element, filename: str, report: _Report) -> None:
    try:
        _check_expressions(root, filename)
    except DefinitionError as exc:
        report.problems.append(
            Problem(filename, exc.line or 0, exc.element_id or "", "error", exc.reason)
        )


def _process(
    process: etree._Element, report: _Report, processes: dict[str, etree._Element], filename: str
) -> None:
    nodes = {el.get("id", ""): el for el in process.iter() if _local(el) in FLOW_NODES}
    flows = {el.get("id", ""): el for el in process.iter(_q("sequenceFlow"))}
    outgoing: dict[str, list[etree._Element]] = {n: [] for n in nodes}
    incoming: dict[str, list[etree._Element]] = {n: [] for n in nodes}
    for flow in flows.values():
        for end, table in (("sourceRef", outgoing), ("targetRef", incoming)):
            ref = flow.get(end, "")
            if ref not in nodes:
                report.error(
                    flow,
                    f"sequence flow {end} '{ref}' is not a flow node of process "
                    f"'{process.get('id')}'",
                )
            else:
                table[ref].append(flow)
    _references(process, nodes, flows, outgoing, incoming, report, processes)
    _reachability(process, nodes, outgoing, incoming, report)
    _gateways(nodes, outgoing, report)
    _lanes_and_tasks(process, nodes, report, filename)


def _references(
    process: etree._Element,
    nodes: dict[str, etree._Element],
    flows: dict[str, etree._Element],
    outgoing: dict[str, list[etree._Element]],
    incoming: dict[str, list[etree._Element]],
    report: _Report,
    processes: dict[str, etree._Element],
) -> None:
    for nid, node in nodes.items():
        for tag, table, end in (
            ("incoming", incoming, "targetRef"),
            ("outgoing", outgoing, "sourceRef"),
        ):
            listed = {(r.text or "").strip() for r in node.iterfind(_q(tag))}
            actual = {f.get("id", "") for f in table[nid]}
            for ref in sorted(listed - actual):
                report.error(
                    node,
                    f"lists <{tag}> '{ref}', but no sequence flow with that id has {end}='{nid}'",
                )
            for ref in sorted(actual - listed):
                report.warning(node, f"sequence flow '{ref}' is not listed as <{tag}>")
        default = node.get("default")
        if default and default not in {f.get("id") for f in outgoing[nid]}:
            report.error(node, f"default flow '{default}' is not one of its outgoing flows")
        if _local(node) == "boundaryEvent" and node.get("attachedToRef") not in nodes:
            report.error(
                node,
                f"boundary event is attached to '{node.get('attachedToRef')}', "
                "which is not an activity of this process",
            )
        if _local(node) == "callActivity":
            target = node.get("calledElement")
            if not target:
                report.error(node, "call activity has no calledElement")
            elif target not in processes:
                report.error(
                    node,
                    f"call activity calls process '{target}', which none of the "
                    f"files defines (defined: {', '.join(sorted(processes))})",
                )
    for lane in process.iter(_q("lane")):
        for ref in lane.iterfind(_q("flowNodeRef")):
            if (ref.text or "").strip() not in nodes:
                report.error(
                    ref,
                    f"lane lists flow node '{(ref.text or '').strip()}', which does not exist",
                    element_id=lane.get("id"),
                )


def _reachability(
    process: etree._Element,
    nodes: dict[str, etree._Element],
    outgoing: dict[str, list[etree._Element]],
    incoming: dict[str, list[etree._Element]],
    report: _Report,
) -> None:
    top = {nid for nid, el in nodes.items() if el.getparent() is process}
    starts = [n for n in top if _local(nodes[n]) == "startEvent"]
    ends = [n for n in top if _local(nodes[n]) == "endEvent"]
    if not starts:
        report.error(process, "process has no start event")
    if not ends:
        report.error(process, "process has no end event")
    boundary_of: dict[str, list[str]] = {}
    for nid, el in nodes.items():
        if _local(el) == "boundaryEvent":
            boundary_of.setdefault(el.get("attachedToRef", ""), []).append(nid)

    def successors(n: str) -> list[str]:
        nxt = [f.get("targetRef", "") for f in outgoing.get(n, [])]
        return nxt + boundary_of.get(n, [])

    def predecessors(n: str) -> list[str]:
        prev = [f.get("sourceRef", "") for f in incoming.get(n, [])]
        if _local(nodes[n]) == "boundaryEvent":
            prev.append(nodes[n].get("attachedToRef", ""))
        return prev

    def closure(seeds: list[str], step: object) -> set[str]:
        seen = set(seeds)
        stack = list(seeds)
        while stack:
            for m in step(stack.pop()):  # type: ignore[operator]
                if m in nodes and m not in seen:
                    seen.add(m)
                    stack.append(m)
        return seen

    reachable = closure(starts, successors)
    finishing = closure(ends, predecessors)
    for nid in sorted(top):
        el = nodes[nid]
        if starts and nid not in reachable:
            report.error(el, "cannot be reached from any start event")
        elif ends and nid not in finishing:
            report.error(el, "no path leads from here to an end event (a ticket would be stuck)")


def _gateways(
    nodes: dict[str, etree._Element], outgoing: dict[str, list[etree._Element]], report: _Report
) -> None:
    for nid, node in nodes.items():
        kind = _local(node)
        outs = outgoing.get(nid, [])
        conditional = [f for f in outs if f.find(_q("conditionExpression")) is not None]
        default = node.get("default")
        for flow in conditional:
            if flow.get("id") == default:
                report.error(flow, "the default flow must not have a condition")
        if kind in GATEWAYS_WITH_CONDITIONS and len(outs) > 1:
            unconditional = [f for f in outs if f not in conditional and f.get("id") != default]
            for flow in unconditional:
                report.error(
                    flow,
                    f"leaves gateway '{nid}' with neither a condition nor being its default flow",
                )
            if not default:
                report.error(
                    node,
                    "gateway with conditional flows has no default flow; a "
                    "ticket whose conditions all fail would stop here",
                )
        elif kind == "parallelGateway":
            for flow in conditional:
                report.error(flow, "flows out of a parallel gateway cannot have conditions")
        elif kind not in GATEWAYS_WITH_CONDITIONS and conditional:
            for flow in conditional:
                report.error(
                    flow,
                    f"conditional flow out of a {kind}: put an exclusive gateway there instead",
                )
        if kind in (*GATEWAYS_WITH_CONDITIONS, "parallelGateway") and not outs:
            report.error(node, "gateway has no outgoing flow")


def _lanes_and_tasks(
    process: etree._Element, nodes: dict[str, etree._Element], report: _Report, filename: str
) -> None:
    lanes_of: dict[str, list[str]] = {}
    for lane in process.iter(_q("lane")):
        if lane.find(_q("childLaneSet")) is not None:
            continue
        for ref in lane.iterfind(_q("flowNodeRef")):
            lanes_of.setdefault((ref.text or "").strip(), []).append(lane.get("id", ""))
    has_lanes = bool(lanes_of)
    for nid, node in nodes.items():
        in_lanes = lanes_of.get(nid, [])
        if len(in_lanes) > 1:
            report.error(node, f"is in several lanes ({', '.join(in_lanes)})")
        if has_lanes and not in_lanes and node.getparent() is process:
            report.warning(node, "is in no lane")
        if _local(node) in ("userTask", "manualTask"):
            groups = node.get(_q("candidateGroups", CAMUNDA_NS))
            assignee = node.get(_q("assignee", CAMUNDA_NS))
            if not in_lanes and not groups and not assignee:
                report.error(
                    node,
                    "user task has no lane, no camunda:candidateGroups and no "
                    "camunda:assignee: nobody could ever work on it",
                )
            if not node.get("name"):
                report.warning(node, "user task has no name; people will see its id")
            try:
                _form(node, filename)
            except DefinitionError as exc:
                report.problems.append(
                    Problem(filename, exc.line or 0, exc.element_id or nid, "error", exc.reason)
                )


def _diagram(root: etree._Element, report: _Report) -> None:
    shown = {
        el.get("bpmnElement")
        for el in root.iter(_q("BPMNShape", BPMNDI_NS), _q("BPMNEdge", BPMNDI_NS))
    }
    needed = [
        el
        for el in root.iter()
        if _local(el) in (*FLOW_NODES, "sequenceFlow", "lane", "participant")
    ]
    missing = [el for el in needed if el.get("id") not in shown]
    if not any(True for _ in root.iter(_q("BPMNDiagram", BPMNDI_NS))):
        report.warning(
            root,
            "file has no diagram (bpmndi:BPMNDiagram): modelers will show nothing",
            element_id="",
        )
        return
    for el in missing:
        report.warning(el, f"<{_local(el)}> has no diagram shape or edge (DI)")
