"""Loading BPMN files into :class:`ProcessDefinition` objects.

Order of checks, each failure a :class:`DefinitionError` with file, line and element:
safe XML parse; the OMG BPMN 2.0 XML schema; every expression and script through the
restricted evaluator; user-task conventions (groups, forms, due dates); then
SpiffWorkflow's own parser.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser, BpmnValidator
from SpiffWorkflow.bpmn.parser.ProcessParser import ProcessParser
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.exceptions import SpiffWorkflowException

from ticketflow.definitions.forms import CONSTRAINTS, FIELD_TYPES, Form, FormField, coerce_field
from ticketflow.definitions.model import ProcessDefinition, UserTaskInfo
from ticketflow.definitions.xml import BPMN_NS, CAMUNDA_NS, parse_bpmn_bytes
from ticketflow.errors import DefinitionError
from ticketflow.runtime.connectors import ConnectorTask, ConnectorTaskParser
from ticketflow.runtime.expressions import ExpressionError, check_expression, check_script, strip_el
from ticketflow.runtime.timers import is_iso_literal
from ticketflow.time.durations import parse_duration

#: Elements whose text SpiffWorkflow evaluates as an expression.
_EXPRESSION_TAGS = (
    "conditionExpression",
    "completionCondition",
    "loopCardinality",
    "timeDate",
    "timeDuration",
    "timeCycle",
    "condition",
    "loopCondition",
)
_SCRIPT_LANGUAGES = ("", "ticketflow", "python", "text/x-python")
#: Every BPMN flow-node element ticketflow knows (the validator uses the same list).
FLOW_NODE_TAGS = (
    "startEvent",
    "endEvent",
    "intermediateCatchEvent",
    "intermediateThrowEvent",
    "boundaryEvent",
    "userTask",
    "manualTask",
    "task",
    "serviceTask",
    "scriptTask",
    "sendTask",
    "receiveTask",
    "businessRuleTask",
    "callActivity",
    "subProcess",
    "exclusiveGateway",
    "parallelGateway",
    "inclusiveGateway",
    "eventBasedGateway",
)


def _q(tag: str, ns: str = BPMN_NS) -> str:
    return f"{{{ns}}}{tag}"


class _BpmnOnlyIndexProcessParser(ProcessParser):  # type: ignore[misc]
    """Index only BPMN elements by id.

    SpiffWorkflow indexes every element with an ``id``, so a Camunda form field named like
    its task (field ``reply`` inside task ``reply``) would shadow the task.
    """

    def _index_process_nodes(self) -> None:
        super()._index_process_nodes()
        self.nodes_by_id = {
            node.get("id"): node
            for node in self.xpath(".//*[@id]")
            if etree.QName(node).namespace == BPMN_NS
        }


class _Parser(BpmnParser):  # type: ignore[misc]
    PROCESS_PARSER_CLASS = _BpmnOnlyIndexProcessParser
    OVERRIDE_PARSER_CLASSES: ClassVar[dict[str, tuple[type, type]]] = {
        _q("serviceTask"): (ConnectorTaskParser, ConnectorTask)
    }


@lru_cache(maxsize=1)
def _validator() -> BpmnValidator:
    return BpmnValidator()


def content_hash(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def bpmn_files(path: str | Path) -> list[Path]:
    """The ``*.bpmn`` files at ``path`` (a file or a folder, not recursive), sorted."""
    p = Path(path)
    if p.is_dir():
        files = sorted(p.glob("*.bpmn"))
        if not files:
            raise DefinitionError("folder holds no *.bpmn files", file=str(p))
        return files
    if not p.exists():
        raise DefinitionError("no such file or folder", file=str(p))
    return [p]


def read_sources(paths: Iterable[str | Path]) -> list[tuple[str, bytes]]:
    """``(filename, content)`` of every BPMN file under ``paths``."""
    return [(str(f), f.read_bytes()) for path in paths for f in bpmn_files(path)]


def load_paths(paths: Iterable[str | Path]) -> list[ProcessDefinition]:
    """Parse every BPMN file under ``paths`` together (so call activities resolve)."""
    return load_sources(read_sources(paths))


def scan_references(sources: Iterable[tuple[str, bytes]]) -> tuple[set[str], set[str]]:
    """(process ids defined, process ids called by call activities) in ``sources``."""
    defined: set[str] = set()
    called: set[str] = set()
    for filename, content in sources:
        root = parse_bpmn_bytes(content, filename)
        defined.update(p.get("id", "") for p in root.iterfind(_q("process")))
        called.update(c.get("calledElement", "") for c in root.iter(_q("callActivity")))
    called.discard("")
    return defined, called


def load_sources(
    sources: Iterable[tuple[str, bytes]], *, only: Iterable[str] | None = None
) -> list[ProcessDefinition]:
    """Parse ``(filename, content)`` pairs together; return one definition per executable
    process (of the files named in ``only``, when given; the others only resolve calls)."""
    parser = _Parser(validator=None)
    docs: list[tuple[str, bytes, etree._Element]] = []
    for filename, content in sources:
        root = parse_bpmn_bytes(content, filename)
        _validate_schema(root, filename)
        _check_expressions(root, filename)
        docs.append((filename, content, root))
        try:
            parser.add_bpmn_xml(etree.ElementTree(root), filename)
        except ValidationException as exc:
            raise _wrap_validation(exc, filename, root) from None
    for filename, _, root in docs:
        for p in root.iterfind(_q("process")):
            if not p.get("id"):
                raise DefinitionError(
                    "a process needs an id (the id is how tickets name their process)",
                    file=filename,
                    line=p.sourceline,
                )
    processes = {
        p.get("id", ""): _ProcessSource(p, filename, content, root)
        for filename, content, root in docs
        for p in root.iterfind(_q("process"))
    }
    wanted = set(only) if only is not None else None
    definitions: list[ProcessDefinition] = []
    for src in processes.values():
        if src.element.get("isExecutable", "false") != "true":
            continue
        if wanted is not None and src.filename not in wanted:
            continue
        definitions.append(_build(parser, src, processes))
    if not definitions:
        names = ", ".join(f for f, _, _ in docs)
        raise DefinitionError('no executable process (isExecutable="true") found', file=names)
    return definitions


@dataclass(frozen=True)
class _ProcessSource:
    element: etree._Element
    filename: str
    content: bytes
    root: etree._Element


def _validate_schema(root: etree._Element, filename: str) -> None:
    schema = _validator().validator
    if not schema.validate(root):
        err = schema.error_log.last_error
        first = schema.error_log[0] if len(schema.error_log) else err
        raise DefinitionError(
            f"does not conform to the BPMN 2.0 XML schema: {first.message}",
            file=filename,
            line=first.line,
            element_id=_element_id_at_line(root, first.line),
        )


def _element_id_at_line(root: etree._Element, line: int | None) -> str | None:
    if not line:
        return None
    best = None
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        if el.sourceline is not None and el.sourceline <= line and el.get("id"):
            best = el.get("id")
        if el.sourceline is not None and el.sourceline > line:
            break
    return best


def _owner_id(el: etree._Element) -> str | None:
    node: etree._Element | None = el
    while node is not None:
        found: str | None = node.get("id")
        if found:
            return found
        node = node.getparent()
    return None


def _check_safe(
    check: Callable[[str], None],
    text: str,
    what: str,
    filename: str,
    line: int | None,
    element_id: str | None,
) -> None:
    try:
        check(text)
    except ExpressionError as exc:
        raise DefinitionError(
            f"unsafe or invalid {what}: {exc}", file=filename, line=line, element_id=element_id
        ) from None


def _check_expressions(root: etree._Element, filename: str) -> None:
    for tag in _EXPRESSION_TAGS:
        for el in root.iter(_q(tag)):
            text = (el.text or "").strip()
            if tag in ("timeDate", "timeDuration", "timeCycle") and is_iso_literal(text):
                continue
            if text:
                _check_safe(
                    check_expression, strip_el(text), tag, filename, el.sourceline, _owner_id(el)
                )
    for task in root.iter(_q("scriptTask")):
        language = (task.get("scriptFormat") or "").strip().lower()
        if language not in _SCRIPT_LANGUAGES:
            raise DefinitionError(
                f"scriptFormat '{task.get('scriptFormat')}' is not supported; use 'ticketflow' "
                "(assignments of safe expressions)",
                file=filename,
                line=task.sourceline,
                element_id=task.get("id"),
            )
        script = task.find(_q("script"))
        if script is None or not (script.text or "").strip():
            raise DefinitionError(
                "script task has no script",
                file=filename,
                line=task.sourceline,
                element_id=task.get("id"),
            )
        _check_safe(
            check_script, script.text or "", "script", filename, script.sourceline, task.get("id")
        )
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        for attr in ("candidateGroups", "assignee", "candidateUsers", "dueDate"):
            value = el.get(_q(attr, CAMUNDA_NS))
            if value and "${" in value:
                _check_safe(
                    check_expression,
                    strip_el(value),
                    f"camunda:{attr}",
                    filename,
                    el.sourceline,
                    el.get("id"),
                )


def _wrap_validation(
    exc: ValidationException, filename: str, root: etree._Element
) -> DefinitionError:
    element_id = getattr(exc, "id", "") or None
    line = None
    if element_id:
        found = root.xpath("//*[@id=$i]", i=element_id)
        if found:
            line = found[0].sourceline
    message = str(exc).rstrip(". ")
    return DefinitionError(message, file=filename, line=line, element_id=element_id)


def _lanes(process: etree._Element) -> dict[str, str]:
    """flow node id -> lane id."""
    lanes: dict[str, str] = {}
    for lane in process.iter(_q("lane")):
        for ref in lane.iterfind(_q("flowNodeRef")):
            if ref.text:
                lanes[ref.text.strip()] = lane.get("id", "")
    return lanes


def _text(el: etree._Element | None) -> str | None:
    if el is None or el.text is None:
        return None
    return el.text.strip() or None


def _parse_duration(value: str, filename: str, el: etree._Element) -> timedelta:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise DefinitionError(
            f"camunda:dueDate: {exc}",
            file=filename,
            line=el.sourceline,
            element_id=el.get("id"),
        ) from None


def _form(task: etree._Element, filename: str) -> Form:
    fields: list[FormField] = []
    seen: set[str] = set()
    for xf in task.iterfind(
        f"{_q('extensionElements')}/{_q('formData', CAMUNDA_NS)}/{_q('formField', CAMUNDA_NS)}"
    ):
        fid = xf.get("id")
        where: dict[str, Any] = {
            "file": filename,
            "line": xf.sourceline,
            "element_id": task.get("id"),
        }
        if not fid or not fid.isidentifier() or fid.startswith("_"):
            raise DefinitionError(
                f"form field id {fid!r} must be an identifier not starting with '_'", **where
            )
        if fid in seen:
            raise DefinitionError(f"form field '{fid}' is declared twice", **where)
        seen.add(fid)
        ftype = xf.get("type") or "string"
        if ftype not in FIELD_TYPES:
            raise DefinitionError(
                f"form field '{fid}' has type '{ftype}'; supported: {', '.join(FIELD_TYPES)}",
                **where,
            )
        constraints: dict[str, str] = {}
        for c in xf.iterfind(f"{_q('validation', CAMUNDA_NS)}/{_q('constraint', CAMUNDA_NS)}"):
            cname = c.get("name", "")
            if cname not in CONSTRAINTS:
                raise DefinitionError(
                    f"form field '{fid}' has constraint '{cname}'; "
                    f"supported: {', '.join(CONSTRAINTS)}",
                    **where,
                )
            constraints[cname] = c.get("config") or "true"
            if cname in ("minlength", "maxlength", "min", "max"):
                try:
                    float(constraints[cname])
                except ValueError:
                    raise DefinitionError(
                        f"form field '{fid}': constraint {cname} needs a number in config, "
                        f"got {c.get('config')!r}",
                        **where,
                    ) from None
        choices = tuple(
            (v.get("id", ""), v.get("name") or v.get("id", ""))
            for v in xf.iterfind(_q("value", CAMUNDA_NS))
        )
        if ftype == "enum" and not choices:
            raise DefinitionError(f"enum form field '{fid}' has no camunda:value choices", **where)
        field = FormField(
            id=fid,
            type=ftype,
            label=xf.get("label"),
            required="required" in constraints,
            choices=choices,
            default=xf.get("defaultValue"),
            constraints=constraints,
        )
        if field.default is not None:
            try:
                coerce_field(field, field.default)
            except ValueError as exc:
                raise DefinitionError(
                    f"form field '{fid}': defaultValue {field.default!r} {exc}", **where
                ) from None
        fields.append(field)
    return Form(tuple(fields))


def _user_tasks(process: etree._Element, filename: str) -> dict[str, UserTaskInfo]:
    lanes = _lanes(process)
    infos: dict[str, UserTaskInfo] = {}
    for task in process.iter(_q("userTask"), _q("manualTask")):
        tid = task.get("id", "")
        lane = lanes.get(tid)
        groups_attr = (task.get(_q("candidateGroups", CAMUNDA_NS)) or "").strip()
        groups_expr = None
        groups: tuple[str, ...] = ()
        if groups_attr.startswith("${"):
            groups_expr = strip_el(groups_attr)
        elif groups_attr:
            groups = tuple(g.strip() for g in groups_attr.split(",") if g.strip())
        if not groups and lane:
            groups = (lane,)
        assignee = (task.get(_q("assignee", CAMUNDA_NS)) or "").strip() or None
        if not groups and not groups_expr and not assignee:
            raise DefinitionError(
                "user task has no lane, no camunda:candidateGroups and no camunda:assignee: "
                "nobody could ever work on it",
                file=filename,
                line=task.sourceline,
                element_id=tid,
            )
        due = (task.get(_q("dueDate", CAMUNDA_NS)) or "").strip()
        infos[tid] = UserTaskInfo(
            element_id=tid,
            name=task.get("name") or tid,
            lane=lane,
            candidate_groups=groups,
            candidate_groups_expression=groups_expr,
            assignee_expression=assignee,
            form=_form(task, filename),
            due_in=_parse_duration(due, filename, task) if due else None,
            documentation=_text(task.find(_q("documentation"))),
            line=task.sourceline,
            properties=_properties(task),
        )
        callback = infos[tid].callback
        if callback is not None:
            try:
                check_expression(callback)
            except ExpressionError as exc:
                raise DefinitionError(
                    f"ticketflow.callback must be an expression giving satisfaction: {exc}",
                    file=filename,
                    line=task.sourceline,
                    element_id=tid,
                ) from None
    return infos


def _properties(element: etree._Element) -> dict[str, str]:
    """The element's own camunda:properties (name -> value)."""
    return {
        prop.get("name", ""): prop.get("value", "")
        for prop in element.iterfind(
            f"{_q('extensionElements')}/{_q('properties', CAMUNDA_NS)}/{_q('property', CAMUNDA_NS)}"
        )
    }


