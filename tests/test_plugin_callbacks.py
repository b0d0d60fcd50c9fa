"""Callback planning (回访) by intake channel and customer tier, and acting on the result.

Unit tests call the hook methods with hand-made views and a small fake engine; the
integration tests drive the complaint flow through the real engine.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import ticketflow
from ticketflow import Engine, FixedClock, PermissionDeniedError, User
from ticketflow.hooks.types import (
    CallbackPlan,
    CustomerInfo,
    HookContext,
    Notification,
    TaskProposal,
)
from ticketflow.plugins.callbacks import (
    DEFAULT_PLAN,
    CallbackPlanner,
    CallbackRule,
    customer_contact,
)
from ticketflow.plugins.scoring import PieceRateScoring
from ticketflow.views import Page, TaskView, TicketView

from .conftest import PROCESSES, Staff
from .journeys import callback, open_complaint, resolve_and_reply, to_handling

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
NUMBER = "TS-20260105-000001"

# --------------------------------------------------------------------------- fakes


def make_ticket(data: dict[str, Any] | None = None, **kw: Any) -> TicketView:
    fields: dict[str, Any] = {
        "id": 1, "number": NUMBER, "process_id": "complaint", "definition_version": 1,
        "status": "open", "customer_id": "C-1", "customer_tier": None, "channel": "hotline",
        "priority": 50, "region": None, "subject": None, "business_key": None,
        "data": data or {}, "opened_by": None, "opened_at": T0, "updated_at": T0,
        "closed_at": None, "end_element": None,
    }  # fmt: skip
    fields.update(kw)
    return TicketView(**fields)


def make_task(id: int, element: str = "callback", state: str = "completed") -> TaskView:
    return TaskView(
        id=id, ticket_number=NUMBER, process_id="complaint", element_id=element, name=element,
        state=state, candidate_groups=("callback_agent",), assignee=None, priority=50,
        region=None, created_at=T0, due_at=None, claimed_at=None, completed_at=T0,
        completed_by="chen.jing", form_data={},
    )  # fmt: skip


PROPOSAL = TaskProposal(
    ticket_number=NUMBER, process_id="complaint", element_id="callback", name="回访 Callback",
    lane="callback_agent", candidate_groups=("callback_agent",), assignee=None, region=None,
    priority=50, data={},
)  # fmt: skip


class FakeEngine:
    def __init__(self, tasks: list[TaskView]) -> None:
        self._tasks = tasks

    def tasks(self, *, state: str | None = "open", limit: int = 50, **_: Any) -> Page[TaskView]:
        found = [t for t in self._tasks if state is None or t.state == state]
        return Page(tuple(found[:limit]), len(found), 0, limit)


def ctx_for(ticket: TicketView, tasks: list[TaskView] | None = None) -> HookContext:
    return HookContext(FakeEngine(tasks or []), None, T0, None, ticket)  # type: ignore[arg-type]


def queued(ctx: HookContext) -> list[tuple[str, str, str | None, str]]:
    """(channel, to, recipient role, key) of each queued notification."""
    return [(p["channel"], p["to"], p["recipient_role"], key) for _, p, key in ctx._outbox]


# --------------------------------------------------------------------------- planning


def plan(ticket: TicketView, planner: CallbackPlanner | None = None) -> tuple[CallbackPlan, Any]:
    ctx = ctx_for(ticket)
    return (planner or CallbackPlanner()).ticketflow_plan_callback(ctx, ticket, PROPOSAL), ctx


@pytest.mark.parametrize("tier", ["vip", "key_account"])
def test_key_customers_get_the_vip_team_within_four_hours(tier: str) -> None:
    result, ctx = plan(make_ticket(customer_tier=tier, channel="sms", data={"phone": "138"}))
    assert result == CallbackPlan(
        "phone", timedelta(hours=4), ("vip_callback",), "VIP callback by phone within 4 hours"
    )
    assert ctx._outbox == []  # the tier rule comes first: no SMS survey


def test_tier_from_the_crm_copy_in_the_data() -> None:
    result, _ = plan(make_ticket({"customer": {"tier": "vip"}}))
    assert result.candidate_groups == ("vip_callback",)


def test_sms_ticket_gets_an_sms_survey_and_a_phone_task_within_a_day() -> None:
    result, ctx = plan(make_ticket({"customer": {"phone": "13800000000"}}, channel="sms"))
    assert (result.channel, result.due_in, result.candidate_groups) == (
        "sms", timedelta(hours=24), None
    )  # fmt: skip
    assert queued(ctx) == [("sms", "13800000000", "customer", "callback-survey:callback:1")]
    body = ctx._outbox[0][1]["body"]
    assert NUMBER in body
    assert "1-5" in body
    assert ctx._outbox[0][1]["ticket_number"] == NUMBER


def test_survey_key_counts_callback_rounds() -> None:
    ticket = make_ticket({"phone": "139"}, channel="sms")
    earlier = [make_task(7), make_task(8, "handle")]
    ctx = ctx_for(ticket, earlier)
    CallbackPlanner().ticketflow_plan_callback(ctx, ticket, PROPOSAL)
    assert queued(ctx) == [("sms", "139", "customer", "callback-survey:callback:2")]


def test_sms_ticket_without_a_phone_number_is_still_planned() -> None:
    result, ctx = plan(make_ticket(channel="sms"))
    assert result.channel == "sms"
    assert result.note is not None
    assert "survey not sent" in result.note
    assert ctx._outbox == []


@pytest.mark.parametrize("channel", ["web", "portal", "email", "app"])
def test_online_tickets_get_an_email_survey(channel: str) -> None:
    result, ctx = plan(make_ticket({"email": "kh@example.com"}, channel=channel))
    assert (result.channel, result.due_in) == ("email", timedelta(hours=48))
    assert queued(ctx) == [("email", "kh@example.com", "customer", "callback-survey:callback:1")]
    assert "Satisfaction survey" in ctx._outbox[0][1]["subject"]


def test_everyone_else_is_phoned_within_a_day() -> None:
    result, ctx = plan(make_ticket({"phone": "138"}, channel="hotline", customer_tier="gold"))
    assert result == CallbackPlan("phone", timedelta(hours=24), None, DEFAULT_PLAN.note)
    assert ctx._outbox == []


def test_rules_and_default_are_configurable() -> None:
    planner = CallbackPlanner(
        rules=[
            CallbackRule("voice", timedelta(hours=2), ("ivr",), processes=("repair",)),
            CallbackRule("phone", None, ("gold_team",), tiers=("gold",), intake=("hotline",)),
        ],
        default=CallbackRule("phone", timedelta(hours=72)),
    )
    assert plan(make_ticket(process_id="repair"), planner)[0].channel == "voice"
    gold = make_ticket(customer_tier="gold")
    assert plan(gold, planner)[0] == CallbackPlan("phone", None, ("gold_team",), None)
    assert plan(make_ticket(customer_tier="vip"), planner)[0].due_in == timedelta(hours=72)
    with pytest.raises(ValueError, match="survey"):
        CallbackRule(survey="fax")
    with pytest.raises(ValueError, match="manager_channel"):
        CallbackPlanner(manager_channel="pigeon")


def test_customer_contact_prefers_the_ticket_data() -> None:
    data = {"phone": "1", "customer": {"phone": "2", "email": "c@x"}}
    assert customer_contact(data, "phone") == "1"
    assert customer_contact(data, "email") == "c@x"
    assert customer_contact({"customer": None}, "phone") is None


# --------------------------------------------------------------------------- results


KEY_ACCOUNT = {"phone": "138", "customer": {"account_manager": "am.liu", "tier": "key_account"}}


def test_unsatisfied_alerts_the_account_manager() -> None:
    ticket = make_ticket(KEY_ACCOUNT)
    ctx = ctx_for(ticket)
    CallbackPlanner().ticketflow_callback_result(
        ctx, ticket, make_task(9), False, {"satisfied": False, "comment": "还是多扣"}
    )
    assert queued(ctx) == [("sms", "am.liu", "account_manager", "callback-unsatisfied:9")]
    payload = ctx._outbox[0][1]
    assert NUMBER in payload["body"]
    assert "还是多扣" in payload["body"]
    assert "C-1" in payload["body"]


def test_unsatisfied_without_an_account_manager_sends_nothing() -> None:
    ticket = make_ticket({"phone": "138"})
    ctx = ctx_for(ticket)
    CallbackPlanner().ticketflow_callback_result(ctx, ticket, make_task(9), False, {})
    assert ctx._outbox == []


def test_satisfied_customer_is_thanked_unless_turned_off() -> None:
    ticket = make_ticket(KEY_ACCOUNT)
    ctx = ctx_for(ticket)
    CallbackPlanner().ticketflow_callback_result(ctx, ticket, make_task(9), True, {})
    assert queued(ctx) == [("sms", "138", "customer", "callback-thanks:9")]
    ctx = ctx_for(ticket)
    CallbackPlanner(thanks=None).ticketflow_callback_result(ctx, ticket, make_task(9), True, {})
    assert ctx._outbox == []


# =========================================================================== integration
# The complaint flow through the real engine (tests/journeys.py drives its steps).

VIP_AGENT = User.of("gao.yan", groups=["vip_callback"])


class Crm:
    """The host's CRM: tier, contact data and account manager of a few customers."""

    def __init__(self) -> None:
        self.customers = {
            "C-VIP": CustomerInfo("C-VIP", "Zhang San", "vip", None, "am.liu", "13900000001"),
            "C-KEY": CustomerInfo("C-KEY", "Acme", "key_account", None, "am.liu", "13900000002"),
            "C-WEB": CustomerInfo("C-WEB", "Li Si", "ordinary", email="lisi@example.com"),
        }

    @ticketflow.hookimpl
    def ticketflow_customer_lookup(self, customer_id: str) -> CustomerInfo | None:
        return self.customers.get(customer_id)


