"""A :class:`~ticketflow.time.clock.Clock` that follows simulated time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Protocol


class _Environment(Protocol):
    @property
    def now(self) -> float: ...


class SimulatedClock:
    """``now()`` is ``start`` plus the simulation's ``env.now`` in minutes.

    Hand it to ``Engine(clock=...)``: every ticket, task, event, job and score the
    engine writes during a run is stamped with simulated time.
    """

    def __init__(self, env: _Environment, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("SimulatedClock needs a timezone-aware start")
        self.env = env
        self.start = start.astimezone(timezone.utc)

    def now(self) -> datetime:
        return self.start + timedelta(minutes=self.env.now)

    def minutes(self, instant: datetime) -> float:
        """Simulated minutes of an instant (the inverse of :meth:`now`)."""
        return (instant - self.start).total_seconds() / 60.0
