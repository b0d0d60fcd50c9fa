"""First-contact resolution (一次性解决率) by intake channel, department, agent or region.

In the complaint flow the intake agent first tries to solve the complaint on the spot
(task ``front_desk``). Answering "solved" ends the ticket at ``end_front_desk``: that
is a first-contact resolution. Answering "not solved" records it for the back office,
which classifies and dispatches it. So, over the complaints *opened* in the period:

* **contacts**: complaints whose front-desk step is done (either way); tickets still
  waiting at the front desk are not counted yet;
* **resolved**: those of them that ended at ``end_front_desk`` — resolved without any
  dispatch;
* **rate** = resolved / contacts.

The *department* is the front-desk task's first candidate group (the intake desk the
BPMN lane or a dispatch plugin gave it: hotline, a business hall...), the *agent* who
completed it, the *channel* and *region* the ticket's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from ticketflow.catalog.store import unit
from ticketflow.engine import Engine
from ticketflow.errors import InvalidDataError
from ticketflow.reports.query import NONE, within
from ticketflow.store.models import TaskRow, TicketRow

#: What first-contact resolution is grouped by.
FCR_DIMENSIONS = ("channel", "department", "agent", "region")
TOTAL = "(total)"


@dataclass(frozen=True)
class FcrRow:
    """First-contact resolution of one channel, department, agent or region."""

    COLUMNS: ClassVar[tuple[str, ...]] = ("key", "contacts", "resolved", "rate")

    key: str
    contacts: int
    resolved: int

    @property
    def rate(self) -> float | None:
        """resolved / contacts (None without contacts)."""
        return self.resolved / self.contacts if self.contacts else None

    def values(self) -> tuple[object, ...]:
        return (
            self.key,
            self.contacts,
            self.resolved,
            "" if self.rate is None else f"{self.rate:.4f}",
        )


def first_contact_resolution(
    engine: Engine,
    by: str = "channel",
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    process_id: str = "complaint",
    element: str = "front_desk",
    end_element: str = "end_front_desk",
    session: Session | None = None,
) -> list[FcrRow]:
    """First-contact resolution by ``by`` (:data:`FCR_DIMENSIONS`), most contacts first.
    ``element`` / ``end_element`` name the front-desk task and its end event."""
    if by not in FCR_DIMENSIONS:
        raise InvalidDataError(
            f"first-contact resolution is grouped by {', '.join(FCR_DIMENSIONS)}, not {by!r}"
        )
    key: Any = {
        "channel": TicketRow.channel,
        "department": TaskRow.candidate_groups,
        "agent": TaskRow.completed_by,
        "region": TicketRow.region,
    }[by]
    resolved = func.sum(case((TicketRow.end_element == end_element, 1), else_=0))
    q = (
        select(key, func.count(), resolved)
        .select_from(TaskRow)
        .join(TicketRow, TicketRow.id == TaskRow.ticket_id)
        .where(
            TaskRow.process_id == process_id,
            TaskRow.element_id == element,
            TaskRow.state == "completed",
        )
        .group_by(key)
    )
    q = within(q, TicketRow.opened_at, since, until)
    merged: dict[str, list[int]] = {}
    with unit(engine.bind, session, read_only=True) as s:
        for value, contacts, done in s.execute(q).tuples():
            name = str(value or "")
            if by == "department":
                name = name.split(",")[0]
            counts = merged.setdefault(name or NONE, [0, 0])
            counts[0] += int(contacts)
            counts[1] += int(done or 0)
    rows = [FcrRow(k, c, r) for k, (c, r) in merged.items()]
    return sorted(rows, key=lambda r: (-r.contacts, r.key))


def fcr_total(rows: list[FcrRow]) -> FcrRow:
    """All rows together (the overall rate)."""
    return FcrRow(TOTAL, sum(r.contacts for r in rows), sum(r.resolved for r in rows))
