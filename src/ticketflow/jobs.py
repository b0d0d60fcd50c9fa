"""Jobs: work due at a time, stored with an indexed due time and run by any worker.

Today's job kind is ``timer``: a BPMN timer (boundary, intermediate; durations, dates,
cycles) that a ticket waits on. After every step the engine writes one job per waiting
timer, keyed by ticket, workflow task and due instant, in the step's transaction.

:meth:`JobRunner.run_due` claims due jobs under a lease (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so several worker processes share them; a crashed worker's jobs are taken
over when its lease runs out), then fires each in a transaction of its own that also
marks the job done — the ticket's step and the job's completion commit together, and the
ticket's optimistic lock makes a second firing impossible. A failure is retried with
backoff; after the last attempt the job is dead and an incident is raised.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ticketflow.store.models import IncidentRow, JobRow, TicketRow

if TYPE_CHECKING:
    from ticketflow.engine import Engine

log = logging.getLogger("ticketflow.jobs")
LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class JobView:
    id: int
    ticket_id: int | None
    kind: str
    element_id: str | None
    due_at: datetime
    state: str
    attempts: int
    last_error: str | None
    done_at: datetime | None

    @classmethod
    def from_row(cls, r: JobRow) -> JobView:
        return cls(
            r.id,
            r.ticket_id,
            r.kind,
            r.element_id,
            r.due_at,
            r.state,
            r.attempts,
            r.last_error,
            r.done_at,
        )


@dataclass(frozen=True)
class RunReport:
    """What one :meth:`JobRunner.run_due` pass did."""

    fired: int
    skipped: int
    retried: int
    dead: int

    @property
    def attempted(self) -> int:
        return self.fired + self.skipped + self.retried + self.dead


class JobRunner:
    def __init__(
        self, engine: Engine, max_attempts: int = 5, backoff: timedelta = timedelta(seconds=30)
    ) -> None:
        self.engine = engine
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    def run_due(self, limit: int = 100) -> RunReport:
        fired = skipped = retried = dead = 0
        for job_id in self._claim(limit):
            try:
                outcome = self.engine._fire_job(job_id, self.worker_id)
            except Exception as exc:  # recorded on the job; the ticket step rolled back
                if self._failed(job_id, f"{type(exc).__name__}: {exc}") == "dead":
                    dead += 1
                else:
                    retried += 1
                continue
            if outcome == "fired":
                fired += 1
            else:
                skipped += 1
        return RunReport(fired, skipped, retried, dead)

    def _claim(self, limit: int) -> list[int]:
        now = self.engine.clock.now()
        with Session(self.engine.bind) as s, s.begin():
            q = (
                select(JobRow)
                .where(
                    JobRow.state == "pending",
                    JobRow.due_at <= now,
                    or_(JobRow.lease_until.is_(None), JobRow.lease_until < now),
                )
                .order_by(JobRow.due_at, JobRow.id)
                .limit(limit)
            )
            if self.engine.bind.dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)
            rows = list(s.scalars(q))
            for row in rows:
                row.lease_owner = self.worker_id
                row.lease_until = now + LEASE
            return [r.id for r in rows]

    def _failed(self, job_id: int, error: str) -> str:
        now = self.engine.clock.now()
        with Session(self.engine.bind) as s, s.begin():
            row = s.get(JobRow, job_id, with_for_update=True)
            if row is None or row.lease_owner != self.worker_id or row.state != "pending":
                return "lost"
            row.attempts += 1
            row.last_error = error[:2000]
            row.lease_owner = row.lease_until = None
            if row.attempts >= self.max_attempts:
                row.state = "dead"
                s.add(
                    IncidentRow(
                        ticket_id=row.ticket_id,
                        ticket_number=(
                            s.scalar(select(TicketRow.number).where(TicketRow.id == row.ticket_id))
                            if row.ticket_id is not None
                            else None
                        ),
                        kind=f"{row.kind}_failed",
                        message=f"{row.kind} job at '{row.element_id}' failed {row.attempts} "
                        f"times; last error: {row.last_error}",
                        created_at=now,
                    )
                )
                log.error("job %s is dead after %s attempts: %s", job_id, row.attempts, error)
                return "dead"
            row.due_at = now + self.backoff * (2 ** (row.attempts - 1))
            return "retry"

    def jobs(
        self,
        s: Session,
        *,
        state: str | None = None,
        ticket_id: int | None = None,
        limit: int = 100,
    ) -> list[JobView]:
        q = select(JobRow).order_by(JobRow.due_at, JobRow.id).limit(limit)
        if state is not None:
            q = q.where(JobRow.state == state)
        if ticket_id is not None:
            q = q.where(JobRow.ticket_id == ticket_id)
        return [JobView.from_row(r) for r in s.scalars(q)]
