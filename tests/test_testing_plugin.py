"""ticketflow.testing: fixtures, path drivers, assertions and the BPMN coverage report.

The plugin itself is tested through ``pytester`` (small process test suites run inline);
drivers, assertions and the observation seam are called directly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path as FilePath

import pytest

from ticketflow import Engine, FixedClock, User
from ticketflow.runtime import observe
from ticketflow.runtime.instance import Instance
from ticketflow.testing import (
    Complete,
    Path,
    Timer,
    Users,
    assert_ended_at,
    assert_not_passed,
    assert_offered_to,
    assert_passed,
    assert_waiting_at,
    drive,
    passed_elements,
)
from ticketflow.testing.coverage import CoverageCollector, CoverageReport
from ticketflow.testing.report import render_html, terminal_lines

pytest_plugins = ["pytester"]

ROOT = FilePath(__file__).resolve().parent.parent

# start -> triage -> gw_urgent -(urgent)-> escalate -> end_escalated
#                              \-(default)-> split => check | note => join -> wait (1h) -> end_done
# escalate has an interrupting 2h boundary timer "remind" -> end_timeout.
# 13 flow nodes, 12 sequence flows.
REVIEW_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs_review" targetNamespace="http://ticketflow.dev/test">
  <bpmn:process id="review" name="Review" isExecutable="true">
    <bpmn:startEvent id="start" name="Received"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="triage" name="Triage" camunda:candidateGroups="desk">
      <bpmn:extensionElements><camunda:formData><camunda:formField id="urgent" type="boolean" /></camunda:formData></bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:exclusiveGateway id="gw_urgent" name="Urgent?" default="f5"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing><bpmn:outgoing>f5</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:userTask id="escalate" name="Escalate" camunda:candidateGroups="leads"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end_escalated" name="Escalated"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:parallelGateway id="split"><bpmn:incoming>f5</bpmn:incoming><bpmn:outgoing>f6</bpmn:outgoing><bpmn:outgoing>f7</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:userTask id="check" name="Check" camunda:candidateGroups="desk"><bpmn:incoming>f6</bpmn:incoming><bpmn:outgoing>f8</bpmn:outgoing></bpmn:userTask>
    <bpmn:scriptTask id="note" name="Note" scriptFormat="ticketflow"><bpmn:incoming>f7</bpmn:incoming><bpmn:outgoing>f9</bpmn:outgoing><bpmn:script>noted = True</bpmn:script></bpmn:scriptTask>
    <bpmn:parallelGateway id="join"><bpmn:incoming>f8</bpmn:incoming><bpmn:incoming>f9</bpmn:incoming><bpmn:outgoing>f10</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:intermediateCatchEvent id="wait" name="Cool-off"><bpmn:incoming>f10</bpmn:incoming><bpmn:outgoing>f11</bpmn:outgoing><bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="end_done" name="Done"><bpmn:incoming>f11</bpmn:incoming></bpmn:endEvent>
    <bpmn:boundaryEvent id="remind" name="2h passed" attachedToRef="escalate"><bpmn:outgoing>f12</bpmn:outgoing><bpmn:timerEventDefinition><bpmn:timeDuration>PT2H</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>
    <bpmn:endEvent id="end_timeout" name="Timed out"><bpmn:incoming>f12</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="triage" />
    <bpmn:sequenceFlow id="f2" sourceRef="triage" targetRef="gw_urgent" />
    <bpmn:sequenceFlow id="f3" name="yes" sourceRef="gw_urgent" targetRef="escalate"><bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">urgent == True</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f4" sourceRef="escalate" targetRef="end_escalated" />
    <bpmn:sequenceFlow id="f5" name="no" sourceRef="gw_urgent" targetRef="split" />
    <bpmn:sequenceFlow id="f6" sourceRef="split" targetRef="check" />
    <bpmn:sequenceFlow id="f7" sourceRef="split" targetRef="note" />
    <bpmn:sequenceFlow id="f8" sourceRef="check" targetRef="join" />
    <bpmn:sequenceFlow id="f9" sourceRef="note" targetRef="join" />
    <bpmn:sequenceFlow id="f10" sourceRef="join" targetRef="wait" />
    <bpmn:sequenceFlow id="f11" sourceRef="wait" targetRef="end_done" />
    <bpmn:sequenceFlow id="f12" sourceRef="remind" targetRef="end_timeout" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="diagram_review">
    <bpmndi:BPMNPlane id="plane_review" bpmnElement="review">
      <bpmndi:BPMNShape id="start_di" bpmnElement="start"><dc:Bounds x="40" y="102" width="36" height="36" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="triage_di" bpmnElement="triage"><dc:Bounds x="120" y="80" width="100" height="80" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="gw_urgent_di" bpmnElement="gw_urgent" isMarkerVisible="true"><dc:Bounds x="265" y="95" width="50" height="50" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="escalate_di" bpmnElement="escalate"><dc:Bounds x="360" y="-60" width="100" height="80" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="end_escalated_di" bpmnElement="end_escalated"><dc:Bounds x="510" y="-38" width="36" height="36" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="split_di" bpmnElement="split"><dc:Bounds x="365" y="95" width="50" height="50" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="check_di" bpmnElement="check"><dc:Bounds x="460" y="80" width="100" height="80" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="note_di" bpmnElement="note"><dc:Bounds x="460" y="200" width="100" height="80" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="join_di" bpmnElement="join"><dc:Bounds x="605" y="95" width="50" height="50" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="wait_di" bpmnElement="wait"><dc:Bounds x="702" y="102" width="36" height="36" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="end_done_di" bpmnElement="end_done"><dc:Bounds x="792" y="102" width="36" height="36" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="remind_di" bpmnElement="remind"><dc:Bounds x="392" y="2" width="36" height="36" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="end_timeout_di" bpmnElement="end_timeout"><dc:Bounds x="600" y="42" width="36" height="36" /></bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="f1_di" bpmnElement="f1"><di:waypoint x="76" y="120" /><di:waypoint x="120" y="120" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f2_di" bpmnElement="f2"><di:waypoint x="220" y="120" /><di:waypoint x="265" y="120" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f3_di" bpmnElement="f3"><di:waypoint x="290" y="95" /><di:waypoint x="290" y="-20" /><di:waypoint x="360" y="-20" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f4_di" bpmnElement="f4"><di:waypoint x="460" y="-20" /><di:waypoint x="510" y="-20" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f5_di" bpmnElement="f5"><di:waypoint x="315" y="120" /><di:waypoint x="365" y="120" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f6_di" bpmnElement="f6"><di:waypoint x="415" y="120" /><di:waypoint x="460" y="120" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f7_di" bpmnElement="f7"><di:waypoint x="390" y="145" /><di:waypoint x="390" y="240" /><di:waypoint x="460" y="240" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f8_di" bpmnElement="f8"><di:waypoint x="560" y="120" /><di:waypoint x="605" y="120" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f9_di" bpmnElement="f9"><di:waypoint x="560" y="240" /><di:waypoint x="630" y="240" /><di:waypoint x="630" y="145" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f10_di" bpmnElement="f10"><di:waypoint x="655" y="120" /><di:waypoint x="702" y="120" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f11_di" bpmnElement="f11"><di:waypoint x="738" y="120" /><di:waypoint x="792" y="120" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f12_di" bpmnElement="f12"><di:waypoint x="410" y="38" /><di:waypoint x="410" y="60" /><di:waypoint x="600" y="60" /></bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""

CALLER_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs_caller" targetNamespace="http://ticketflow.dev/test">
  <bpmn:process id="caller" isExecutable="true">
    <bpmn:startEvent id="c_start"><bpmn:outgoing>c1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:callActivity id="c_call" calledElement="callee"><bpmn:incoming>c1</bpmn:incoming><bpmn:outgoing>c2</bpmn:outgoing></bpmn:callActivity>
    <bpmn:endEvent id="c_end"><bpmn:incoming>c2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="c1" sourceRef="c_start" targetRef="c_call" />
    <bpmn:sequenceFlow id="c2" sourceRef="c_call" targetRef="c_end" />
  </bpmn:process>
</bpmn:definitions>
"""