LIFECYCLE_EVENTS = ("reopened",)


def _lifecycle(process: etree._Element, filename: str) -> dict[str, str]:
    marks: dict[str, str] = {}
    for tag in FLOW_NODE_TAGS:
        for el in process.iter(_q(tag)):
            value = _properties(el).get("ticketflow.lifecycle")
            if value is None:
                continue
            if value not in LIFECYCLE_EVENTS:
                raise DefinitionError(
                    f"ticketflow.lifecycle {value!r} is not one of {', '.join(LIFECYCLE_EVENTS)}",
                    file=filename,
                    line=el.sourceline,
                    element_id=el.get("id"),
                )
            marks[el.get("id", "")] = value
    return marks


def _start_timers(process: etree._Element) -> tuple[tuple[str, str, str], ...]:
    found = []
    for start in process.iterfind(_q("startEvent")):
        timer = start.find(_q("timerEventDefinition"))
        if timer is None:
            continue
        for kind in ("timeCycle", "timeDate", "timeDuration"):
            el = timer.find(_q(kind))
            if el is not None and (el.text or "").strip():
                found.append((start.get("id", ""), kind, (el.text or "").strip()))
    return tuple(found)


def _property(process: etree._Element, name: str) -> str | None:
    for prop in process.iterfind(
        f"{_q('extensionElements')}/{_q('properties', CAMUNDA_NS)}/{_q('property', CAMUNDA_NS)}"
    ):
        if prop.get("name") == name:
            value: str | None = prop.get("value")
            return value
    return None


