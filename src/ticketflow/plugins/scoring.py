"""Piece-rate scoring (计件, seed 004) and internal evaluation (工单考评).

:class:`PieceRateScoring` pays ``tickets × type coefficient``: ordinary 1.0, business 1.2,
billing 1.4, broadband / weak coverage 1.6, difficult and escalated 1.8 by default, and
errors deduct (a ticket returned to dispatch, a reopened complaint).
:func:`recompute_coefficients` derives the coefficients from history, as the seed does:
the type's mean handling time over the overall mean.

:class:`InternalEvaluation` lets the downstream step rate the upstream one: a rating
field (1-5) in a completed task's form scores whoever completed the task before it.

Both are configurable classes; register instances: ``Engine(plugins=[PieceRateScoring()])``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from ticketflow.hooks.hookspecs import hookimpl
from ticketflow.hooks.types import HookContext, Score
from ticketflow.views import TaskView, TicketView

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ticketflow.engine import Engine

log = logging.getLogger(__name__)

#: Seed 004's coefficients by ticket type.
DEFAULT_COEFFICIENTS: Mapping[str, float] = {
    "ordinary": 1.0,
    "business": 1.2,
    "billing": 1.4,
    "broadband": 1.6,
    "difficult": 1.8,
}

#: Keywords of ``category_l1`` that give the type, the more specific types first.
TYPE_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("broadband", ("宽带", "弱覆盖", "broadband", "coverage")),
    ("billing", ("计费", "话费", "billing")),
    ("business", ("业务", "business")),
)

#: Tasks whose completer handled the ticket, in the shipped flows. The last one
#: completed before the ticket closes earns its piece.
HANDLING_ELEMENTS: tuple[str, ...] = (
    "front_desk",
    "handle",
    "difficult_review",  # complaint
    "remote_support",
    "handle_request",  # service_request
    "phone_support",
    "phone_check",
    "confirm_request",
    "confirm_accessory",  # repair family
    "onsite_work",  # onsite_service
    "answer",
    "expert_answer",  # consultation
    "evaluate_suggestion",
    "confirm_slot",
    "plan_visit",
)

#: Task outcomes that send a ticket back to dispatch: element id -> form ``outcome`` values.
RETURN_OUTCOMES: Mapping[str, tuple[str, ...]] = {
    "handle": ("return",),  # complaint
    "handle_request": ("partly", "unresolved"),  # service_request
}

#: Dispatch tasks (whose completer is charged when ``charge_returns_to="dispatcher"``).
DISPATCH_ELEMENTS: tuple[str, ...] = (
    "dispatch",
    "dispatch_request",
    "dispatch_region",
    "second_dispatch",
)


def default_type_of(ticket: TicketView) -> str:
    """The ticket's piece-rate type from its data.

    ``difficult`` when it was escalated (a handling outcome ``escalate`` or a difficult-
    complaint review, which leaves ``escalation_level``); otherwise by keywords of
    ``category_l1`` (:data:`TYPE_KEYWORDS`); otherwise ``ordinary``.
    """
    data = ticket.data
    if data.get("outcome") == "escalate" or data.get("escalation_level"):
        return "difficult"
    category = str(data.get("category_l1") or "").lower()
    for kind, words in TYPE_KEYWORDS:
        if any(w in category for w in words):
            return kind
    return "ordinary"


def completed_tasks(engine: Engine, number: str, session: Session | None = None) -> list[TaskView]:
    """The ticket's completed tasks in the order they were completed."""
    found: list[TaskView] = []
    while True:
        page = engine.tasks(
            ticket=number,
            state="completed",
            order_by="id",
            offset=len(found),
            limit=1000,
            session=session,
        )
        found.extend(page.items)
        if len(found) >= page.total or not page.items:
            break
    return sorted(found, key=lambda t: (t.completed_at or t.created_at, t.id))


def _last_by(tasks: Iterable[TaskView], elements: Collection[str]) -> str | None:
    who = None
    for t in tasks:
        if t.element_id in elements and t.completed_by:
            who = t.completed_by
    return who


