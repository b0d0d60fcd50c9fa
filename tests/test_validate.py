"""`ticketflow validate`: every problem of a broken file, with file, line and element."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ticketflow.cli import app
from ticketflow.definitions.validate import Problem, validate_paths, validate_sources

from .bpmn_samples import loop_process
from .conftest import PROCESSES

COMPLAINT = (PROCESSES / "complaint.bpmn").read_text(encoding="utf-8")


def problems_of(text: str, name: str = "p.bpmn") -> list[Problem]:
    return validate_sources([(name, text.encode())])


def errors(problems: list[Problem]) -> list[tuple[str, str]]:
    return [(p.element_id, p.message) for p in problems if p.severity == "error"]


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_shipped_processes_have_no_problems_at_all() -> None:
    assert validate_paths([PROCESSES]) == []


def test_complaint_without_default_flow() -> None:
    text = COMPLAINT.replace(' default="flow_satisfied"', "")
    found = problems_of(text)
    assert sorted(errors(found)) == [
        (
            "flow_satisfied",
            "leaves gateway 'gw_callback' with neither a condition nor being its default flow",
        ),
        (
            "gw_callback",
            "gateway with conditional flows has no default flow; a ticket whose conditions all fail would stop here",
        ),
    ]
    gw = next(p for p in found if p.element_id == "gw_callback")
    assert gw.line == line_of(text, 'id="gw_callback"')


def test_dangling_and_unreachable_elements() -> None:
    text = loop_process().replace(
        'sourceRef="merge" targetRef="work"', 'sourceRef="merge" targetRef="nowhere"'
    )
    found = errors(problems_of(text))
    assert ("f2", "sequence flow targetRef 'nowhere' is not a flow node of process 'loop'") in found
    assert ("work", "cannot be reached from any start event") in found
    assert ("merge", "no path leads from here to an end event (a ticket would be stuck)") in found


def test_dead_end_loop_is_found() -> None:
    # gw's only ways out lead back into the loop: nothing reaches the end event.
    text = loop_process().replace(
        '<bpmn:sequenceFlow id="f6" sourceRef="gw" targetRef="end" />',
        '<bpmn:sequenceFlow id="f6" sourceRef="gw" targetRef="merge" />',
    )
    found = errors(problems_of(text))
    assert ("end", "cannot be reached from any start event") in found
    assert ("work", "no path leads from here to an end event (a ticket would be stuck)") in found


def test_default_flow_must_be_outgoing_and_unconditional() -> None:
    text = loop_process().replace('default="f6"', 'default="f5"')
    found = errors(problems_of(text))
    assert ("f5", "the default flow must not have a condition") in found
    assert (
        "f6",
        "leaves gateway 'gw' with neither a condition nor being its default flow",
    ) in found
    text = loop_process().replace('default="f6"', 'default="f2"')
    assert ("gw", "default flow 'f2' is not one of its outgoing flows") in errors(problems_of(text))


def test_conditional_flow_out_of_a_task() -> None:
    text = loop_process().replace(
        '<bpmn:sequenceFlow id="f3" sourceRef="work" targetRef="count" />',
        '<bpmn:sequenceFlow id="f3" sourceRef="work" targetRef="count"><bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">again</bpmn:conditionExpression></bpmn:sequenceFlow>',
    )
    found = errors(problems_of(text))
    assert (
        "f3",
        "conditional flow out of a userTask: put an exclusive gateway there instead",
    ) in found


def test_incoming_outgoing_lists_must_match_flows() -> None:
    text = loop_process().replace(
        "<bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>",
        "<bpmn:incoming>f9</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>",
    )
    found = problems_of(text)
    assert (
        "work",
        "lists <incoming> 'f9', but no sequence flow with that id has targetRef='work'",
    ) in errors(found)
    assert any(
        p.severity == "warning" and p.message == "sequence flow 'f2' is not listed as <incoming>"
        for p in found
    )


def test_lanes_call_targets_and_forms() -> None:
    text = COMPLAINT.replace(
        "<bpmn:flowNodeRef>record</bpmn:flowNodeRef>",
        "<bpmn:flowNodeRef>record</bpmn:flowNodeRef><bpmn:flowNodeRef>ghost</bpmn:flowNodeRef>",
    )
    text = text.replace(
        '<bpmn:lane id="back_office" name="后台 Back office">',
        '<bpmn:lane id="back_office" name="后台 Back office"><bpmn:flowNodeRef>record</bpmn:flowNodeRef>',
    )
    text = text.replace('type="long"', 'type="integer"', 1)
    found = errors(problems_of(text))
    assert ("intake_agent", "lane lists flow node 'ghost', which does not exist") in found
    assert ("record", "is in several lanes (intake_agent, back_office)") in found
    assert any(eid == "callback" and "has type 'integer'" in msg for eid, msg in found)


def test_unknown_call_activity_target() -> None:
    text = loop_process().replace(
        '<bpmn:scriptTask id="count" scriptFormat="ticketflow"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing><bpmn:script>rounds = rounds + 1</bpmn:script></bpmn:scriptTask>',
        '<bpmn:callActivity id="count" calledElement="no_such_process"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing></bpmn:callActivity>',
    )
    found = errors(problems_of(text))
    assert (
        "count",
        "call activity calls process 'no_such_process', which none of the files defines (defined: loop)",
    ) in found


def test_unsafe_expression_and_schema_errors_are_reported() -> None:
    found = problems_of(loop_process(condition="__import__('os')"))
    assert [(p.element_id, p.severity) for p in found if "unsafe" in p.message] == [("f5", "error")]
    broken = loop_process(extra="    <bpmn:bogusTask id='x' />\n    <bpmn:alsoBogus id='y' />\n")
    schema = [p for p in problems_of(broken) if "schema" in p.message]
    assert len(schema) >= 1 and schema[0].line == line_of(broken, "bogusTask")


def test_missing_diagram_is_a_warning() -> None:
    found = problems_of(loop_process())
    assert not errors(found)
    assert any("has no diagram" in p.message and p.severity == "warning" for p in found)
    no_edge = COMPLAINT.replace('bpmnElement="flow_reply_to_callback"', 'bpmnElement="flow_gone"')
    warnings = [(p.element_id, p.message) for p in problems_of(no_edge) if p.severity == "warning"]
    assert (
        "flow_reply_to_callback",
        "<sequenceFlow> has no diagram shape or edge (DI)",
    ) in warnings


def test_not_xml_and_missing_files(tmp_path: Path) -> None:
    (problem,) = problems_of("<bpmn:definitions")
    assert (problem.severity, problem.line) == ("error", 1)
    assert problem.message.startswith("not well-formed XML")
    (problem,) = validate_paths([tmp_path / "none.bpmn"])
    assert problem.message == "no such file or folder"


def test_cli_prints_every_problem_and_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad.bpmn"
    bad.write_text(
        COMPLAINT.replace(' default="flow_satisfied"', "").replace(' default="flow_resolved"', ""),
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["validate", str(bad)], env={"COLUMNS": "400"})
    assert result.exit_code == 1
    assert f"{bad}:" in result.output
    assert "element 'gw_callback'" in result.output and "element 'gw_handle'" in result.output
    assert "4 errors, 0 warnings in 1 files" in result.output
    ok = CliRunner().invoke(app, ["validate", "--strict", str(PROCESSES)])
    assert ok.exit_code == 0, ok.output


@pytest.mark.parametrize("strict", [False, True])
def test_cli_warnings_fail_only_when_strict(tmp_path: Path, strict: bool) -> None:
    path = tmp_path / "nodi.bpmn"
    path.write_text(loop_process(), encoding="utf-8")
    args = ["validate", *(["--strict"] if strict else []), str(path)]
    assert CliRunner().invoke(app, args).exit_code == (1 if strict else 0)
