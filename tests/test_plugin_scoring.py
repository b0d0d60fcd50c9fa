"""Piece-rate scoring (计件) and internal evaluation (工单考评).

Unit tests call the hook methods with hand-made views and a small fake engine; the
integration tests drive the complaint flow through the real engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from ticketflow import Engine, FixedClock, FormValidationError, User
from ticketflow.hooks.types import HookContext, Score
from ticketflow.plugins.scoring import (
    DEFAULT_COEFFICIENTS,
    InternalEvaluation,
    PieceRateScoring,
    default_type_of,
    recompute_coefficients,
)
from ticketflow.views import Page, TaskView, TicketView

from .bpmn_samples import HEADER
from .conftest import PROCESSES, Staff
from .journeys import callback, open_complaint, resolve_and_reply

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)

# --------------------------------------------------------------------------- fakes


def make_ticket(data: dict[str, Any] | None = None, **kw: Any) -> TicketView:
    fields: dict[str, Any] = {
        "id": 1, "number": "TS-20260105-000001", "process_id": "complaint",
        "definition_version": 1, "status": "open", "customer_id": "C-1",
        "customer_tier": None, "channel": "hotline", "priority": 50, "region": None,
        "subject": None, "business_key": None, "data": data or {}, "opened_by": None,
        "opened_at": T0, "updated_at": T0, "closed_at": None, "end_element": None,
    }  # fmt: skip
    fields.update(kw)
    return TicketView(**fields)


def make_task(
    id: int, element: str, by: str | None, form: dict[str, Any] | None = None, minutes: int = 0
) -> TaskView:
    at = T0 + timedelta(minutes=minutes or id)
    return TaskView(
        id=id, ticket_number="TS-20260105-000001", process_id="complaint", element_id=element,
        name=element, state="completed", candidate_groups=(), assignee=by, priority=50,
        region=None, created_at=at, due_at=None, claimed_at=at, completed_at=at,
        completed_by=by, form_data=form or {},
    )  # fmt: skip


class FakeEngine:
    """Answers ``tasks(ticket=..., state=...)`` from a list, like the real worklist query."""

    def __init__(self, tasks: list[TaskView]) -> None:
        self._tasks = tasks

    def tasks(
        self, *, ticket: str | None = None, state: str | None = "open", offset: int = 0,
        limit: int = 50, **_: Any,
    ) -> Page[TaskView]:  # fmt: skip
        found = [t for t in self._tasks if state is None or t.state == state]
        found.sort(key=lambda t: t.id)
        return Page(tuple(found[offset : offset + limit]), len(found), offset, limit)


def ctx_for(tasks: list[TaskView], ticket: TicketView | None = None) -> HookContext:
    return HookContext(FakeEngine(tasks), None, T0, None, ticket)  # type: ignore[arg-type]


BILLING = {"category_l1": "计费 billing", "outcome": "resolved"}
COMPLAINT_TASKS = [
    make_task(1, "front_desk", "li.na", {"resolved": False}),
    make_task(2, "record", "li.na"),
    make_task(3, "classify", "wang.wei"),
    make_task(4, "dispatch", "wang.wei", {"department": "dept_billing"}),
    make_task(5, "handle", "zhao.lei", {"outcome": "resolved"}),
    make_task(6, "reply", "zhao.lei"),
    make_task(7, "callback", "chen.jing", {"satisfied": True}),
]


# --------------------------------------------------------------------------- types


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        ({}, "ordinary"),
        ({"category_l1": "服务 service"}, "ordinary"),
        ({"category_l1": "计费 billing"}, "billing"),
        ({"category_l1": "Billing"}, "billing"),
        ({"category_l1": "业务办理 business"}, "business"),
        ({"category_l1": "宽带 broadband"}, "broadband"),
        ({"category_l1": "网络弱覆盖"}, "broadband"),
        ({"category_l1": "weak coverage"}, "broadband"),
        ({"category_l1": "宽带业务"}, "broadband"),  # the more specific type wins
        ({"category_l1": "计费 billing", "outcome": "escalate"}, "difficult"),
        # after the difficult review the outcome is still 'escalate'; its level stays too
        (
            {"category_l1": "计费", "outcome": "resolved", "escalation_level": "company"},
            "difficult",
        ),
    ],
)
def test_default_type_of(data: dict[str, Any], kind: str) -> None:
    assert default_type_of(make_ticket(data)) == kind


def test_coefficients_default_and_configurable() -> None:
    scoring = PieceRateScoring()
    assert scoring.coefficients == {
        "ordinary": 1.0, "business": 1.2, "billing": 1.4, "broadband": 1.6, "difficult": 1.8
    }  # fmt: skip
    assert scoring.coefficient(make_ticket(BILLING)) == ("billing", 1.4)
    custom = PieceRateScoring({**DEFAULT_COEFFICIENTS, "billing": 2.0}, type_of=lambda t: "vip")
    assert custom.coefficient(make_ticket(BILLING)) == ("vip", 1.0)  # unknown type: 1.0
    assert PieceRateScoring({"billing": 2.0}).coefficient(make_ticket(BILLING)) == ("billing", 2.0)


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="per must be"):
        PieceRateScoring(per="shift")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="charge_returns_to"):
        PieceRateScoring(charge_returns_to="nobody")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- per ticket


def test_closed_ticket_pays_the_last_handler() -> None:
    ticket = make_ticket(BILLING, status="closed")
    scores = PieceRateScoring().ticketflow_score(ctx_for(COMPLAINT_TASKS), ticket, None)
    assert scores == [Score("zhao.lei", 1.4, "piece", "billing ticket × 1.4")]


def test_per_ticket_mode_pays_nothing_per_task() -> None:
    ticket = make_ticket(BILLING)
    assert PieceRateScoring().ticketflow_score(ctx_for([]), ticket, COMPLAINT_TASKS[4]) == []


def test_front_desk_resolution_pays_the_agent() -> None:
    tasks = [make_task(1, "front_desk", "li.na", {"resolved": True})]
    [score] = PieceRateScoring().ticketflow_score(ctx_for(tasks), make_ticket({}), None)
    assert (score.staff, score.points) == ("li.na", 1.0)


def test_difficult_review_earns_the_difficult_coefficient() -> None:
    tasks = [
        *COMPLAINT_TASKS[:4],
        make_task(5, "handle", "zhao.lei", {"outcome": "escalate"}),
        make_task(6, "difficult_review", "hard.case", {"escalation_level": "company"}),
        make_task(7, "reply", "zhao.lei"),
    ]
    ticket = make_ticket({**BILLING, "outcome": "escalate", "escalation_level": "company"})
    [score] = PieceRateScoring().ticketflow_score(ctx_for(tasks), ticket, None)
    assert (score.staff, score.points) == ("hard.case", 1.8)


def test_unknown_flow_falls_back_to_the_last_completed_task() -> None:
    tasks = [make_task(1, "triage", "a"), make_task(2, "fix", "b")]
    [score] = PieceRateScoring().ticketflow_score(ctx_for(tasks), make_ticket({}), None)
    assert score.staff == "b"
    scoring = PieceRateScoring(handling_elements=("triage",))
    assert scoring.ticketflow_score(ctx_for(tasks), make_ticket({}), None)[0].staff == "a"
    assert PieceRateScoring().ticketflow_score(ctx_for([]), make_ticket({}), None) == []


def test_processes_limit_what_is_scored() -> None:
    scoring = PieceRateScoring(processes=("service_request",))
    assert scoring.ticketflow_score(ctx_for(COMPLAINT_TASKS), make_ticket(BILLING), None) == []


# --------------------------------------------------------------------------- per task


def test_per_task_pays_every_completer_with_element_weights() -> None:
    scoring = PieceRateScoring(per="task", task_weights={"handle": 2.0, "callback": 0})
    ticket = make_ticket(BILLING)
    ctx = ctx_for(COMPLAINT_TASKS)
    by_element = {t.element_id: scoring.ticketflow_score(ctx, ticket, t) for t in COMPLAINT_TASKS}
    assert by_element["handle"] == [
        Score("zhao.lei", 2.8, "piece", "handle: billing × 1.4 × weight 2")
    ]
    assert [s.points for s in by_element["classify"]] == [1.4]
    assert by_element["callback"] == []  # weight 0: no score
    assert scoring.ticketflow_score(ctx, ticket, None) == []  # nothing more on closing


# --------------------------------------------------------------------------- deductions


def test_return_to_dispatch_deducts_from_the_handler() -> None:
    returned = make_task(5, "handle", "zhao.lei", {"outcome": "return"})
    tasks = [*COMPLAINT_TASKS[:4], returned]
    scores = PieceRateScoring().ticketflow_score(ctx_for(tasks), make_ticket(BILLING), returned)
    assert scores == [Score("zhao.lei", -0.5, "deduction", "handle returned to dispatch (return)")]


def test_return_can_be_charged_to_the_dispatcher_or_switched_off() -> None:
    returned = make_task(5, "handle", "zhao.lei", {"outcome": "return"})
    ctx = ctx_for([*COMPLAINT_TASKS[:4], returned])
    scoring = PieceRateScoring(charge_returns_to="dispatcher", return_deduction=2)
    [score] = scoring.ticketflow_score(ctx, make_ticket(BILLING), returned)
    assert (score.staff, score.points, score.kind) == ("wang.wei", -2.0, "deduction")
    off = PieceRateScoring(return_deduction=0)
    assert off.ticketflow_score(ctx, make_ticket(BILLING), returned) == []


def test_service_request_partly_resolved_counts_as_a_return() -> None:
    task = replace(
        make_task(3, "handle_request", "eng.wu", {"outcome": "partly"}),
        process_id="service_request",
    )
    ticket = make_ticket({}, process_id="service_request")
    [score] = PieceRateScoring().ticketflow_score(ctx_for([task]), ticket, task)
    assert (score.staff, score.points) == ("eng.wu", -0.5)
    resolved = replace(task, form_data={"outcome": "resolved"})
    assert PieceRateScoring().ticketflow_score(ctx_for([resolved]), ticket, resolved) == []


def test_reopen_deducts_from_the_last_handler() -> None:
    ctx = ctx_for(COMPLAINT_TASKS)
    PieceRateScoring(reopen_deduction=1.5).ticketflow_ticket_reopened(
        ctx, make_ticket(BILLING), "reopen"
    )
    assert ctx._scores == [(Score("zhao.lei", -1.5, "deduction", "reopened at reopen"), None)]
    ctx = ctx_for(COMPLAINT_TASKS)
    PieceRateScoring(reopen_deduction=0).ticketflow_ticket_reopened(
        ctx, make_ticket(BILLING), "reopen"
    )
    assert ctx._scores == []


# --------------------------------------------------------------------------- evaluation


def test_evaluation_scores_the_upstream_task() -> None:
    rated = make_task(3, "review", "boss", {"upstream_rating": 5})
    tasks = [make_task(1, "draft", "a"), make_task(2, "check", "b"), rated]
    score = InternalEvaluation().ticketflow_score(ctx_for(tasks), make_ticket({}), rated)
    assert score == Score("b", 0.2, "evaluation", "check rated 5/5 by boss at review")


@pytest.mark.parametrize(("rating", "points"), [(1, -0.2), (2, -0.1), (3, 0.0), (4, 0.1)])
def test_evaluation_points_centre_on_three(rating: int, points: float) -> None:
    rated = make_task(2, "review", "boss", {"upstream_rating": rating})
    tasks = [make_task(1, "draft", "a"), rated]
    score = InternalEvaluation().ticketflow_score(ctx_for(tasks), make_ticket({}), rated)
    assert score is not None
    assert score.points == points


def test_evaluation_is_configurable() -> None:
    rated = make_task(2, "review", "boss", {"grade": 5})
    tasks = [make_task(1, "draft", "a"), rated]
    plugin = InternalEvaluation("grade", step=1.0, kind="review")
    score = plugin.ticketflow_score(ctx_for(tasks), make_ticket({}), rated)
    assert score is not None
    assert (score.staff, score.points, score.kind) == ("a", 2.0, "review")


@pytest.mark.parametrize(
    "form",
    [{}, {"upstream_rating": None}, {"upstream_rating": "5"}, {"upstream_rating": True},
     {"upstream_rating": 0}, {"upstream_rating": 6}],
)  # fmt: skip
def test_evaluation_ignores_missing_or_invalid_ratings(form: dict[str, Any]) -> None:
    rated = make_task(2, "review", "boss", form)
    tasks = [make_task(1, "draft", "a"), rated]
    assert InternalEvaluation().ticketflow_score(ctx_for(tasks), make_ticket({}), rated) is None


def test_evaluation_needs_another_person_upstream() -> None:
    alone = make_task(1, "review", "boss", {"upstream_rating": 5})
    assert InternalEvaluation().ticketflow_score(ctx_for([alone]), make_ticket({}), alone) is None
    own = make_task(2, "review", "a", {"upstream_rating": 5})
    tasks = [make_task(1, "draft", "a"), own]
    assert InternalEvaluation().ticketflow_score(ctx_for(tasks), make_ticket({}), own) is None
    ticket = make_ticket({})
    assert InternalEvaluation().ticketflow_score(ctx_for(tasks), ticket, None) is None


# =========================================================================== integration
# The complaint flow through the real engine (tests/journeys.py drives its steps).

DIFFICULT = User.of("hu.jun", groups=["difficult_team"])
BUSINESS = User.of("qian.yu", groups=["dept_business"])


def classified(engine: Engine, category: str, department: str, **open_kw: Any) -> TicketView:
    """Open a complaint the front desk cannot solve; classify it as ``category``."""
    ticket = open_complaint(engine, **open_kw)
    ticket = engine.complete(ticket.task("front_desk").id, Staff.agent, {"resolved": False})
    ticket = engine.complete(
        ticket.task("record").id, Staff.agent, {"description": "投诉", "urgency": "normal"}
    )
    ticket = engine.complete(
        ticket.task("classify").id,
        Staff.back_office,
        {"category_l1": category, "category_l2": "-", "category_l3": "-"},
    )
    return engine.complete(
        ticket.task("dispatch").id, Staff.back_office, {"department": department}
    )


def closed(engine: Engine, ticket: TicketView, handler: User) -> TicketView:
    ticket = resolve_and_reply(engine, ticket, handler)
    return callback(engine, ticket, satisfied=True)


@pytest.fixture
def scored(make_engine: Callable[..., Engine]) -> Engine:
    engine = make_engine(plugins=[PieceRateScoring()])
    engine.deploy(PROCESSES)
    return engine


def test_points_per_staff_member_by_ticket_type(scored: Engine) -> None:
    billing = closed(scored, classified(scored, "计费 billing", "dept_billing"), Staff.billing)
    broadband = closed(scored, classified(scored, "宽带 broadband", "dept_network"), Staff.network)
    business = closed(scored, classified(scored, "业务办理 business", "dept_business"), BUSINESS)
    again = closed(scored, classified(scored, "计费 billing", "dept_billing"), Staff.billing)
    front = open_complaint(scored)
    front = scored.complete(front.task("front_desk").id, Staff.agent, {"resolved": True})
    hard = classified(scored, "计费 billing", "dept_billing")
    hard = scored.complete(hard.task("handle").id, Staff.billing, {"outcome": "escalate"})
    hard = scored.complete(
        hard.task("difficult_review").id,
        DIFFICULT,
        {"resolution": "赔付 compensate", "escalation_level": "company"},
    )
    hard = scored.complete(hard.task("reply").id, Staff.billing, {"reply": "已处理"})
    hard = callback(scored, hard, satisfied=True)
    assert {t.status for t in (billing, broadband, business, again, front, hard)} == {"closed"}

    assert scored.points() == {
        "zhao.lei": 2.8,  # two billing tickets × 1.4
        "sun.li": 1.6,  # broadband
        "qian.yu": 1.2,  # business
        "li.na": 1.0,  # solved at the front desk: ordinary
        "hu.jun": 1.8,  # the difficult-complaint review closed the escalated one
    }
    [piece] = scored.scores(ticket=hard.number)
    assert (piece.staff, piece.kind, piece.task_id, piece.note) == (
        "hu.jun", "piece", None, "difficult ticket × 1.8"
    )  # fmt: skip
    # nobody else earned anything on the way: recorders, dispatchers and callback agents
    assert not scored.scores(staff=Staff.callback.id)
    assert not scored.scores(staff=Staff.back_office.id)


def test_return_and_reopen_deduct_from_the_handler(scored: Engine, clock: FixedClock) -> None:
    ticket = classified(scored, "计费 billing", "dept_network")
    ticket = scored.complete(
        ticket.task("handle").id,
        Staff.network,
        {"outcome": "return", "result": "不归我们 not ours"},
    )
    ticket = scored.complete(
        ticket.task("dispatch").id, Staff.back_office, {"department": "dept_billing"}
    )
    ticket = resolve_and_reply(scored, ticket, Staff.billing)
    clock.advance(hours=2)
    ticket = callback(scored, ticket, satisfied=False)
    # the flow reopens it: handling again, counted, with a reopened event in the history
    assert ticket.status == "open"
    assert [t.element_id for t in ticket.open_tasks] == ["handle"]
    assert ticket.data["reopen_count"] == 1
    assert "ticket_reopened" in [e.kind for e in scored.history(ticket.number)]
    ticket = closed(scored, ticket, Staff.billing)
    assert ticket.status == "closed"

    assert [(s.staff, s.points, s.kind) for s in scored.scores(ticket=ticket.number)] == [
        ("sun.li", -0.5, "deduction"),  # returned to dispatch
        ("zhao.lei", -1.0, "deduction"),  # reopened after the unsatisfied callback
        ("zhao.lei", 1.4, "piece"),  # the billing ticket, finally closed
    ]
    assert scored.points() == {"sun.li": -0.5, "zhao.lei": 0.4}
    returned = scored.scores(staff="sun.li")[0]
    assert (
        returned.task_id
        == scored.tasks(ticket=ticket.number, state="completed", order_by="id").items[4].id
    )  # the handle task that gave it back
    assert scored.points(since=clock.now()) == {"zhao.lei": 0.4}


def test_per_task_mode_through_the_engine(make_engine: Callable[..., Engine]) -> None:
    engine = make_engine(
        plugins=[PieceRateScoring(per="task", task_weights={"handle": 3.0, "callback": 0.5})]
    )
    engine.deploy(PROCESSES)
    ticket = closed(engine, classified(engine, "计费 billing", "dept_billing"), Staff.billing)
    assert ticket.status == "closed"
    by_task = [(s.staff, s.points) for s in engine.scores()]
    assert by_task == [
        ("li.na", 1.0),  # front desk: not classified yet, ordinary
        ("li.na", 1.0),  # record
        ("wang.wei", 1.4),  # classify: the ticket is a billing one from now on
        ("wang.wei", 1.4),  # dispatch
        ("zhao.lei", 4.2),  # handle: 1.4 × 3
        ("zhao.lei", 1.4),  # reply
        ("chen.jing", 0.7),  # callback: 1.4 × 0.5
    ]
    assert all(s.task_id is not None for s in engine.scores())


def test_recompute_coefficients_from_history(
    make_engine: Callable[..., Engine], clock: FixedClock
) -> None:
    engine = make_engine()
    engine.deploy(PROCESSES)
    old = open_complaint(engine)  # before the period: left out
    clock.advance(hours=50)
    engine.complete(old.task("front_desk").id, Staff.agent, {"resolved": True})
    since = clock.now()
    for _ in range(2):  # billing tickets take 4 hours
        ticket = classified(engine, "计费 billing", "dept_billing")
        ticket = resolve_and_reply(engine, ticket)
        clock.advance(hours=4)
        callback(engine, ticket, satisfied=True)
    for _ in range(4):  # ordinary ones 1 hour, at the front desk
        ticket = open_complaint(engine)
        clock.advance(hours=1)
        engine.complete(ticket.task("front_desk").id, Staff.agent, {"resolved": True})
    open_complaint(engine)  # still open: left out
    # overall mean (2×4 + 4×1) / 6 = 2 hours
    assert recompute_coefficients(engine, since) == {"billing": 2.0, "ordinary": 0.5}
    assert recompute_coefficients(engine, since, lambda t: "all") == {"all": 1.0}
    assert recompute_coefficients(engine, since, process_id="repair") == {}
    # with the old 50-hour ordinary ticket: overall 62 / 7 hours, ordinary 54 / 5
    assert recompute_coefficients(engine) == {"billing": 0.5, "ordinary": 1.2}

    # the new coefficients pay the next ticket
    coefficients = {**DEFAULT_COEFFICIENTS, **recompute_coefficients(engine, since)}
    paid = make_engine(plugins=[PieceRateScoring(coefficients)])
    ticket = classified(paid, "计费 billing", "dept_billing")
    closed(paid, ticket, Staff.billing)
    assert paid.scores(ticket=ticket.number)[0].points == 2.0


# --------------------------------------------------------------------------- evaluation


def rated_process() -> str:
    """start -> draft (writers) -> review (reviewers, rates the draft 1-5) -> end."""
    rating = (
        '<camunda:formField id="upstream_rating" label="Rate the draft" type="long">'
        '<camunda:validation><camunda:constraint name="min" config="1" />'
        '<camunda:constraint name="max" config="5" /></camunda:validation>'
        "</camunda:formField>"
    )
    return (
        HEADER
        + f"""  <bpmn:process id="rated" isExecutable="true">
    <bpmn:laneSet id="ls">
      <bpmn:lane id="writers"><bpmn:flowNodeRef>draft</bpmn:flowNodeRef></bpmn:lane>
      <bpmn:lane id="reviewers"><bpmn:flowNodeRef>review</bpmn:flowNodeRef></bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="draft" name="Draft">
      <bpmn:extensionElements><camunda:formData><camunda:formField id="text" type="string" /></camunda:formData></bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:userTask id="review" name="Review">
      <bpmn:extensionElements><camunda:formData>{rating}</camunda:formData></bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="draft" />
    <bpmn:sequenceFlow id="f2" sourceRef="draft" targetRef="review" />
    <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""
    )