class PieceRateScoring:
    """Points = tickets × type coefficient; errors deduct.

    ``per="ticket"`` (default): when a ticket closes, the staff member who completed its
    last handling task (``handling_elements``: the complaint's ``handle`` or
    ``difficult_review``, ``front_desk`` when it was solved there...) earns the ticket's
    coefficient. When none of its tasks is a handling task, the last completed task counts.
    ``per="task"``: every completed task earns its completer ``coefficient × weight``
    (``task_weights`` by element id, else ``default_weight``), typed as the ticket stands
    after that step (early steps, before classification, are mostly ``ordinary``).

    Deductions (kind ``deduction``, negative points):

    * a ticket returned to dispatch (``return_outcomes``: the complaint's ``handle`` with
      outcome ``return``, the service request's ``partly`` / ``unresolved``) costs
      ``return_deduction``; by default the handler who gave it back pays, or with
      ``charge_returns_to="dispatcher"`` whoever dispatched it last;
    * a reopened ticket (an unsatisfied callback) costs the last handler
      ``reopen_deduction``.

    Set a deduction to 0 to turn it off. ``processes`` limits scoring to those process ids.
    """

    def __init__(
        self,
        coefficients: Mapping[str, float] | None = None,
        type_of: Callable[[TicketView], str] | None = None,
        per: Literal["task", "ticket"] = "ticket",
        *,
        handling_elements: Collection[str] = HANDLING_ELEMENTS,
        task_weights: Mapping[str, float] | None = None,
        default_weight: float = 1.0,
        return_outcomes: Mapping[str, Collection[str]] = RETURN_OUTCOMES,
        return_deduction: float = 0.5,
        charge_returns_to: Literal["handler", "dispatcher"] = "handler",
        dispatch_elements: Collection[str] = DISPATCH_ELEMENTS,
        reopen_deduction: float = 1.0,
        processes: Collection[str] | None = None,
    ) -> None:
        if per not in ("task", "ticket"):
            raise ValueError(f"per must be 'task' or 'ticket', got {per!r}")
        if charge_returns_to not in ("handler", "dispatcher"):
            raise ValueError(
                f"charge_returns_to must be 'handler' or 'dispatcher', got {charge_returns_to!r}"
            )
        self.coefficients = dict(DEFAULT_COEFFICIENTS if coefficients is None else coefficients)
        self.type_of = type_of or default_type_of
        self.per = per
        self.handling_elements = frozenset(handling_elements)
        self.task_weights = dict(task_weights or {})
        self.default_weight = default_weight
        self.return_outcomes = {k: frozenset(v) for k, v in return_outcomes.items()}
        self.return_deduction = abs(return_deduction)
        self.charge_returns_to = charge_returns_to
        self.dispatch_elements = frozenset(dispatch_elements)
        self.reopen_deduction = abs(reopen_deduction)
        self.processes = frozenset(processes) if processes is not None else None

    def coefficient(self, ticket: TicketView) -> tuple[str, float]:
        """The ticket's type and its coefficient (an unknown type counts 1.0)."""
        kind = self.type_of(ticket)
        return kind, float(self.coefficients.get(kind, 1.0))

    def _scored(self, ticket: TicketView) -> bool:
        return self.processes is None or ticket.process_id in self.processes

    def handler(self, ctx: HookContext, ticket: TicketView) -> str | None:
        """Who handled the ticket: the completer of its last handling task."""
        done = completed_tasks(ctx.engine, ticket.number, ctx.session)
        who = _last_by(done, self.handling_elements)
        if who is None and done:
            who = done[-1].completed_by
        return who

    @hookimpl
    def ticketflow_score(
        self, ctx: HookContext, ticket: TicketView, task: TaskView | None
    ) -> list[Score]:
        if not self._scored(ticket):
            return []
        kind, coefficient = self.coefficient(ticket)
        if task is None:
            if self.per != "ticket":
                return []
            who = self.handler(ctx, ticket)
            if who is None:
                log.info("ticket %s closed with no completed task: no piece", ticket.number)
                return []
            return [Score(who, coefficient, "piece", f"{kind} ticket × {coefficient:g}")]
        scores: list[Score] = []
        if self.per == "task" and task.completed_by:
            weight = float(self.task_weights.get(task.element_id, self.default_weight))
            if weight:
                scores.append(
                    Score(
                        task.completed_by,
                        round(coefficient * weight, 4),
                        "piece",
                        f"{task.element_id}: {kind} × {coefficient:g} × weight {weight:g}",
                    )
                )
        deduction = self._return_deduction(ctx, ticket, task)
        if deduction is not None:
            scores.append(deduction)
        return scores

    def _return_deduction(
        self, ctx: HookContext, ticket: TicketView, task: TaskView
    ) -> Score | None:
        outcomes = self.return_outcomes.get(task.element_id)
        outcome = (task.form_data or {}).get("outcome")
        if not self.return_deduction or not outcomes or outcome not in outcomes:
            return None
        who = task.completed_by
        if self.charge_returns_to == "dispatcher":
            done = completed_tasks(ctx.engine, ticket.number, ctx.session)
            who = _last_by((t for t in done if t.id != task.id), self.dispatch_elements)
        if not who:
            return None
        return Score(
            who,
            -self.return_deduction,
            "deduction",
            f"{task.element_id} returned to dispatch ({outcome})",
        )

    @hookimpl
    def ticketflow_ticket_reopened(
        self, ctx: HookContext, ticket: TicketView, element_id: str
    ) -> None:
        if not self.reopen_deduction or not self._scored(ticket):
            return
        who = _last_by(
            completed_tasks(ctx.engine, ticket.number, ctx.session), self.handling_elements
        )
        if who is None:
            return
        ctx.score(Score(who, -self.reopen_deduction, "deduction", f"reopened at {element_id}"))