def _defaults(process: etree._Element, filename: str) -> dict[str, Any]:
    """Initial data from ``ticketflow.default.<name>`` process properties (JSON literals)."""
    defaults: dict[str, Any] = {}
    for prop in process.iterfind(
        f"{_q('extensionElements')}/{_q('properties', CAMUNDA_NS)}/{_q('property', CAMUNDA_NS)}"
    ):
        name = prop.get("name") or ""
        if not name.startswith("ticketflow.default."):
            continue
        key = name[len("ticketflow.default.") :]
        if not key.isidentifier() or key.startswith("_"):
            raise DefinitionError(
                f"property {name!r}: {key!r} is not a valid data name",
                file=filename,
                line=prop.sourceline,
                element_id=process.get("id"),
            )
        try:
            defaults[key] = json.loads(prop.get("value") or "null", parse_constant=_no_constant)
        except (ValueError, RecursionError):
            raise DefinitionError(
                f"property {name!r}: value {prop.get('value')!r} is not a JSON literal "
                '(numbers, true/false, null, "quoted strings")',
                file=filename,
                line=prop.sourceline,
                element_id=process.get("id"),
            ) from None
    return defaults


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _elements(process: etree._Element) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for tag in FLOW_NODE_TAGS:
        for el in process.iter(_q(tag)):
            found[el.get("id", "")] = (tag, el.get("name") or el.get("id", ""))
    return found


