"""The background loop: fire due timers and SLA jobs, deliver the outbox, every few seconds."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from ticketflow import Engine

log = logging.getLogger("ticketflow_rest.worker")


@dataclass
class WorkerStats:
    """What the loop has done since the service started (shown by ``/api/health``)."""

    passes: int = 0
    jobs_fired: int = 0
    messages_delivered: int = 0
    failures: int = 0


def run_once(engine: Engine, stats: WorkerStats) -> None:
    """One pass: ``run_due`` then ``deliver_outbox``; a failure is logged, not raised."""
    try:
        report = engine.run_due()
        delivery = engine.deliver_outbox()
    except Exception:  # the loop must outlive a database hiccup
        stats.failures += 1
        log.exception("job/outbox pass failed; trying again next interval")
        return
    stats.passes += 1
    stats.jobs_fired += report.fired
    stats.messages_delivered += delivery.delivered


async def run_forever(engine: Engine, interval: float, stats: WorkerStats) -> None:
    """Call :func:`run_once` in a worker thread every ``interval`` seconds until cancelled."""
    while True:
        await asyncio.to_thread(run_once, engine, stats)
        await asyncio.sleep(interval)