CALLEE_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs_callee" targetNamespace="http://ticketflow.dev/test">
  <bpmn:process id="callee" isExecutable="true">
    <bpmn:startEvent id="s_start"><bpmn:outgoing>s1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="s_work" camunda:candidateGroups="desk"><bpmn:incoming>s1</bpmn:incoming><bpmn:outgoing>s2</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="s_end"><bpmn:incoming>s2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="s1" sourceRef="s_start" targetRef="s_work" />
    <bpmn:sequenceFlow id="s2" sourceRef="s_work" targetRef="s_end" />
  </bpmn:process>
</bpmn:definitions>
"""

EMBEDDING_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs_emb" targetNamespace="http://ticketflow.dev/test">
  <bpmn:process id="embedding" isExecutable="true">
    <bpmn:startEvent id="e_start"><bpmn:outgoing>e1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:subProcess id="e_sub"><bpmn:incoming>e1</bpmn:incoming><bpmn:outgoing>e2</bpmn:outgoing>
      <bpmn:startEvent id="i_start"><bpmn:outgoing>i1</bpmn:outgoing></bpmn:startEvent>
      <bpmn:userTask id="i_work" camunda:candidateGroups="desk"><bpmn:incoming>i1</bpmn:incoming><bpmn:outgoing>i2</bpmn:outgoing></bpmn:userTask>
      <bpmn:endEvent id="i_end"><bpmn:incoming>i2</bpmn:incoming></bpmn:endEvent>
      <bpmn:sequenceFlow id="i1" sourceRef="i_start" targetRef="i_work" />
      <bpmn:sequenceFlow id="i2" sourceRef="i_work" targetRef="i_end" />
    </bpmn:subProcess>
    <bpmn:endEvent id="e_end"><bpmn:incoming>e2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="e1" sourceRef="e_start" targetRef="e_sub" />
    <bpmn:sequenceFlow id="e2" sourceRef="e_sub" targetRef="e_end" />
  </bpmn:process>
</bpmn:definitions>
"""