WRITER = User.of("xu.wen", groups=["writers"])
REVIEWER = User.of("lin.shen", groups=["reviewers"])


@pytest.fixture
def rated(make_engine: Callable[..., Engine], tmp_path: Path) -> Engine:
    path = tmp_path / "rated.bpmn"
    path.write_text(rated_process(), encoding="utf-8")
    engine = make_engine(plugins=[InternalEvaluation(), PieceRateScoring(per="task")])
    engine.deploy(path)
    return engine


def test_downstream_step_rates_the_upstream_one(rated: Engine) -> None:
    ticket = rated.open_ticket("rated", customer="C-1", channel="web")
    ticket = rated.complete(ticket.task("draft").id, WRITER, {"text": "v1"})
    review = ticket.task("review")
    ticket = rated.complete(review.id, REVIEWER, {"upstream_rating": 5})
    assert ticket.status == "closed"
    [evaluation] = rated.scores(kind="evaluation")
    assert (evaluation.staff, evaluation.points, evaluation.task_id) == ("xu.wen", 0.2, review.id)
    assert evaluation.note == "draft rated 5/5 by lin.shen at review"
    # the evaluation adds to the piece points of the same people
    assert rated.points() == {"xu.wen": 1.2, "lin.shen": 1.0}


def test_a_poor_rating_costs_and_no_rating_scores_nothing(rated: Engine) -> None:
    for rating in (1, None):
        ticket = rated.open_ticket("rated", customer="C-1", channel="web")
        ticket = rated.complete(ticket.task("draft").id, WRITER, {"text": "v1"})
        form = {} if rating is None else {"upstream_rating": rating}
        rated.complete(ticket.task("review").id, REVIEWER, form)
    assert [(s.staff, s.points) for s in rated.scores(kind="evaluation")] == [("xu.wen", -0.2)]


def test_ratings_outside_one_to_five_are_refused_by_the_form(rated: Engine) -> None:
    ticket = rated.open_ticket("rated", customer="C-1", channel="web")
    ticket = rated.complete(ticket.task("draft").id, WRITER, {"text": "v1"})
    with pytest.raises(FormValidationError, match="at most 5"):
        rated.complete(ticket.task("review").id, REVIEWER, {"upstream_rating": 6})
    assert rated.scores(kind="evaluation") == []
