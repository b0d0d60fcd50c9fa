"""Deploying definitions: versions, and precise errors for malformed or unsafe BPMN."""

from __future__ import annotations

from pathlib import Path

import pytest

from ticketflow import DefinitionError, Engine
from ticketflow.definitions.loader import load_paths

from .bpmn_samples import HEADER, loop_process
from .conftest import PROCESSES


def write(tmp_path: Path, text: str, name: str = "p.bpmn") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_complaint_definition_is_read_fully() -> None:
    (definition,) = load_paths([PROCESSES / "complaint.bpmn"])
    assert definition.process_id == "complaint"
    assert definition.number_prefix == "TS"
    assert definition.data_defaults == {
        "reopen_count": 0,
        "refunds_before": 0,
        "refund_paid": False,
    }
    tasks = definition.user_tasks
    assert set(tasks) == {
        "front_desk",
        "record",
        "classify",
        "dispatch",
        "handle",
        "difficult_review",
        "verify_refund",
        "approve_refund_l1",
        "approve_refund_l2",
        "approve_refund_l3",
        "reply",
        "callback",
    }
    assert tasks["front_desk"].candidate_groups == ("intake_agent",)
    assert tasks["classify"].lane == "back_office"
    assert tasks["handle"].candidate_groups_expression == "department"
    assert tasks["handle"].assignee_expression == "${handler}"
    urgency = next(f for f in tasks["record"].form.fields if f.id == "urgency")
    assert urgency.type == "enum" and urgency.required
    assert [c for c, _ in urgency.choices] == ["normal", "urgent", "critical"]


def test_redeploy_same_file_keeps_version_and_changed_file_adds_one(
    engine: Engine, tmp_path: Path
) -> None:
    assert ("complaint", 1) in [(d.process_id, d.version) for d in engine.deploy(PROCESSES)]
    source = (PROCESSES / "complaint.bpmn").read_text(encoding="utf-8")
    changed = write(
        tmp_path,
        source.replace("前台处理 Front-desk resolution", "前台受理 Front desk"),
        "complaint.bpmn",
    )
    assert [(d.process_id, d.version) for d in engine.deploy(changed)] == [("complaint", 2)]
    assert [d.version for d in engine.definitions("complaint")] == [1, 2]
    ticket = engine.open_ticket("complaint", customer="C1", channel="web")
    assert ticket.definition_version == 2
    assert ticket.open_tasks[0].name == "前台受理 Front desk"


@pytest.mark.parametrize(
    ("text", "message", "line", "element"),
    [
        ("this is not xml", "not well-formed XML", "this is not xml", None),
        (HEADER + "<bpmn:process id='p' isExecutable='true'>", "not well-formed XML", None, None),
        (
            '<?xml version="1.0"?>\n<root/>',
            "root element is <root>, expected <bpmn:definitions>",
            "<root/>",
            None,
        ),
        (
            loop_process(extra="    <bpmn:bogusTask id='x' />\n"),
            "does not conform to the BPMN 2.0 XML schema",
            "bogusTask",
            "x",
        ),
        (
            loop_process(condition="__import__('os').system('echo pwned') == 0"),
            "unsafe or invalid conditionExpression",
            "conditionExpression",
            "f5",
        ),
        (
            loop_process(condition="open('/etc/passwd')"),
            "unsafe or invalid conditionExpression",
            "conditionExpression",
            "f5",
        ),
        (loop_process(script="import os"), "unsafe or invalid script", "<bpmn:script>", "count"),
        (
            loop_process(script="x = ().__class__"),
            "unsafe or invalid script",
            "<bpmn:script>",
            "count",
        ),
        (
            loop_process(lane="agents").replace(
                '<bpmn:laneSet id="ls"><bpmn:lane id="agents"><bpmn:flowNodeRef>work</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>',
                "",
            ),
            "user task has no lane, no camunda:candidateGroups and no camunda:assignee",
            "userTask id",
            "work",
        ),
        (
            loop_process(fields='<camunda:formField id="again" type="colour" />'),
            "form field 'again' has type 'colour'",
            "formField",
            "work",
        ),
        (
            loop_process(
                fields='<camunda:formField id="a" type="boolean" /><camunda:formField id="a" type="string" />'
            ),
            "form field 'a' is declared twice",
            "formField",
            "work",
        ),
        (
            loop_process(fields='<camunda:formField id="lvl" type="enum" />'),
            "enum form field 'lvl' has no camunda:value choices",
            "formField",
            "work",
        ),
        (
            loop_process().replace('targetRef="work" />', 'targetRef="nowhere" />'),
            "nowhere",
            None,
            None,
        ),
        (
            loop_process().replace('value="0"', 'value="zero"'),
            "is not a JSON literal",
            "ticketflow.default",
            "loop",
        ),
        (
            loop_process().replace('isExecutable="true"', 'isExecutable="false"'),
            "no executable process",
            None,
            None,
        ),
        (
            loop_process().replace('scriptFormat="ticketflow"', 'scriptFormat="groovy"'),
            "scriptFormat 'groovy' is not supported",
            "scriptTask",
            "count",
        ),
    ],
)
def test_malformed_bpmn_is_refused_with_file_line_and_element(
    engine: Engine, tmp_path: Path, text: str, message: str, line: str | None, element: str | None
) -> None:
    """``line`` is a piece of the offending line; the error must point at the first line holding it."""
    path = write(tmp_path, text)
    before = engine.definitions()
    with pytest.raises(DefinitionError) as info:
        engine.deploy(path)
    error = info.value
    assert message in str(error)
    assert error.file == str(path)
    if line is not None:
        expected = next(n for n, text_line in enumerate(text.splitlines(), 1) if line in text_line)
        assert error.line == expected, str(error)
    if element is not None:
        assert error.element_id == element, str(error)
    assert str(error).startswith(str(path))
    assert engine.definitions() == before, "a refused file deploys nothing"