DESK = User.of("amy", groups=["desk"])
LEAD = User.of("lee", groups=["leads"])
HAPPY = Path().complete("triage", {"urgent": False}, DESK).complete("check", {}, DESK).timer("wait")


@pytest.fixture
def review_file(tmp_path: FilePath) -> FilePath:
    path = tmp_path / "review.bpmn"
    path.write_text(REVIEW_BPMN, encoding="utf-8")
    return path


@pytest.fixture
def review(tf_make_engine: Callable[..., Engine], review_file: FilePath) -> Engine:
    return tf_make_engine(deploy=[review_file])


def open_review(engine: Engine) -> str:
    return engine.open_ticket("review", customer="C-1", channel="web").number


@pytest.fixture
def collector() -> Iterator[CoverageCollector]:
    c = CoverageCollector()
    observe.add_listener(c.observe)
    yield c
    observe.remove_listener(c.observe)


def only(report: CoverageReport, process_id: str) -> dict[str, object]:
    [entry] = [p.to_dict() for p in report.processes if p.model.process_id == process_id]
    return entry


def hits(entry: dict[str, object], key: str) -> dict[str, int]:
    items = entry[key]
    assert isinstance(items, list)
    return {i["id"]: i["hits"] for i in items}


# --------------------------------------------------------------------------- drivers


def test_path_builder_drives_to_the_end_and_fires_the_timer(
    review: Engine, tf_clock: FixedClock
) -> None:
    number = open_review(review)
    start = tf_clock.now()
    ticket = HAPPY.run(review, number)
    assert ticket.status == "closed" and ticket.end_element == "end_done"
    # The clock jumped to just past the 1 h cool-off timer, no further.
    assert tf_clock.now() - start == timedelta(hours=1, seconds=1)
    assert passed_elements(review.history(number)) == [
        "start", "triage", "gw_urgent", "split", "note", "check", "join", "wait", "end_done",
    ]  # fmt: skip
    # Unclaimed tasks were claimed by the acting user first, as a person would.
    kinds = [(e.kind, e.actor) for e in review.history(number) if e.kind == "task_claimed"]
    assert kinds == [("task_claimed", "amy"), ("task_claimed", "amy")]


