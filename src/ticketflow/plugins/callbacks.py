"""Callback planning (回访): how, when and by whom the customer is called back.

:class:`CallbackPlanner` answers ``ticketflow_plan_callback`` from rules on the intake
channel and the customer's tier, and queues the survey the plan asks for; it reacts to
``ticketflow_callback_result`` by alerting the account manager of an unsatisfied customer
and (optionally) thanking a satisfied one. Reopening an unsatisfied ticket is the flow's
own business (the complaint's ``gw_callback`` → ``reopen`` → ``handle``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ticketflow.hooks.hookspecs import hookimpl
from ticketflow.hooks.types import NOTIFY_CHANNELS, CallbackPlan, HookContext, TaskProposal
from ticketflow.views import TaskView, TicketView

log = logging.getLogger(__name__)

SMS_SURVEY = (
    "【回访】您的工单 {number} 已处理完毕，请回复数字 1-5 评价本次服务"
    "（5 非常满意，1 非常不满意）。"
    " Your ticket {number} has been handled: please reply 1-5 to rate our service"
    " (5 = very satisfied, 1 = very unsatisfied)."
)
EMAIL_SURVEY_SUBJECT = "满意度调查 Satisfaction survey: {number}"
EMAIL_SURVEY = (
    "您好，您的工单 {number} 已处理完毕。请直接回复本邮件，用 1-5 分评价本次服务"
    "（5 非常满意，1 非常不满意），并告诉我们问题是否已解决。\n\n"
    "Hello, your ticket {number} has been handled. Please reply to this e-mail with a rating"
    " from 1 to 5 (5 = very satisfied, 1 = very unsatisfied) and tell us whether the problem"
    " is solved."
)
THANKS = "感谢您对工单 {number} 的评价，祝您生活愉快！ Thank you for rating ticket {number}."
MANAGER_ALERT = (
    "客户 {customer} 对工单 {number} 的回访结果为不满意，已重新处理，请关注。"
    " Customer {customer} was not satisfied with ticket {number} at the callback;"
    " it is being handled again.{comment}"
)


@dataclass(frozen=True)
class CallbackRule:
    """A callback plan for the tickets it matches.

    Matches when the ticket's intake channel is in ``intake``, the customer's tier in
    ``tiers`` and the process in ``processes`` (an empty tuple matches anything).
    ``channel`` is how the customer is contacted (``phone``, ``sms``, ``email``,
    ``voice``); ``due_in`` sets the callback task's due time; ``groups`` replaces its
    candidate groups; ``survey`` (``sms`` / ``email``) also sends the customer a survey
    when the task is created.
    """

    channel: str = "phone"
    due_in: timedelta | None = timedelta(hours=24)
    groups: tuple[str, ...] | None = None
    intake: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()
    processes: tuple[str, ...] = ()
    survey: str | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        if self.survey not in (None, "sms", "email"):
            raise ValueError(f"survey must be 'sms', 'email' or None, got {self.survey!r}")

    def matches(self, process_id: str, intake: str, tier: str | None) -> bool:
        return (
            (not self.intake or intake in self.intake)
            and (not self.tiers or (tier or "") in self.tiers)
            and (not self.processes or process_id in self.processes)
        )


#: Key customers are phoned by the VIP team within 4 hours; SMS tickets get an SMS survey
#: and a phone call within 24 hours; web, portal, app and e-mail tickets an e-mail survey.
DEFAULT_RULES: tuple[CallbackRule, ...] = (
    CallbackRule(
        "phone",
        timedelta(hours=4),
        ("vip_callback",),
        tiers=("vip", "key_account"),
        note="VIP callback by phone within 4 hours",
    ),
    CallbackRule(
        "sms",
        timedelta(hours=24),
        intake=("sms",),
        survey="sms",
        note="SMS survey sent; phone the customer within 24 hours",
    ),
    CallbackRule(
        "email",
        timedelta(hours=48),
        intake=("web", "portal", "app", "email"),
        survey="email",
        note="e-mail survey sent; record the answer within 48 hours",
    ),
)
#: Everyone else: a phone callback within 24 hours.
DEFAULT_PLAN = CallbackRule("phone", timedelta(hours=24), note="phone callback within 24 hours")


def customer_contact(data: Mapping[str, Any], key: str) -> str | None:
    """``data[key]`` or ``data["customer"][key]`` (the CRM lookup's copy), if non-empty."""
    value = data.get(key)
    customer = data.get("customer")
    if not value and isinstance(customer, Mapping):
        value = customer.get(key)
    return str(value) if value else None


def customer_tier(ticket: TicketView) -> str | None:
    tier = ticket.customer_tier
    customer = ticket.data.get("customer")
    if not tier and isinstance(customer, Mapping):
        tier = customer.get("tier")
    return str(tier) if tier else None


class CallbackPlanner:
    """Plans callbacks by intake channel and customer tier, and acts on their results.

    ``rules`` are tried in order (default :data:`DEFAULT_RULES`); ``default`` applies when
    none matches. A rule with a survey queues it to the customer (phone number from the
    ticket data's ``phone`` or ``customer.phone``, address from ``email`` /
    ``customer.email``); without an address the plan's note says so and the task remains.

    On the result: an unsatisfied customer's account manager (``customer.account_manager``
    or ``account_manager`` in the ticket data) is alerted on ``manager_channel``; a
    satisfied customer is thanked by SMS unless ``thanks`` is None.
    """

    def __init__(
        self,
        rules: Sequence[CallbackRule] = DEFAULT_RULES,
        default: CallbackRule = DEFAULT_PLAN,
        *,
        sms_survey: str = SMS_SURVEY,
        email_survey: str = EMAIL_SURVEY,
        email_subject: str = EMAIL_SURVEY_SUBJECT,
        thanks: str | None = THANKS,
        manager_alert: str = MANAGER_ALERT,
        manager_channel: str = "sms",
    ) -> None:
        if manager_channel not in NOTIFY_CHANNELS:
            raise ValueError(f"manager_channel must be one of {NOTIFY_CHANNELS}")
        self.rules = tuple(rules)
        self.default = default
        self.sms_survey = sms_survey
        self.email_survey = email_survey
        self.email_subject = email_subject
        self.thanks = thanks
        self.manager_alert = manager_alert
        self.manager_channel = manager_channel

    def rule_for(self, ticket: TicketView) -> CallbackRule:
        tier = customer_tier(ticket)
        for rule in self.rules:
            if rule.matches(ticket.process_id, ticket.channel, tier):
                return rule
        return self.default

    @hookimpl
    def ticketflow_plan_callback(
        self, ctx: HookContext, ticket: TicketView, proposal: TaskProposal
    ) -> CallbackPlan:
        rule = self.rule_for(ticket)
        note = rule.note
        if rule.survey is not None:
            data = {**ticket.data, **proposal.data}
            sent = self._survey(ctx, ticket, proposal, rule.survey, data)
            if not sent:
                note = f"{note + '; ' if note else ''}no {rule.survey} address: survey not sent"
        return CallbackPlan(rule.channel, rule.due_in, rule.groups, note)

    def _survey(
        self,
        ctx: HookContext,
        ticket: TicketView,
        proposal: TaskProposal,
        channel: str,
        data: Mapping[str, Any],
    ) -> bool:
        to = customer_contact(data, "phone" if channel == "sms" else "email")
        if to is None:
            log.info("ticket %s: no %s address for the callback survey", ticket.number, channel)
            return False
        # one survey per callback round: the n-th task at this element gets key n
        earlier = ctx.engine.tasks(
            ticket=ticket.number, state=None, limit=1000, session=ctx.session
        )
        n = 1 + sum(1 for t in earlier.items if t.element_id == proposal.element_id)
        key = f"callback-survey:{proposal.element_id}:{n}"
        if channel == "sms":
            ctx.notify(
                "sms",
                to,
                self.sms_survey.format(number=ticket.number),
                recipient_role="customer",
                key=key,
            )
        else:
            ctx.notify(
                "email",
                to,
                self.email_survey.format(number=ticket.number),
                subject=self.email_subject.format(number=ticket.number),
                recipient_role="customer",
                key=key,
            )
        return True

    @hookimpl
    def ticketflow_callback_result(
        self,
        ctx: HookContext,
        ticket: TicketView,
        task: TaskView,
        satisfied: bool,
        data: Mapping[str, Any],
    ) -> None:
        if satisfied:
            phone = customer_contact(ticket.data, "phone")
            if self.thanks is not None and phone:
                ctx.notify(
                    "sms",
                    phone,
                    self.thanks.format(number=ticket.number),
                    recipient_role="customer",
                    key=f"callback-thanks:{task.id}",
                )
            return
        manager = customer_contact(ticket.data, "account_manager")
        if manager is None:
            log.info("ticket %s: unsatisfied callback, no account manager", ticket.number)
            return
        comment = data.get("comment")
        body = self.manager_alert.format(
            customer=ticket.customer_id,
            number=ticket.number,
            comment=f" ({comment})" if comment else "",
        )
        ctx.notify(
            self.manager_channel,
            manager,
            body,
            subject=f"回访不满意 Unsatisfied callback: {ticket.number}",
            recipient_role="account_manager",
            key=f"callback-unsatisfied:{task.id}",
        )
        log.info("ticket %s: unsatisfied callback reported to %s", ticket.number, manager)