class Recorder:
    """A notify plugin that records what it is asked to deliver."""

    def __init__(self) -> None:
        self.sent: list[Notification] = []

    @ticketflow.hookimpl
    def ticketflow_notify(self, message: Notification) -> bool:
        self.sent.append(message)
        return True


@pytest.fixture
def sent() -> Recorder:
    return Recorder()


@pytest.fixture
def planned(make_engine: Callable[..., Engine], sent: Recorder) -> Engine:
    planned = make_engine(plugins=[Crm(), CallbackPlanner(), PieceRateScoring(), sent])
    planned.deploy(PROCESSES)
    return planned


def to_callback(engine: Engine, clock: FixedClock, **open_kw: Any) -> TicketView:
    ticket = to_handling(engine, open_complaint(engine, **open_kw))
    clock.advance(hours=1)
    return resolve_and_reply(engine, ticket)


def test_vip_hotline_ticket_is_phoned_by_the_vip_team_within_four_hours(
    planned: Engine, clock: FixedClock, sent: Recorder
) -> None:
    ticket = to_callback(planned, clock, customer="C-VIP", channel="hotline")
    assert ticket.customer_tier == "vip"
    task = ticket.task("callback")
    assert task.candidate_groups == ("vip_callback",)
    assert task.due_at == clock.now() + timedelta(hours=4)
    plan = {
        "channel": "phone",
        "due_at": task.due_at.isoformat(),
        "note": "VIP callback by phone within 4 hours",
    }
    assert ticket.data["callback_plan"] == plan
    [created] = [
        e for e in planned.history(ticket.number)
        if e.kind == "task_created" and e.element_id == "callback"
    ]  # fmt: skip
    assert created.details["callback_plan"] == plan
    assert planned.outbox_messages(ticket=ticket.number) == []  # no survey for a phone call
    assert planned.tasks(candidate_groups=["callback_agent"]).total == 0
    with pytest.raises(PermissionDeniedError):
        planned.complete(task.id, Staff.callback, {"satisfied": True})

    ticket = planned.complete(task.id, VIP_AGENT, {"satisfied": True, "score": 95})
    assert ticket.status == "closed"
    assert planned.deliver_outbox().delivered == 1
    [thanks] = sent.sent
    assert (thanks.channel, thanks.to, thanks.recipient_role) == ("sms", "13900000001", "customer")
    assert ticket.number in thanks.body