def test_drive_reads_short_forms_and_moves_the_clock_by_a_delta(review: Engine) -> None:
    ticket = drive(
        review,
        open_review(review),
        [("triage", {"urgent": True}, DESK), ("remind", timedelta(hours=2, seconds=5))],
    )
    assert_ended_at(ticket, "end_timeout")
    assert_passed(review, ticket, "remind")
    assert_not_passed(review, ticket, "escalate")  # interrupted, never completed


def test_drive_acts_as_the_system_user_by_default(review: Engine) -> None:
    ticket = drive(review, open_review(review), [Complete("triage", {"urgent": True})])
    assert_waiting_at(ticket, "escalate")
    done = review.tasks(state="completed", ticket=ticket.number)
    assert [t.completed_by for t in done] == ["system"]


def test_drive_names_the_step_and_shows_where_the_ticket_waits(review: Engine) -> None:
    number = open_review(review)
    with pytest.raises(AssertionError) as err:
        drive(review, number, [("triage", {"urgent": False}, DESK), ("escalate", {}, LEAD)])
    assert str(err.value) == (
        f"step 2 of 2: ticket {number} is not waiting at 'escalate'; status open; "
        "open tasks: 'check' (task 2, groups desk); pending timers: none; "
        "passed: start → triage → gw_urgent → split → note"
    )


def test_drive_fails_on_a_timer_that_is_not_pending(review: Engine) -> None:
    number = open_review(review)
    with pytest.raises(AssertionError, match=r"step 1 of 1: ticket .* has no pending timer at "
                       r"'wait'; status open; open tasks: 'triage' \(task 1, groups desk\); "
                       r"pending timers: none"):  # fmt: skip
        drive(review, number, [Timer("wait")])
    drive(review, number, [("triage", {"urgent": False}), "check"])
    with pytest.raises(AssertionError) as err:
        drive(review, number, [("wait", timedelta(minutes=5))])
    assert str(err.value) == (
        f"step 1 of 1: timer 'wait' of ticket {number} did not fire "
        "(due 2026-01-05 10:00:00, clock 2026-01-05 09:05:00, job pending)"
    )
    assert_ended_at(drive(review, number, [Timer("wait")]), "end_done")


def test_drive_refuses_a_task_claimed_by_someone_else(review: Engine) -> None:
    number = open_review(review)
    review.claim(review.ticket(number).task("triage").id, DESK)
    bob = User.of("bob", groups=["desk"])
    with pytest.raises(AssertionError, match="is claimed by 'amy', not 'bob'; complete it as"):
        drive(review, number, [("triage", {"urgent": True}, bob)])
    # An admin may complete it all the same.
    drive(review, number, [("triage", {"urgent": True}, User.system())])


def test_drive_rejects_a_step_it_cannot_read(review: Engine) -> None:
    with pytest.raises(TypeError, match=r"a path step is an element id.*got \('triage', 3\)"):
        drive(review, open_review(review), [("triage", 3)])


def test_paths_compose(review: Engine) -> None:
    first = Path().complete("triage", {"urgent": False}, DESK)
    whole = first + Path([("check", {}, DESK), Timer("wait")])
    assert len(whole) == 3 and len(first) == 1
    assert_ended_at(whole.run(review, open_review(review)), "end_done")


# --------------------------------------------------------------------------- assertions


