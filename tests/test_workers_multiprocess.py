"""Several worker processes against PostgreSQL share due timers: each fires exactly once.

Runs only with TICKETFLOW_TEST_DATABASE_URL set (SQLite serializes writers; the threaded
test in test_timers.py covers it). TICKETFLOW_WORKER_TEST_TIMERS sets how many timers
(10,000 by default).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ticketflow import Engine, SystemClock
from ticketflow.store.models import EventRow, JobRow, TaskRow

from .bpmn_samples import HEADER
from .conftest import PG_URL

TIMERS = int(os.environ.get("TICKETFLOW_WORKER_TEST_TIMERS", "10000"))
WORKERS = 2

WAIT_PROCESS = (
    HEADER
    + """  <bpmn:process id="waiter" isExecutable="true">
    <bpmn:laneSet id="ls"><bpmn:lane id="agents"><bpmn:flowNodeRef>after</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:intermediateCatchEvent id="wait"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">PT1S</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:userTask id="after" name="After"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait" />
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="after" />
    <bpmn:sequenceFlow id="f3" sourceRef="after" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""
)


@pytest.mark.skipif(not PG_URL, reason="several worker processes need PostgreSQL (SKIP LOCKED)")
def test_worker_processes_fire_each_due_timer_exactly_once(
    make_engine: Callable[..., Engine], db_url: str, tmp_path: Path
) -> None:
    engine = make_engine(clock=SystemClock(), load_entry_points=False)
    (tmp_path / "waiter.bpmn").write_text(WAIT_PROCESS, encoding="utf-8")
    engine.deploy(tmp_path / "waiter.bpmn")
    for start in range(0, TIMERS, 500):
        with Session(engine.bind) as session, session.begin():
            for i in range(start, min(start + 500, TIMERS)):
                engine.open_ticket(
                    "waiter", customer=f"C{i}", channel="monitoring", session=session
                )
    with Session(engine.bind) as s:
        assert (
            s.scalar(select(func.count()).select_from(JobRow).where(JobRow.state == "pending"))
            == TIMERS
        )
    time.sleep(1.1)  # every timer is now due

    env = {**os.environ, "TICKETFLOW_DATABASE_URL": db_url}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "ticketflow.cli", "worker", "--until-idle", "--batch", "50"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(WORKERS)
    ]
    outputs = [p.communicate(timeout=1200) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-2000:]
    counts = [int(out.split("worker done: ")[1].split(" timers")[0]) for out, _ in outputs]
    assert sum(counts) == TIMERS, counts
    assert all(c > 0 for c in counts), f"the work was not shared: {counts}"

    with Session(engine.bind) as s:
        fired_per_ticket = s.execute(
            select(EventRow.ticket_id, func.count())
            .where(EventRow.kind == "timer_fired")
            .group_by(EventRow.ticket_id)
        ).all()
        assert len(fired_per_ticket) == TIMERS
        assert {n for _, n in fired_per_ticket} == {1}, "a timer fired twice"
        done = s.scalar(select(func.count()).select_from(JobRow).where(JobRow.state == "done"))
        assert done == TIMERS
        assert s.scalar(select(func.count()).select_from(JobRow).where(JobRow.state != "done")) == 0
        waiting = s.scalar(
            select(func.count())
            .select_from(TaskRow)
            .where(TaskRow.element_id == "after", TaskRow.state == "open")
        )
        assert waiting == TIMERS