def _check_call_targets(src: _ProcessSource, processes: dict[str, _ProcessSource]) -> None:
    for call in src.element.iter(_q("callActivity")):
        target = call.get("calledElement")
        if not target:
            raise DefinitionError(
                "call activity has no calledElement",
                file=src.filename,
                line=call.sourceline,
                element_id=call.get("id"),
            )
        if target not in processes:
            known = ", ".join(sorted(processes)) or "none"
            raise DefinitionError(
                f"call activity calls process '{target}', which is not among the files "
                f"deployed together nor already deployed (known: {known})",
                file=src.filename,
                line=call.sourceline,
                element_id=call.get("id"),
            )


def _build(
    parser: _Parser, src: _ProcessSource, processes: dict[str, _ProcessSource]
) -> ProcessDefinition:
    process, filename = src.element, src.filename
    pid = process.get("id", "")
    _check_call_targets(src, processes)
    try:
        spec = parser.get_spec(pid)
        subprocess_specs = parser.get_subprocess_specs(pid)
    except ValidationException as exc:
        raise _wrap_validation(exc, filename, src.root) from None
    except SpiffWorkflowException as exc:
        raise DefinitionError(
            str(exc), file=filename, line=process.sourceline, element_id=pid
        ) from None
    if pid in subprocess_specs:
        raise DefinitionError(
            "call activities form a cycle: this process ends up calling itself, so a ticket "
            "would never stop creating sub-processes",
            file=filename,
            line=process.sourceline,
            element_id=pid,
        )
    called = tuple(sorted(k for k in subprocess_specs if k in processes and k != pid))
    for target in called:
        _check_call_targets(processes[target], processes)
    prefix = _property(process, "ticketflow.numberPrefix") or pid[:2].upper()
    if not prefix.isalnum() or len(prefix) > 8:
        raise DefinitionError(
            f"ticketflow.numberPrefix {prefix!r} must be 1-8 letters or digits",
            file=filename,
            line=process.sourceline,
            element_id=pid,
        )
    user_tasks = _user_tasks(process, filename)
    elements = _elements(process)
    lifecycle = _lifecycle(process, filename)
    for target in called:
        other = processes[target]
        for element_id, info in _user_tasks(other.element, other.filename).items():
            if element_id in user_tasks:
                raise DefinitionError(
                    f"user task id '{element_id}' is used both in process '{pid}' and in "
                    f"process '{target}' that it calls; ids must be unique across them",
                    file=other.filename,
                    line=info.line,
                    element_id=element_id,
                )
            user_tasks[element_id] = info
        for element_id, kind in _elements(other.element).items():
            elements.setdefault(element_id, kind)
        for element_id, event in _lifecycle(other.element, other.filename).items():
            lifecycle.setdefault(element_id, event)
    # Defaults of called processes apply too (the caller's own win): a called process's
    # variables then exist from the start and flow into every call.
    defaults: dict[str, Any] = {}
    for target in called:
        defaults.update(_defaults(processes[target].element, processes[target].filename))
    defaults.update(_defaults(process, filename))
    digest = hashlib.sha256(src.content)
    for target in called:
        digest.update(target.encode() + b"\0" + hashlib.sha256(processes[target].content).digest())
    return ProcessDefinition(
        process_id=pid,
        name=process.get("name") or pid,
        filename=filename,
        content_hash=digest.hexdigest(),
        source=src.content,
        spec=spec,
        subprocess_specs=subprocess_specs,
        user_tasks=user_tasks,
        number_prefix=prefix,
        elements=elements,
        data_defaults=defaults,
        documentation=_text(process.find(_q("documentation"))),
        called=called,
        lifecycle=lifecycle,
        start_timers=_start_timers(process),
        async_before=frozenset(
            el.get("id", "")
            for el in process.iter()
            if isinstance(el.tag, str) and el.get(_q("asyncBefore", CAMUNDA_NS)) == "true"
        ),
    )


__all__ = [
    "bpmn_files",
    "content_hash",
    "load_paths",
    "load_sources",
    "read_sources",
    "scan_references",
]