def test_assertions_pass_on_the_real_state(review: Engine) -> None:
    ticket = drive(review, open_review(review), [("triage", {"urgent": False}, DESK)])
    assert_waiting_at(ticket, "check")
    assert_offered_to(ticket, "desk")
    assert_offered_to(ticket, "desk", element="check")
    assert_offered_to(ticket.task("check"), "desk")
    assert_passed(review, ticket, "note")
    ticket = drive(review, ticket, [("check", {}, DESK)])
    assert_waiting_at(ticket, "wait", engine=review)  # a pending timer counts with engine=


def test_assertion_messages_show_the_actual_state(review: Engine) -> None:
    number = open_review(review)
    ticket = drive(review, number, [("triage", {"urgent": True}, DESK)])
    waiting = (
        "status open; open tasks: 'escalate' (task 2, groups leads); "
        "pending timers: 'remind' due 2026-01-05 11:00:00"
    )
    with pytest.raises(AssertionError) as err:
        assert_waiting_at(ticket, "check", engine=review)
    assert str(err.value) == f"ticket {number} (review v1) is not waiting at 'check'; {waiting}"
    with pytest.raises(AssertionError) as err:
        assert_passed(review, ticket, "split")
    assert str(err.value) == (
        f"ticket {number} did not pass 'split'; passed: start → triage → gw_urgent; {waiting}"
    )
    with pytest.raises(AssertionError) as err:
        assert_ended_at(ticket, "end_escalated", engine=review)
    assert (
        str(err.value)
        == f"ticket {number} did not end at 'end_escalated'; it has not ended: {waiting}"
    )
    with pytest.raises(AssertionError) as err:
        assert_offered_to(ticket, "desk")
    assert str(err.value) == (
        f"ticket {number} is not offered to group 'desk'; 'escalate' (task 2, groups leads)"
    )
    with pytest.raises(AssertionError) as err:
        assert_offered_to(ticket, "leads", element="check")
    assert str(err.value) == (
        f"ticket {number} at 'check': no open task; open tasks: 'escalate' (task 2, groups leads)"
    )
    with pytest.raises(AssertionError, match=r"passed 'gw_urgent' \(1x\)"):
        assert_not_passed(review, ticket, "gw_urgent")
    closed = drive(review, ticket, [("remind", timedelta(hours=3))])
    with pytest.raises(
        AssertionError, match="did not end at 'end_escalated'; it ended at 'end_timeout' instead"
    ):
        assert_ended_at(closed, "end_escalated")


def test_users_for_a_task_may_claim_it(review: Engine) -> None:
    ticket = drive(review, open_review(review), [("triage", {"urgent": True}, DESK)])
    lead = Users().for_task(ticket.task("escalate"))
    assert lead.groups == frozenset({"leads"}) and lead.id == "leads.member"
    review.claim(ticket.task("escalate").id, lead)
    assert Users().member("x", "a", "b").groups == frozenset({"a", "b"})
    assert "supervisor" in Users().supervisor("y", "a").roles
    assert "admin" in Users.system.roles


# --------------------------------------------------------------------------- observation


def test_observer_sees_joins_timers_and_boundary_events(review: Engine) -> None:
    seen: list[observe.StepObservation] = []
    observe.add_listener(seen.append)
    try:
        HAPPY.run(review, open_review(review))
        drive(review, open_review(review), [("triage", {"urgent": True}), Timer("remind")])
    finally:
        observe.remove_listener(seen.append)
    mine = [o for o in seen if o.definition.process_id == "review"]
    steps = [(sorted(n for _, n in o.nodes), sorted((s, t) for _, s, t in o.flows)) for o in mine]
    assert steps == [
        (["start", "triage"], [("start", "triage")]),
        # The script branch reaches the join, which waits (no node hit) for "check".
        (["check", "gw_urgent", "note", "split"],
         [("gw_urgent", "split"), ("note", "join"), ("split", "check"), ("split", "note"),
          ("triage", "gw_urgent")]),
        (["join", "wait"], [("check", "join"), ("join", "wait")]),  # a waiting timer counts
        (["end_done"], [("wait", "end_done")]),
        (["start", "triage"], [("start", "triage")]),
        (["escalate", "gw_urgent"], [("gw_urgent", "escalate"), ("triage", "gw_urgent")]),
        # An armed boundary timer is no hit; once it fires it is, and arrives from no flow.
        (["end_timeout", "remind"], [("gw_urgent", "remind"), ("remind", "end_timeout")]),
    ]  # fmt: skip
    assert {o.files["review"] for o in mine} == {str(FilePath(mine[0].definition.filename))}