def test_sms_ticket_survey_is_delivered_and_repeated_after_a_reopen(
    planned: Engine, clock: FixedClock, sent: Recorder
) -> None:
    ticket = to_callback(
        planned, clock, customer="C-2", channel="sms", data={"summary": "x", "phone": "13800000000"}
    )
    task = ticket.task("callback")
    assert task.candidate_groups == ("callback_agent",)
    assert task.due_at == clock.now() + timedelta(hours=24)
    assert ticket.data["callback_plan"]["channel"] == "sms"
    [queued_survey] = planned.outbox_messages(ticket=ticket.number)
    assert queued_survey.state == "pending"
    assert queued_survey.idempotency_key.endswith("callback-survey:callback:1")
    assert sent.sent == []  # nothing leaves before delivery

    assert planned.deliver_outbox().delivered == 1
    [survey] = sent.sent
    assert (survey.channel, survey.to, survey.recipient_role, survey.ticket_number) == (
        "sms", "13800000000", "customer", ticket.number
    )  # fmt: skip
    assert "1-5" in survey.body
    assert survey.idempotency_key == queued_survey.idempotency_key
    assert [m.state for m in planned.outbox_messages(ticket=ticket.number)] == ["delivered"]

    # unsatisfied: the flow reopens it; the next callback round sends a new survey
    ticket = callback(planned, ticket, satisfied=False)
    assert [t.element_id for t in ticket.open_tasks] == ["handle"]
    assert planned.outbox_messages(state="pending", ticket=ticket.number) == []  # no manager
    ticket = resolve_and_reply(planned, ticket)
    [second] = planned.outbox_messages(state="pending", ticket=ticket.number)
    assert second.idempotency_key.endswith("callback-survey:callback:2")