def test_entities_are_never_expanded(engine: Engine, tmp_path: Path) -> None:
    xxe = (
        '<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        + HEADER.split("\n", 1)[1]
        + "</bpmn:definitions>"
    )
    with pytest.raises(
        DefinitionError, match="DOCTYPE and ENTITY declarations are not allowed"
    ) as info:
        engine.deploy(write(tmp_path, xxe))
    assert info.value.line == 2
    laughs = '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>\n<lolz>&lol2;</lolz>'
    with pytest.raises(DefinitionError, match="not allowed"):
        engine.deploy(write(tmp_path, laughs))


def test_oversized_file_is_refused(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, loop_process(extra="<!--" + "x" * (6 * 1024 * 1024) + "-->\n"))
    with pytest.raises(DefinitionError, match="the limit is 5242880"):
        engine.deploy(path)


def test_missing_path_and_empty_folder(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="no such file or folder"):
        engine.deploy(tmp_path / "missing.bpmn")
    with pytest.raises(DefinitionError, match=r"folder holds no \*.bpmn files"):
        engine.deploy(tmp_path)


def test_condition_failing_at_run_time_leaves_ticket_unchanged(
    engine: Engine, tmp_path: Path
) -> None:
    from ticketflow import ProcessExecutionError, User

    engine.deploy(write(tmp_path, loop_process(condition="again == True and missing_value > 3")))
    ticket = engine.open_ticket("loop", customer="C1", channel="web")
    worker = User.of("w", groups=["agents"])
    with pytest.raises(ProcessExecutionError) as info:
        engine.complete(ticket.task("work").id, worker, {"again": True})
    assert info.value.element_id == "gw"
    assert "missing_value" in str(info.value)
    assert ticket.number in str(info.value)
    assert engine.ticket(ticket.number) == ticket
    assert [e.kind for e in engine.history(ticket.number)] == ["ticket_opened", "task_created"]
    # The stored state is intact: the task can still be completed along the other path.
    ticket = engine.complete(ticket.task("work").id, worker, {"again": False})
    assert ticket.status == "closed"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT4H", 4 * 3600),
        ("P2D", 2 * 86400),
        ("P1DT12H", 36 * 3600),
        ("PT30M", 1800),
        ("P1W", 7 * 86400),
        ("PT1.5H", 5400),
        ("pt45s", 45),
    ],
)
def test_durations(text: str, expected: int) -> None:
    from ticketflow.time.durations import parse_duration

    assert parse_duration(text).total_seconds() == expected


@pytest.mark.parametrize("text", ["P1M", "P1Y", "PT", "P", "4 hours", "PT4", ""])
def test_bad_durations(text: str) -> None:
    from ticketflow.time.durations import parse_duration

    with pytest.raises(ValueError, match="not an ISO 8601 duration"):
        parse_duration(text)


def test_bad_due_date_is_refused_at_deploy(engine: Engine, tmp_path: Path) -> None:
    text = loop_process().replace(
        '<bpmn:userTask id="work" name="Work">',
        '<bpmn:userTask id="work" name="Work" camunda:dueDate="P1M">',
    )
    with pytest.raises(
        DefinitionError, match="camunda:dueDate: 'P1M' is not an ISO 8601 duration"
    ) as info:
        engine.deploy(write(tmp_path, text))
    assert info.value.element_id == "work"


def test_script_errors_keep_their_reason(engine: Engine, tmp_path: Path) -> None:
    from ticketflow import ProcessExecutionError, User

    engine.deploy(write(tmp_path, loop_process(script="rounds = rounds + missing_thing")))
    ticket = engine.open_ticket("loop", customer="C1", channel="web")
    with pytest.raises(ProcessExecutionError) as info:
        engine.complete(ticket.task("work").id, User.of("w", groups=["agents"]), {"again": False})
    assert info.value.element_id == "count"
    assert "refers to 'missing_thing', which the ticket data does not have" in str(info.value)


@pytest.mark.parametrize(
    ("field", "message"),
    [
        (
            '<camunda:formField id="n" type="double" defaultValue="abc" />',
            "defaultValue 'abc' must be a number",
        ),
        (
            '<camunda:formField id="n" type="long" defaultValue="-5"><camunda:validation>'
            '<camunda:constraint name="min" config="0" /></camunda:validation></camunda:formField>',
            "defaultValue '-5' must be at least 0",
        ),
        (
            '<camunda:formField id="e" type="enum" defaultValue="c"><camunda:value id="a" name="A" />'
            "</camunda:formField>",
            "defaultValue 'c' must be one of a",
        ),
    ],
)
def test_bad_default_values_are_refused_at_deploy(
    engine: Engine, tmp_path: Path, field: str, message: str
) -> None:
    with pytest.raises(DefinitionError, match=message) as info:
        engine.deploy(
            write(
                tmp_path,
                loop_process(fields='<camunda:formField id="again" type="boolean" />' + field),
            )
        )
    assert info.value.element_id == "work"
