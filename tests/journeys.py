"""Steps of the complaint flow, shared by tests."""

from __future__ import annotations

from typing import Any

from ticketflow import Engine, TicketView

from .conftest import Staff


def open_complaint(engine: Engine, **kwargs: Any) -> TicketView:
    kwargs.setdefault("customer", "C-10086")
    kwargs.setdefault("channel", "hotline")
    kwargs.setdefault("data", {"summary": "话费多扣 charged twice"})
    return engine.open_ticket("complaint", **kwargs)


def to_handling(engine: Engine, ticket: TicketView, department: str = "dept_billing") -> TicketView:
    """Front desk cannot solve it; record, classify and dispatch it to ``department``."""
    ticket = engine.complete(ticket.task("front_desk").id, Staff.agent, {"resolved": False})
    ticket = engine.complete(
        ticket.task("record").id,
        Staff.agent,
        {"description": "本月话费多扣 30 元 charged 30 yuan twice", "urgency": "normal"},
    )
    ticket = engine.complete(
        ticket.task("classify").id,
        Staff.back_office,
        {
            "category_l1": "计费 billing",
            "category_l2": "话费 fees",
            "category_l3": "多扣 overcharge",
        },
    )
    return engine.complete(
        ticket.task("dispatch").id, Staff.back_office, {"department": department}
    )


def resolve_and_reply(
    engine: Engine, ticket: TicketView, handler: Any = Staff.billing
) -> TicketView:
    ticket = engine.complete(
        ticket.task("handle").id, handler, {"outcome": "resolved", "result": "退费 refunded"}
    )
    return engine.complete(ticket.task("reply").id, handler, {"reply": "已退还 30 元 refunded"})


def callback(engine: Engine, ticket: TicketView, satisfied: bool) -> TicketView:
    return engine.complete(
        ticket.task("callback").id,
        Staff.callback,
        {"satisfied": satisfied, "score": 90 if satisfied else 30},
    )
