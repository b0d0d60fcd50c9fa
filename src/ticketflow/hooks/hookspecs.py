"""Hook specifications. A plugin implements any of them with ``@ticketflow.hookimpl``.

Hooks marked *in-transaction* run inside the engine's unit of work and get a
:class:`~ticketflow.hooks.types.HookContext`: they must not talk to other systems
directly; they queue notifications and connector calls with ``ctx.notify`` / ``ctx.call``,
which the outbox delivers after the commit. Delivery hooks (``ticketflow_notify``,
``ticketflow_connector``) run outside any transaction.

``firstresult`` hooks stop at the first plugin that answers (not None); plugins
registered later are asked first, and the built-in defaults are registered first, so a
host plugin always has the first word.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from ticketflow.hooks.types import (
        Assignment,
        CallbackPlan,
        ConnectorCall,
        CustomerInfo,
        HookContext,
        Notification,
        Score,
        TaskProposal,
    )
    from ticketflow.users import User
    from ticketflow.views import TaskView, TicketView

hookspec = pluggy.HookspecMarker("ticketflow")
hookimpl = pluggy.HookimplMarker("ticketflow")


# --- decisions ------------------------------------------------------------------------


@hookspec(firstresult=True)
def ticketflow_authorize(
    user: User, action: str, ticket: TicketView, task: TaskView | None
) -> bool | None:
    """May ``user`` perform ``action`` on ``ticket`` (and ``task``, for task actions)?

    ``action`` is one of ``claim``, ``unclaim``, ``complete``, ``suspend``, ``resume``,
    ``migrate``. Return True to allow, False to deny, None to leave the decision to the
    next plugin. The built-in ``ticketflow.authorize`` plugin answers last and denies
    whatever it cannot confirm.
    """


@hookspec(firstresult=True)
def ticketflow_customer_lookup(customer_id: str) -> CustomerInfo | None:
    """What the CRM/billing system knows of ``customer_id`` (tier, region, account manager).

    Called when a ticket is opened. Values the caller of ``open_ticket`` gave explicitly
    win; the rest fill the ticket (``customer_tier``, ``region``) and its data
    (``customer``). Earlier and open tickets come from ticketflow's own store
    (``Engine.customer_history``). Keep it fast: it runs while the ticket is opened.
    """


@hookspec(firstresult=True)
def ticketflow_dispatch(ctx: HookContext, proposal: TaskProposal) -> Assignment | None:
    """Choose the candidate groups and/or assignee of a task about to be created
    (*in-transaction*). Return None to keep what the BPMN file chose."""


@hookspec(firstresult=True)
def ticketflow_plan_callback(
    ctx: HookContext, ticket: TicketView, proposal: TaskProposal
) -> CallbackPlan | None:
    """Plan the customer callback (回访) of a task marked ``ticketflow.callback`` in BPMN:
    channel, due time, which group calls (*in-transaction*)."""


# --- lifecycle (in-transaction, every plugin is called) -------------------------------


@hookspec
def ticketflow_ticket_opened(ctx: HookContext, ticket: TicketView) -> None:
    """A ticket was opened."""


@hookspec
def ticketflow_task_created(ctx: HookContext, ticket: TicketView, task: TaskView) -> None:
    """A task now waits for people."""


@hookspec
def ticketflow_task_completed(
    ctx: HookContext, ticket: TicketView, task: TaskView, data: Mapping[str, Any]
) -> None:
    """A task was completed with form ``data``; ``ticket`` is the state after the step."""


@hookspec
def ticketflow_callback_result(
    ctx: HookContext, ticket: TicketView, task: TaskView, satisfied: bool, data: Mapping[str, Any]
) -> None:
    """A callback task was completed: was the customer satisfied?"""


@hookspec
def ticketflow_ticket_suspended(ctx: HookContext, ticket: TicketView, reason: str | None) -> None:
    """The ticket was suspended (挂起)."""


@hookspec
def ticketflow_ticket_resumed(ctx: HookContext, ticket: TicketView, reason: str | None) -> None:
    """The ticket was resumed."""


@hookspec
def ticketflow_ticket_reopened(ctx: HookContext, ticket: TicketView, element_id: str) -> None:
    """The flow passed an element marked ``ticketflow.lifecycle = reopened`` (for the
    complaint: an unsatisfied callback sends it back to handling)."""


@hookspec
def ticketflow_ticket_closed(ctx: HookContext, ticket: TicketView) -> None:
    """The ticket reached an end event."""


@hookspec
def ticketflow_sla_event(
    ctx: HookContext, ticket: TicketView, task: TaskView | None, kind: str, level: float | None
) -> None:
    """A time limit event: ``kind`` is ``reminder`` (催办, at ``level`` of the task's limit),
    ``breach`` (the task is overdue and escalated) or ``ticket_breach`` (the ticket is)."""


@hookspec
def ticketflow_score(
    ctx: HookContext, ticket: TicketView, task: TaskView | None
) -> Iterable[Score] | Score | None:
    """Points earned: for a completed ``task``, or for the closed ticket when ``task`` is
    None. Every plugin's scores are recorded (``Engine.scores``)."""


# --- delivery (after commit, outside any transaction) ---------------------------------


@hookspec(firstresult=True)
def ticketflow_notify(message: Notification) -> bool | None:
    """Deliver a notification (SMS, e-mail, outbound voice, fax).

    Return True when delivered, None when this plugin does not handle the channel.
    Raise to report a failure: the outbox retries with backoff, then raises an incident.
    ``message.idempotency_key`` is stable across retries; pass it on (e.g. as the e-mail
    Message-ID) so a retried delivery is not doubled.
    """


@hookspec(firstresult=True)
def ticketflow_connector(call: ConnectorCall) -> Mapping[str, Any] | None:
    """Perform an operation on an external system and return its result as data.

    Called for BPMN service tasks (``camunda:topic`` names the operation) and for
    ``ctx.call``. Synchronous calls run while the ticket steps, bounded by
    ``call.timeout``; a failure stops the step with nothing stored. Asynchronous calls
    go through the outbox. Return None when the operation is not this plugin's.
    """