def test_a_failing_observer_never_breaks_a_step(
    review: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(observation: observe.StepObservation) -> None:
        raise RuntimeError("observer bug")

    observe.add_listener(broken)
    try:
        ticket = drive(review, open_review(review), [("triage", {"urgent": True})])
    finally:
        observe.remove_listener(broken)
    assert_waiting_at(ticket, "escalate")
    assert "step observer" in caplog.text and "observer bug" in caplog.text


def test_observer_costs_nothing_without_listeners(review: Engine) -> None:
    if observe.active():
        pytest.skip("a coverage listener is registered in this session (--tf-coverage)")
    definition = review.definition("review")
    instance, _ = Instance.start(definition, {}, None)
    assert instance._observed is None


def test_collector_counts_hits_per_process_version(
    review: Engine, review_file: FilePath, collector: CoverageCollector
) -> None:
    HAPPY.run(review, open_review(review))
    HAPPY.run(review, open_review(review))
    review_file.write_text(REVIEW_BPMN.replace('name="Triage"', 'name="Sort"'), encoding="utf-8")
    review.deploy(review_file)
    drive(review, open_review(review), [("triage", {"urgent": True})])
    report = collector.report()
    v1, v2 = (p for p in report.processes if p.model.process_id == "review")
    assert (v1.versions, v2.versions) == ((1,), (2,)) or (v1.versions, v2.versions) == ((2,), (1,))
    first = v1 if v1.versions == (1,) else v2
    second = v2 if first is v1 else v1
    assert (first.nodes_covered, first.flows_covered, first.percent) == (9, 9, 72.0)
    assert (second.nodes_covered, second.flows_covered) == (4, 3)
    assert first.node_hits["triage"] == 2 and first.flow_hits["f11"] == 2
    assert "f3" not in first.flow_hits and second.flow_hits["f3"] == 1
    assert first.label.startswith("review (review.bpmn ") and first.label.endswith(", v1)")


def test_collector_credits_called_processes_to_their_own_file(
    tf_make_engine: Callable[..., Engine], tmp_path: FilePath, collector: CoverageCollector
) -> None:
    (tmp_path / "caller.bpmn").write_text(CALLER_BPMN, encoding="utf-8")
    (tmp_path / "callee.bpmn").write_text(CALLEE_BPMN, encoding="utf-8")
    engine = tf_make_engine(deploy=[tmp_path])
    ticket = engine.open_ticket("caller", customer="C-1", channel="web")
    assert_waiting_at(ticket, "s_work")
    caller = only(collector.report(), "caller")
    callee = only(collector.report(), "callee")
    # The call activity runs while its process waits at s_work.
    assert hits(caller, "elements") == {"c_start": 1, "c_call": 1, "c_end": 0}
    assert hits(caller, "sequence_flows") == {"c1": 1, "c2": 0}
    assert hits(callee, "elements") == {"s_start": 1, "s_work": 1, "s_end": 0}
    drive(engine, ticket, ["s_work"])
    caller = only(collector.report(), "caller")
    callee = only(collector.report(), "callee")
    assert (caller["nodes"], caller["flows"]) == (
        {"covered": 3, "total": 3},
        {"covered": 2, "total": 2},
    )
    assert (callee["nodes"], callee["flows"]) == (
        {"covered": 3, "total": 3},
        {"covered": 2, "total": 2},
    )
    assert collector.report().unmatched == 0
    assert "has no diagram information" in render_html(collector.report())


def test_collector_credits_embedded_sub_processes_to_their_process(
    tf_make_engine: Callable[..., Engine], tmp_path: FilePath, collector: CoverageCollector
) -> None:
    (tmp_path / "embedding.bpmn").write_text(EMBEDDING_BPMN, encoding="utf-8")
    engine = tf_make_engine(deploy=[tmp_path])
    ticket = engine.open_ticket("embedding", customer="C-1", channel="web")
    entry = only(collector.report(), "embedding")
    assert hits(entry, "elements") == {
        "e_start": 1, "e_sub": 1, "i_start": 1, "i_work": 1, "i_end": 0, "e_end": 0
    }  # fmt: skip
    assert hits(entry, "sequence_flows") == {"e1": 1, "i1": 1, "i2": 0, "e2": 0}
    assert_ended_at(drive(engine, ticket, ["i_work"]), "e_end")
    entry = only(collector.report(), "embedding")
    assert (entry["nodes"], entry["flows"], entry["percent"]) == (
        {"covered": 6, "total": 6}, {"covered": 4, "total": 4}, 100.0
    )  # fmt: skip


def test_terminal_table_lines_up_wide_names(
    collector: CoverageCollector, review_file: FilePath
) -> None:
    collector.add_paths([review_file])
    lines = terminal_lines(collector.report())
    assert lines == [
        "process      nodes      flows   cover",
        "review        0/13       0/12    0.0%",
        "-" * 39,
        "TOTAL         0/13       0/12    0.0%",
    ]


# --------------------------------------------------------------------------- the plugin

INNER_TESTS = """
from ticketflow.testing import Path, assert_ended_at, assert_waiting_at, drive

def test_happy(tf_engine, tf_users):
    desk = tf_users.member("amy", "desk")
    ticket = tf_engine.open_ticket("review", customer="C-1", channel="web")
    ticket = Path().complete("triage", {"urgent": False}, desk).complete("check").timer("wait").run(tf_engine, ticket)
    assert_ended_at(ticket, "end_done")

def test_urgent(tf_engine):
    ticket = tf_engine.open_ticket("review", customer="C-2", channel="web")
    ticket = drive(tf_engine, ticket, [("triage", {"urgent": True})])
    assert_waiting_at(ticket, "escalate")
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    (pytester.path / "processes").mkdir()
    (pytester.path / "processes" / "review.bpmn").write_text(REVIEW_BPMN, encoding="utf-8")
    pytester.makeini("[pytest]\n")
    return pytester


def test_fixtures_give_an_engine_on_the_clock_with_the_processes(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        from ticketflow import FixedClock, hookimpl

        def test_engine(tf_engine, tf_clock, tf_processes, tf_database_url):
            assert isinstance(tf_clock, FixedClock) and tf_engine.clock is tf_clock
            assert tf_processes.name == "processes"
            assert [d.process_id for d in tf_engine.definitions()] == ["review"]
            assert tf_database_url.startswith(("sqlite:///", "postgresql"))

        class Recorder:
            def __init__(self):
                self.created = []

            @hookimpl
            def ticketflow_task_created(self, ctx, ticket, task):
                self.created.append(task.element_id)

        def test_factory_with_plugins(tf_make_engine, tf_processes):
            recorder = Recorder()
            engine = tf_make_engine(plugins=[recorder])
            engine.open_ticket("review", customer="C-1", channel="web")
            assert recorder.created == ["triage"]
            # Engines of one test share its database, like restarts.
            again = tf_make_engine(deploy=False)
            assert again.ticket(engine.tickets().items[0].number).open_tasks[0].element_id == "triage"
            tf_make_engine(deploy=[tf_processes / "review.bpmn"])
            assert [d.version for d in again.definitions()] == [1]  # unchanged file, same version
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(passed=2)
    assert "ticketflow BPMN coverage" not in result.stdout.str()
    assert not (suite.path / "tf-coverage").exists()


def test_processes_folder_comes_from_the_option_or_the_ini(suite: pytest.Pytester) -> None:
    (suite.path / "processes").rename(suite.path / "flows")
    suite.makepyfile(
        """
        def test_deployed(tf_engine):
            assert [d.process_id for d in tf_engine.definitions()] == ["review"]
        """
    )
    missing = suite.runpytest()
    missing.assert_outcomes(errors=1)
    missing.stdout.fnmatch_lines(
        ["*ticketflow processes folder */processes does not exist; set --tf-processes or the "
         "tf_processes ini option, or pass deploy=False / deploy=[[]paths[]]*"]
    )  # fmt: skip
    suite.runpytest("--tf-processes", "flows").assert_outcomes(passed=1)
    suite.makeini("[pytest]\ntf_processes = flows\n")
    suite.runpytest().assert_outcomes(passed=1)


def test_coverage_report_counts_what_the_suite_exercised(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_review=INNER_TESTS)
    result = suite.runpytest("--tf-coverage", "--tf-coverage-dir", "cov")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*-- ticketflow BPMN coverage --*",
            "process      nodes      flows   cover",
            "review       10/13      10/12   80.0%",
            "---------------------------------------",
            "TOTAL        10/13      10/12   80.0%",
            f"JSON: {suite.path / 'cov' / 'coverage.json'}  HTML: {suite.path / 'cov' / 'index.html'}",
        ]
    )
    data = json.loads((suite.path / "cov" / "coverage.json").read_text(encoding="utf-8"))
    assert data["format"] == 1
    assert data["totals"] == {
        "nodes": {"covered": 10, "total": 13},
        "flows": {"covered": 10, "total": 12},
        "percent": 80.0,
    }
    [entry] = data["processes"]
    assert entry["process_id"] == "review" and entry["versions"] == [1]
    assert hits(entry, "elements") == {
        "start": 2, "triage": 2, "gw_urgent": 2, "escalate": 1, "end_escalated": 0,
        "split": 1, "check": 1, "note": 1, "join": 1, "wait": 1, "end_done": 1,
        "remind": 0, "end_timeout": 0,
    }  # fmt: skip
    assert hits(entry, "sequence_flows") == {
        "f1": 2, "f2": 2, "f3": 1, "f4": 0, "f5": 1, "f6": 1, "f7": 1, "f8": 1, "f9": 1,
        "f10": 1, "f11": 1, "f12": 0,
    }  # fmt: skip
    html = (suite.path / "cov" / "index.html").read_text(encoding="utf-8")
    assert "<td>10/13</td><td>10/12</td>" in html
    assert '<tr class="miss"><td><code>end_escalated</code></td>' in html
    assert '<tr class="hit"><td><code>join</code></td>' in html
    assert html.count("<svg") == 1
    # Uncovered flows are drawn red and dashed, covered ones green.
    assert (
        'stroke="#c62828" stroke-width="2" marker-end="url(#arrow-miss)" stroke-dasharray="6 3"><title>f4: 0 hits'
        in html
    )
    assert (
        'stroke="#2e7d32" stroke-width="2" marker-end="url(#arrow-hit)"><title>f11: 1 hits' in html
    )


def test_coverage_lists_processes_no_test_ran(suite: pytest.Pytester) -> None:
    (suite.path / "processes" / "broken.bpmn").write_text("<not-bpmn/>", encoding="utf-8")
    suite.makepyfile("def test_nothing():\n    pass\n")
    result = suite.runpytest("--tf-coverage")
    result.stdout.fnmatch_lines(
        [
            "review        0/13       0/12    0.0%",
            "*",
            "TOTAL         0/13       0/12    0.0%",
            "skipped: */processes/broken.bpmn: *root element is <not-bpmn>, expected <bpmn:definitions>*",
        ]
    )
    assert (suite.path / "tf-coverage" / "index.html").is_file()


def test_the_documented_example_passes(pytester: pytest.Pytester) -> None:
    doc = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    code = re.search(r"## A first process test\n\n```python\n(.*?)```", doc, re.S)
    assert code is not None
    pytester.makeini(f"[pytest]\ntf_processes = {ROOT / 'processes'}\n")
    pytester.makepyfile(test_doc=code.group(1))
    pytester.runpytest().assert_outcomes(passed=2)