def test_web_ticket_gets_an_email_survey(
    planned: Engine, clock: FixedClock, sent: Recorder
) -> None:
    ticket = to_callback(planned, clock, customer="C-WEB", channel="web")
    assert ticket.task("callback").due_at == clock.now() + timedelta(hours=48)
    assert ticket.data["callback_plan"]["channel"] == "email"
    planned.deliver_outbox()
    [survey] = sent.sent
    assert (survey.channel, survey.to) == ("email", "lisi@example.com")
    assert survey.subject == f"满意度调查 Satisfaction survey: {ticket.number}"


def test_unsatisfied_key_account_reopens_and_alerts_the_account_manager(
    planned: Engine, clock: FixedClock, sent: Recorder
) -> None:
    ticket = to_callback(planned, clock, customer="C-KEY", channel="business_hall")
    first = ticket.task("callback")
    assert first.candidate_groups == ("vip_callback",)
    ticket = planned.complete(
        first.id, VIP_AGENT, {"satisfied": False, "score": 20, "comment": "钱还没退 not refunded"}
    )

    # the flow reopened it ...
    assert ticket.status == "open"
    assert [t.element_id for t in ticket.open_tasks] == ["handle"]
    assert ticket.data["reopen_count"] == 1
    kinds = [e.kind for e in planned.history(ticket.number)]
    assert kinds.index("ticket_reopened") > kinds.index("task_completed")
    # ... and, in the same step, the plugins alerted the account manager and charged
    # the handler for the reopen
    [alert] = planned.outbox_messages(ticket=ticket.number)
    assert alert.payload["to"] == "am.liu"
    assert alert.payload["recipient_role"] == "account_manager"
    assert alert.idempotency_key.endswith(f"callback-unsatisfied:{first.id}")
    assert [(s.staff, s.points, s.kind) for s in planned.scores(ticket=ticket.number)] == [
        ("zhao.lei", -1.0, "deduction")
    ]

    # handled again, the second callback is planned afresh and satisfies the customer
    clock.advance(hours=3)
    ticket = resolve_and_reply(planned, ticket)
    second = ticket.task("callback")
    assert second.due_at == clock.now() + timedelta(hours=4)
    ticket = planned.complete(second.id, VIP_AGENT, {"satisfied": True})
    assert ticket.status == "closed"
    assert planned.points() == {"zhao.lei": 0.4}

    assert planned.deliver_outbox().delivered == 2
    assert [(m.to, m.recipient_role) for m in sent.sent] == [
        ("am.liu", "account_manager"),
        ("13900000002", "customer"),  # thanked
    ]
    assert "钱还没退" in sent.sent[0].body
    assert "C-KEY" in sent.sent[0].body


def test_callback_plan_stays_in_the_ticket_data_after_the_next_step() -> None:
    """Regression: the plan used to vanish from ticket data at the step after it was made."""
    engine = Engine("sqlite://", plugins=[CallbackPlanner()], load_entry_points=False)
    engine.deploy(PROCESSES)
    ticket = callback(
        engine,
        resolve_and_reply(engine, to_handling(engine, open_complaint(engine))),
        satisfied=False,
    )
    assert ticket.data["callback_plan"]["channel"] == "phone"
    assert engine.ticket(ticket.number).data["callback_plan"]["channel"] == "phone"
    engine.close()
