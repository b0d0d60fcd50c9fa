"""Per-step cost against the length of a ticket's history, beside the naive baseline.

A complaint ticket is dispatched, then reopened N times (handle -> reply -> unsatisfied
callback); we then time single steps (one task completed, committed). The baseline is
the naive way to build on SpiffWorkflow: the whole workflow (spec and task tree)
serialized into one JSON column and loaded and saved on every action.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import Column, Integer, MetaData, Table, Text, select, update

from ticketflow import Engine, FixedClock, User
from ticketflow.definitions.loader import load_paths
from ticketflow.runtime.scripting import SAFE_SCRIPT_ENGINE
from ticketflow.store.database import make_engine

ROOT = Path(__file__).resolve().parent.parent
COMPLAINT = ROOT / "processes" / "complaint.bpmn"
CYCLES = (1, 10, 50, 100, 500)
SAMPLES = 30

AGENT = User.of("agent", groups=["intake_agent"])
BACK = User.of("back", groups=["back_office"])
HANDLER = User.of("handler", groups=["dept_billing"])
CALLBACK = User.of("cb", groups=["callback_agent"])

#: The form data of each step of the reopen loop, by task.
LOOP = (
    ("handle", {"outcome": "resolved"}),
    ("reply", {"reply": "done"}),
    ("callback", {"satisfied": False}),
)
PREFIX = (
    ("front_desk", {"resolved": False}),
    ("record", {"description": "x", "urgency": "normal"}),
    ("classify", {"category_l1": "a", "category_l2": "b", "category_l3": "c"}),
    ("dispatch", {"department": "dept_billing"}),
)
USERS = {
    "front_desk": AGENT,
    "record": AGENT,
    "classify": BACK,
    "dispatch": BACK,
    "handle": HANDLER,
    "reply": HANDLER,
    "callback": CALLBACK,
}


@dataclass
class Row:
    cycles: int
    ticketflow_ms: float
    ticketflow_state_kib: float
    baseline_ms: float | None
    baseline_state_kib: float | None
    baseline_note: str = ""


class TicketflowDriver:
    def __init__(self, url: str) -> None:
        self.engine = Engine(url, clock=FixedClock(), auto_migrate=True)
        self.engine.deploy(COMPLAINT)
        self.ticket = self.engine.open_ticket("complaint", customer="C1", channel="hotline")

    def step(self, element: str, data: dict[str, object]) -> None:
        task = self.ticket.task(element)
        self.ticket = self.engine.complete(task.id, USERS[element], data)

    def state_kib(self) -> float:
        from ticketflow.store.models import WorkflowStateRow

        with self.engine.bind.connect() as conn:
            state = conn.execute(
                select(WorkflowStateRow.state).where(WorkflowStateRow.ticket_id == self.ticket.id)
            ).scalar_one()
        return len(state.encode()) / 1024


class NaiveDriver:
    """One row, one JSON column with the whole serialized workflow, per ticket."""

    def __init__(self, url: str) -> None:
        self.db = make_engine(url)
        meta = MetaData()
        self.table = Table(
            "naive_ticket",
            meta,
            Column("id", Integer, primary_key=True),
            Column("state", Text, nullable=False),
        )
        meta.create_all(self.db)
        # The same parsed spec ticketflow runs (SpiffWorkflow's stock parser trips over
        # form-field ids that repeat task ids); the baseline serializes it on every save.
        self.definition = load_paths([COMPLAINT])[0]
        self.spec = self.definition.spec
        self.serializer = BpmnWorkflowSerializer()
        wf = BpmnWorkflow(self.spec, script_engine=SAFE_SCRIPT_ENGINE)
        wf.task_tree.data.update(self.definition.data_defaults)
        wf.do_engine_steps()
        with self.db.begin() as conn:
            self.id = conn.execute(
                self.table.insert().values(state=self.serializer.serialize_json(wf))
            ).inserted_primary_key[0]

    def step(self, element: str, data: dict[str, object]) -> None:
        with self.db.begin() as conn:
            raw = conn.execute(
                select(self.table.c.state).where(self.table.c.id == self.id)
            ).scalar_one()
            wf = self.serializer.deserialize_json(raw)
            wf.script_engine = SAFE_SCRIPT_ENGINE
            ready = [t for t in wf.get_tasks(state=TaskState.READY) if t.task_spec.manual]
            if not ready:
                raise RuntimeError(
                    "no READY task: SpiffWorkflow reports the workflow "
                    + ("completed" if wf.is_completed() else "stuck")
                )
            task = ready[0]
            if task.task_spec.bpmn_id != element:
                raise RuntimeError(f"waiting at {task.task_spec.bpmn_id}, expected {element}")
            # Same form handling as ticketflow (checked fields, defaults): only storage differs.
            form = self.definition.user_tasks[element].form
            task.data.update(form.validate(data, element, task.data))
            task.run()
            wf.do_engine_steps()
            conn.execute(
                update(self.table)
                .where(self.table.c.id == self.id)
                .values(state=self.serializer.serialize_json(wf))
            )

    def state_kib(self) -> float:
        with self.db.connect() as conn:
            raw = conn.execute(
                select(self.table.c.state).where(self.table.c.id == self.id)
            ).scalar_one()
        return len(raw.encode()) / 1024


def drive(step: Callable[[str, dict[str, object]], None], cycles: int) -> None:
    for element, data in PREFIX:
        step(element, data)
    for done in range(cycles):
        for element, data in LOOP:
            try:
                step(element, data)
            except RuntimeError as exc:
                raise RuntimeError(f"{exc} after {done} reopen cycles") from None


def time_steps(step: Callable[[str, dict[str, object]], None], samples: int) -> float:
    """Median milliseconds of one step, over ``samples`` steps of the reopen loop."""
    times = []
    for i in range(samples):
        element, data = LOOP[i % 3]
        start = time.perf_counter()
        step(element, data)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def measure(url_for: Callable[[str], str], cycles: tuple[int, ...] = CYCLES) -> list[Row]:
    rows = []
    for n in cycles:
        tf = TicketflowDriver(url_for(f"tf{n}"))
        drive(tf.step, n)
        tf_ms = time_steps(tf.step, SAMPLES)
        tf_kib = tf.state_kib()
        tf.engine.close()
        base_ms = base_kib = None
        note = ""
        naive = NaiveDriver(url_for(f"naive{n}"))
        try:
            drive(naive.step, n)
            base_ms = time_steps(naive.step, SAMPLES)
            base_kib = naive.state_kib()
        except RuntimeError as exc:
            note = f"broken: {exc}"
        naive.db.dispose()
        rows.append(Row(n, tf_ms, tf_kib, base_ms, base_kib, note))
    return rows


def sqlite_urls() -> Callable[[str], str]:
    folder = Path(tempfile.mkdtemp(prefix="tf-bench-"))
    return lambda name: f"sqlite:///{folder / name}.db"


def table(rows: list[Row]) -> str:
    one = rows[0].ticketflow_ms
    lines = [
        "| reopen cycles | ticketflow step (ms) | vs 1 cycle | state (KiB) "
        "| naive baseline step (ms) | baseline state (KiB) | baseline / ticketflow |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r.baseline_ms is None:
            base = f"— ({r.baseline_note})"
            base_kib = ratio = "—"
        else:
            base = f"{r.baseline_ms:.2f}"
            base_kib = f"{r.baseline_state_kib:.1f}"
            ratio = f"{r.baseline_ms / r.ticketflow_ms:.1f}x"
        lines.append(
            f"| {r.cycles} | {r.ticketflow_ms:.2f} | {r.ticketflow_ms / one:.2f}x | "
            f"{r.ticketflow_state_kib:.1f} | {base} | {base_kib} | {ratio} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(table(measure(sqlite_urls())))