def recompute_coefficients(
    engine: Engine,
    since: datetime | None = None,
    type_of: Callable[[TicketView], str] = default_type_of,
    *,
    process_id: str | None = None,
    ndigits: int = 1,
) -> dict[str, float]:
    """Coefficients from history: each type's mean handling time over the overall mean.

    Handling time is ``closed_at - opened_at`` of closed tickets opened at or after
    ``since`` (of ``process_id`` only, if given). Rounded to ``ndigits`` (seed 004 uses
    one decimal). Only types that occur are returned; merge with the defaults for the rest:
    ``PieceRateScoring({**DEFAULT_COEFFICIENTS, **recompute_coefficients(engine)})``.
    """
    durations: dict[str, list[float]] = {}
    offset = 0
    while True:
        page = engine.tickets(
            status="closed",
            process_id=process_id,
            opened_after=since,
            offset=offset,
            limit=1000,
        )
        for t in page.items:
            if t.closed_at is not None:
                seconds = (t.closed_at - t.opened_at).total_seconds()
                durations.setdefault(type_of(t), []).append(seconds)
        offset += len(page.items)
        if offset >= page.total or not page.items:
            break
    every = [d for ds in durations.values() for d in ds]
    if not every:
        return {}
    overall = sum(every) / len(every)
    if overall <= 0:
        return dict.fromkeys(sorted(durations), 1.0)
    return {
        kind: round(sum(ds) / len(ds) / overall, ndigits) for kind, ds in sorted(durations.items())
    }


class InternalEvaluation:
    """The downstream step rates the upstream one (工单考评, "internal customer").

    When a completed task's form data carries ``field`` (an integer 1-5), the staff member
    who completed the ticket's previous task earns ``(rating - neutral) × step`` points of
    kind ``evaluation`` (by default 5 → +0.2, 3 → 0, 1 → -0.2), with the rating and the
    rater in the note. Nobody rates their own work: when the upstream task was completed
    by the rater, nothing is recorded.
    """

    def __init__(
        self,
        field: str = "upstream_rating",
        *,
        neutral: float = 3.0,
        step: float = 0.1,
        kind: str = "evaluation",
        low: int = 1,
        high: int = 5,
    ) -> None:
        self.field = field
        self.neutral = neutral
        self.step = step
        self.kind = kind
        self.low = low
        self.high = high

    def points(self, rating: int) -> float:
        return round((rating - self.neutral) * self.step, 4)

    @hookimpl
    def ticketflow_score(
        self, ctx: HookContext, ticket: TicketView, task: TaskView | None
    ) -> Score | None:
        if task is None or not task.form_data:
            return None
        rating: Any = task.form_data.get(self.field)
        if isinstance(rating, float) and rating.is_integer():
            rating = int(rating)
        if isinstance(rating, bool) or not isinstance(rating, int):
            return None
        if not self.low <= rating <= self.high:
            log.warning(
                "ticket %s task %s: %s=%r is outside %s-%s; ignored",
                ticket.number,
                task.id,
                self.field,
                rating,
                self.low,
                self.high,
            )
            return None
        earlier = [
            t
            for t in completed_tasks(ctx.engine, ticket.number, ctx.session)
            if t.id != task.id and t.completed_by
        ]
        if not earlier:
            return None
        upstream = earlier[-1]
        if upstream.completed_by == task.completed_by:
            return None
        assert upstream.completed_by is not None
        return Score(
            upstream.completed_by,
            self.points(rating),
            self.kind,
            f"{upstream.element_id} rated {rating}/{self.high} by {task.completed_by} "
            f"at {task.element_id}",
        )
