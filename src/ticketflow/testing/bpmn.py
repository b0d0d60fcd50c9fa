"""The parts of a BPMN file that coverage counts and draws: flow nodes, sequence flows, DI."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from ticketflow.definitions.loader import FLOW_NODE_TAGS, content_hash
from ticketflow.definitions.xml import BPMN_NS, BPMNDI_NS, parse_bpmn_bytes

_DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
_DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
_NODE_TAGS = frozenset(f"{{{BPMN_NS}}}{t}" for t in FLOW_NODE_TAGS)


@dataclass(frozen=True)
class Node:
    """A flow node (event, task, gateway, sub-process, call activity)."""

    id: str
    kind: str
    name: str
    #: For a boundary event, the activity it is attached to.
    attached_to: str | None = None


@dataclass(frozen=True)
class Flow:
    """A sequence flow."""

    id: str
    source: str
    target: str
    name: str


@dataclass(frozen=True)
class Bounds:
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Diagram:
    """The BPMN DI of one process: shapes by element id, edges by flow id."""

    shapes: dict[str, Bounds]
    edges: dict[str, tuple[tuple[float, float], ...]]
    #: Pools and lanes: (label, bounds), drawn behind the nodes.
    containers: tuple[tuple[str, Bounds], ...]


@dataclass(frozen=True)
class ProcessModel:
    """One ``<bpmn:process>`` of one file version, with everything coverage counts."""

    process_id: str
    name: str
    filename: str
    content_hash: str
    executable: bool
    nodes: dict[str, Node]
    flows: dict[str, Flow]
    #: The process id and the ids of its embedded sub-processes (their workflows are
    #: named so at run time).
    scopes: frozenset[str]
    diagram: Diagram

    def flows_between(self, source: str, target: str) -> list[str]:
        """Ids of the sequence flows from ``source`` to ``target``."""
        return [f.id for f in self.flows.values() if f.source == source and f.target == target]


def parse_models(content: bytes, filename: str) -> list[ProcessModel]:
    """Every process in a BPMN document (raises ``DefinitionError`` for unreadable XML)."""
    root = parse_bpmn_bytes(content, filename)
    digest = content_hash(content)
    shapes, edges = _di(root)
    pool_names = {
        p.get("processRef", ""): p.get("name") or p.get("id", "")
        for p in root.iter(f"{{{BPMN_NS}}}participant")
    }
    participants = {
        p.get("id", ""): p.get("processRef", "") for p in root.iter(f"{{{BPMN_NS}}}participant")
    }
    models = []
    for process in root.iterfind(f"{{{BPMN_NS}}}process"):
        pid = process.get("id", "")
        nodes: dict[str, Node] = {}
        flows: dict[str, Flow] = {}
        scopes = {pid}
        for el in process.iter(f"{{{BPMN_NS}}}*"):
            if el.tag in _NODE_TAGS:
                kind = etree.QName(el).localname
                nodes[el.get("id", "")] = Node(
                    el.get("id", ""), kind, el.get("name") or "", el.get("attachedToRef")
                )
                if kind == "subProcess":
                    scopes.add(el.get("id", ""))
            elif el.tag == f"{{{BPMN_NS}}}sequenceFlow":
                flows[el.get("id", "")] = Flow(
                    el.get("id", ""),
                    el.get("sourceRef", ""),
                    el.get("targetRef", ""),
                    el.get("name") or "",
                )
        lanes = [
            (lane.get("name") or lane.get("id", ""), shapes[lane.get("id", "")])
            for lane in process.iter(f"{{{BPMN_NS}}}lane")
            if lane.get("id", "") in shapes
        ]
        pools = [
            (pool_names.get(pid, pid), shapes[part])
            for part, ref in participants.items()
            if ref == pid and part in shapes
        ]
        owned = set(nodes) | set(flows)
        diagram = Diagram(
            shapes={k: v for k, v in shapes.items() if k in owned},
            edges={k: v for k, v in edges.items() if k in owned},
            containers=tuple(pools + lanes),
        )
        models.append(
            ProcessModel(
                process_id=pid,
                name=process.get("name") or pid,
                filename=filename,
                content_hash=digest,
                executable=process.get("isExecutable", "false") == "true",
                nodes=nodes,
                flows=flows,
                scopes=frozenset(scopes),
                diagram=diagram,
            )
        )
    return models


def _di(
    root: etree._Element,
) -> tuple[dict[str, Bounds], dict[str, tuple[tuple[float, float], ...]]]:
    shapes: dict[str, Bounds] = {}
    edges: dict[str, tuple[tuple[float, float], ...]] = {}
    for shape in root.iter(f"{{{BPMNDI_NS}}}BPMNShape"):
        b = shape.find(f"{{{_DC_NS}}}Bounds")
        if b is None:
            continue
        try:
            shapes[shape.get("bpmnElement", "")] = Bounds(
                float(b.get("x", "0")),
                float(b.get("y", "0")),
                float(b.get("width", "0")),
                float(b.get("height", "0")),
            )
        except ValueError:
            continue  # a broken shape is left out of the picture, not fatal
    for edge in root.iter(f"{{{BPMNDI_NS}}}BPMNEdge"):
        try:
            points = tuple(
                (float(w.get("x", "0")), float(w.get("y", "0")))
                for w in edge.iterfind(f"{{{_DI_NS}}}waypoint")
            )
        except ValueError:
            continue
        if len(points) >= 2:
            edges[edge.get("bpmnElement", "")] = points
    return shapes, edges
