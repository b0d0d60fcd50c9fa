"""Throughput: complaint tickets completed end to end per second, in one or more processes.

Each ticket takes the complaint flow's full path: opened, not resolved at the front desk,
recorded, classified, dispatched, handled, replied to and called back (satisfied) - the
open and seven task completions, eight engine calls, each its own transaction. Every
worker process has its own Engine (its own connection pool) and its own tickets; the
figure is all tickets closed divided by the wall time from a common start to the last
worker's end. The resident memory of each worker is sampled as it goes, to show that an
engine process does not grow with the number of tickets it has handled.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import time
from dataclasses import dataclass
from pathlib import Path

from ticketflow import Engine, User

ROOT = Path(__file__).resolve().parent.parent
COMPLAINT = ROOT / "processes" / "complaint.bpmn"

AGENT = User.of("agent", groups=["intake_agent"])
BACK = User.of("back", groups=["back_office"])
HANDLER = User.of("handler", groups=["dept_billing"])
CALLBACK = User.of("cb", groups=["callback_agent"])

#: The full path of a complaint: (task, user, form data).
PATH = (
    ("front_desk", AGENT, {"resolved": False}),
    ("record", AGENT, {"description": "宽带断网", "urgency": "normal"}),
    ("classify", BACK, {"category_l1": "网络", "category_l2": "宽带", "category_l3": "断网"}),
    ("dispatch", BACK, {"department": "dept_billing"}),
    ("handle", HANDLER, {"outcome": "resolved"}),
    ("reply", HANDLER, {"reply": "已修复"}),
    ("callback", CALLBACK, {"satisfied": True}),
)
STEPS_PER_TICKET = 1 + len(PATH)


@dataclass
class Result:
    backend: str
    processes: int
    tickets: int
    seconds: float
    rss_start_mib: float
    rss_end_mib: float

    @property
    def tickets_per_s(self) -> float:
        return self.tickets / self.seconds

    @property
    def steps_per_s(self) -> float:
        return self.tickets * STEPS_PER_TICKET / self.seconds


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # pragma: no cover


def run_tickets(engine: Engine, count: int, worker: int) -> None:
    """Drive ``count`` complaints along the full path."""
    for i in range(count):
        ticket = engine.open_ticket(
            "complaint", customer=f"W{worker}-C{i}", channel="hotline", region="R1"
        )
        for element, user, data in PATH:
            ticket = engine.complete(ticket.task(element).id, user, data)
        assert ticket.status == "closed", ticket.status


def _worker(url: str, count: int, worker: int, start: object, out: object) -> None:
    engine = Engine(url, auto_migrate=False, load_entry_points=False)
    run_tickets(engine, 3, worker + 1000)  # warm: specs parsed, pool filled
    rss_start = _rss_mib()
    start.wait()  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    run_tickets(engine, count, worker)
    elapsed = time.perf_counter() - t0
    out.put((t0, t0 + elapsed, rss_start, _rss_mib()))  # type: ignore[attr-defined]
    engine.close()


def measure(url: str, backend: str, processes: int, tickets_per_process: int) -> Result:
    """Run ``processes`` workers on a fresh database at ``url``; all tickets end closed."""
    setup = Engine(url, auto_migrate=True, load_entry_points=False)
    setup.deploy(COMPLAINT)
    setup.close()
    ctx = mp.get_context("spawn")
    start = ctx.Barrier(processes)
    out = ctx.Queue()
    workers = [
        ctx.Process(target=_worker, args=(url, tickets_per_process, w, start, out))
        for w in range(processes)
    ]
    for w in workers:
        w.start()
    results = [out.get() for _ in workers]
    for w in workers:
        w.join()
        if w.exitcode != 0:
            raise RuntimeError(f"a throughput worker failed with exit code {w.exitcode}")
    begin = min(r[0] for r in results)
    end = max(r[1] for r in results)
    return Result(
        backend=backend,
        processes=processes,
        tickets=processes * tickets_per_process,
        seconds=end - begin,
        rss_start_mib=max(r[2] for r in results),
        rss_end_mib=max(r[3] for r in results),
    )


def table(results: list[Result]) -> str:
    lines = [
        "| backend | processes | tickets | wall (s) | tickets/s | steps/s "
        "| worker RSS before → after (MiB) |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.backend} | {r.processes} | {r.tickets} | {r.seconds:.1f} "
            f"| {r.tickets_per_s:.1f} | {r.steps_per_s:.0f} "
            f"| {r.rss_start_mib:.0f} → {r.rss_end_mib:.0f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - manual run
    import sys
    import tempfile

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    url = f"sqlite:///{tempfile.mkdtemp()}/throughput.db"
    print(table([measure(url, "SQLite", 1, n)]))
