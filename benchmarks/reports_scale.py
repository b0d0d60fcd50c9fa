"""Service-centre reports at scale: hot spots, top-N, first-contact resolution, points.

Fills the store with N complaints spread over 90 days (bulk inserts in ticketflow's own
schema, made by its migrations): categories drawn from the shipped tree (level 3 or 4),
20 regions, 8 channels, 5,000 customers, one in twenty with an SP named at intake; each
ticket's front-desk task (47 % resolved there, the seed's rate) and, for closed tickets,
a piece-rate score for one of 200 staff. Then times each report over the last 30 days.

    python -m benchmarks.reports_scale                       # SQLite, 100k tickets
    python -m benchmarks.reports_scale --url postgresql+psycopg://postgres@127.0.0.1:5432/test
    python -m benchmarks.reports_scale --tickets 1000000
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text

from ticketflow import Engine, FixedClock
from ticketflow.catalog import Catalog
from ticketflow.reports import first_contact_resolution, hotspots, staff_points, top
from ticketflow.store.models import ScoreRow, TaskRow, TicketRow

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)
CHANNELS = ("hotline", "web", "sms", "email", "business_hall", "account_manager", "social", "app")
CHUNK = 5_000


def fill(engine: Engine, n: int, rng: random.Random) -> float:
    """Insert ``n`` complaints with their front-desk tasks and scores; seconds taken."""
    definition = engine.definition("complaint")
    tree = Catalog(engine).tree()
    leaves = [c for c in tree if c.level >= 3]
    started = time.perf_counter()
    with engine.bind.begin() as conn:
        for first in range(0, n, CHUNK):
            tickets, tasks, scores = [], [], []
            for i in range(first, min(n, first + CHUNK)):
                opened = NOW - timedelta(seconds=rng.randrange(90 * 86400))
                front = rng.random() < 0.47
                data: dict[str, Any] = {}
                if not front:
                    path = tree.path(rng.choice(leaves).code)
                    data = {f"category_l{k}": node.code for k, node in enumerate(path, 1)}
                    if rng.random() < 0.05:
                        data["sp_name"] = f"SP{rng.randrange(40):02d}"
                closed = front or rng.random() < 0.9
                number = f"TS-BENCH-{i:08d}"
                tickets.append(
                    {
                        "id": i + 1,
                        "number": number,
                        "definition_id": definition.definition_id,
                        "process_id": "complaint",
                        "status": "closed" if closed else "open",
                        "customer_id": f"C{rng.randrange(5000):05d}",
                        "channel": rng.choice(CHANNELS),
                        "priority": 50,
                        "region": f"R{rng.randrange(20):02d}",
                        "data": data,
                        "opened_at": opened,
                        "updated_at": opened,
                        "closed_at": opened + timedelta(hours=20) if closed else None,
                        "end_element": ("end_front_desk" if front else "end_closed")
                        if closed
                        else None,
                        "paused_seconds": 0,
                        "lock_version": 1,
                    }
                )
                tasks.append(
                    {
                        "ticket_id": i + 1,
                        "ticket_number": number,
                        "definition_id": definition.definition_id,
                        "process_id": "complaint",
                        "spiff_task_id": str(uuid.UUID(int=i)),
                        "element_id": "front_desk",
                        "name": "前台处理",
                        "candidate_groups": rng.choice(("intake_agent", "hall_desk")),
                        "state": "completed",
                        "priority": 50,
                        "created_at": opened,
                        "completed_at": opened + timedelta(minutes=5),
                        "completed_by": f"agent{rng.randrange(200):03d}",
                        "lock_version": 1,
                    }
                )
                if closed:
                    scores.append(
                        {
                            "ticket_id": i + 1,
                            "ticket_number": number,
                            "staff": f"agent{rng.randrange(200):03d}",
                            "points": rng.choice((1.0, 1.2, 1.4, 1.6, 1.8)),
                            "kind": "piece",
                            "at": opened + timedelta(hours=20),
                        }
                    )
            conn.execute(insert(TicketRow), tickets)
            conn.execute(insert(TaskRow), tasks)
            conn.execute(insert(ScoreRow), scores)
        if conn.dialect.name == "postgresql":
            conn.execute(text("ANALYZE"))
    return time.perf_counter() - started


def timed(fn: Callable[[], object], repeat: int = 5) -> tuple[float, float]:
    """Median and worst of ``repeat`` runs, in milliseconds."""
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs), max(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", help="database (default: a temporary SQLite file)")
    parser.add_argument("--tickets", type=int, default=100_000)
    args = parser.parse_args()
    url, schema, admin = args.url, None, None
    if url is None:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='tf_reports_')}/reports.db"
    elif url.startswith("postgresql"):
        schema = f"tf_bench_reports_{uuid.uuid4().hex[:6]}"
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    try:
        with Engine(url, clock=FixedClock(NOW), auto_migrate=True) as engine:
            engine.deploy(ROOT / "processes" / "complaint.bpmn")
            Catalog(engine).import_default()
            seconds = fill(engine, args.tickets, random.Random(7))
            print(
                f"{engine.bind.dialect.name}: {args.tickets:,} complaints filled in {seconds:.1f} s"
            )
            month = {"since": NOW - timedelta(days=30), "until": NOW}
            reports: dict[str, Callable[[], object]] = {
                "hot spots, level 1": lambda: hotspots(engine, **month),
                "hot spots, level 3 per day": lambda: hotspots(
                    engine, level=3, bucket="day", **month
                ),
                "hot spots, SP per week": lambda: hotspots(engine, "sp", bucket="week", **month),
                "top 15 regions": lambda: top(engine, "region", 15, **month),
                "top 20 customers": lambda: top(engine, "customer", 20, **month),
                "FCR by channel": lambda: first_contact_resolution(engine, **month),
                "FCR by department": lambda: first_contact_resolution(
                    engine, "department", **month
                ),
                "points per staff": lambda: staff_points(engine, **month),
            }
            print("| report (last 30 days) | median ms | worst ms |")
            print("|---|---|---|")
            for name, fn in reports.items():
                median, worst = timed(fn)
                print(f"| {name} | {median:.0f} | {worst:.0f} |")
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


if __name__ == "__main__":
    main()
