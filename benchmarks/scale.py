"""Worklists at scale: the queries agents run, at 10k, 100k and 1M tickets in PostgreSQL.

The store is filled with SQL (``INSERT ... SELECT generate_series``) in ticketflow's own
schema, made by its migrations, in the shape real traffic leaves: one complaint in 33
still open (one open task each, offered to one of 20 department groups, 30 % of them
claimed by one of 500 agents, due times spread around now so some are overdue), the rest
closed with the eight tasks and eighteen history events of the complaint's full path.
Then each worklist query is timed through the public API (``Engine.tasks``, a page of 50
plus the total count, every row turned into a ``TaskView``) for random agents, groups and
regions, and its plan is shown by ``EXPLAIN (ANALYZE, BUFFERS)``. Real engine steps run
on the filled store too, to show that a step costs the same however big the store is.
The server runs with its packaged defaults (``shared_buffers`` 128 MB), so at a million
tickets part of every group queue's task rows come from the operating system's cache.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import text

from ticketflow import Engine, FixedClock

from .throughput import PATH

ROOT = Path(__file__).resolve().parent.parent
COMPLAINT = ROOT / "processes" / "complaint.bpmn"
SIZES = (10_000, 100_000, 1_000_000)
SAMPLES = 200
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
GROUPS = 20
REGIONS = 20
AGENTS = 500
OPEN_EVERY = 33  # one ticket in 33 is open
TASKS_PER_CLOSED = 8
EVENTS_PER_TICKET = 18
#: Generated task ids are ticket id x ID_STRIDE + n, event ids ticket id x 3 ID_STRIDE + n,
#: leaving room for the real tickets the engine opens between sizes.
ID_STRIDE = 10


@dataclass
class QueryFigure:
    name: str
    p50_ms: float
    p95_ms: float
    rows: float


@dataclass
class SizeResult:
    tickets: int
    tasks: int
    events: int
    fill_s: float
    queries: list[QueryFigure]
    step_ms: float
    plans: dict[str, str] = field(default_factory=dict)


def _fill(conn: object, definition_id: int, lo: int, hi: int) -> None:
    """Tickets ``lo..hi`` (ids), with their tasks, candidates and events."""
    execute = conn.execute  # type: ignore[attr-defined]
    params = {"lo": lo, "hi": hi, "def": definition_id, "now": NOW}
    execute(
        text(
            f"""
            INSERT INTO tf_ticket (id, number, definition_id, process_id, status, customer_id,
                customer_tier, channel, priority, region, subject, data, opened_by, opened_at,
                updated_at, closed_at, end_element, due_at, paused_seconds, lock_version)
            SELECT g, 'TS-B-' || lpad(g::text, 9, '0'), :def, 'complaint',
                CASE WHEN g % {OPEN_EVERY} = 0 THEN 'open' ELSE 'closed' END,
                'C' || (g % 200000), 'ordinary', 'hotline', 50, 'R' || (g % {REGIONS}),
                '宽带断网', '{{"description": "宽带断网", "urgency": "normal"}}'::json, 'agent',
                :now - (g % 365) * interval '1 day', :now - (g % 365) * interval '1 day',
                CASE WHEN g % {OPEN_EVERY} = 0 THEN NULL
                     ELSE :now - (g % 365) * interval '1 day' + interval '21 hours' END,
                CASE WHEN g % {OPEN_EVERY} = 0 THEN NULL ELSE 'end_closed' END,
                :now + ((g % 97) - 30) * interval '1 hour', 0, 1
            FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS g
            """
        ),
        params,
    )
    # Closed tickets: eight completed tasks. Open tickets: three completed and one open.
    execute(
        text(
            f"""
            INSERT INTO tf_task (id, ticket_id, ticket_number, definition_id, process_id,
                spiff_task_id, element_id, name, lane, candidate_groups, assignee, state,
                priority, region, created_at, claimed_at, due_at, completed_at, completed_by,
                form_data, details, lock_version)
            SELECT t.id * {ID_STRIDE} + k, t.id, t.number, :def, 'complaint',
                md5(t.id::text || '-' || k::text)::uuid::text, 'handle', '处理 Handle',
                'handling_dept', 'dept_' || (t.id % {GROUPS}),
                CASE WHEN t.status = 'closed' OR (t.id / {GROUPS}) % 10 < 3
                     THEN 'agent' || (t.id % {AGENTS}) END,
                CASE WHEN t.status = 'open' AND k = 3 THEN 'open' ELSE 'completed' END,
                50, t.region, t.opened_at, t.opened_at,
                t.opened_at + interval '24 hours' + ((t.id % 97) - 30) * interval '1 hour',
                CASE WHEN t.status = 'open' AND k = 3 THEN NULL ELSE t.opened_at END,
                CASE WHEN t.status = 'open' AND k = 3 THEN NULL ELSE 'agent' END,
                NULL, NULL, 1
            FROM tf_ticket t, generate_series(0, {TASKS_PER_CLOSED - 1}) AS k
            WHERE t.id BETWEEN CAST(:lo AS bigint) AND CAST(:hi AS bigint)
                AND (t.status = 'closed' OR k <= 3)
            """
        ),
        params,
    )
    execute(
        text(
            """
            INSERT INTO tf_task_candidate (task_id, group_name)
            SELECT id, candidate_groups FROM tf_task
            WHERE ticket_id BETWEEN CAST(:lo AS bigint) AND CAST(:hi AS bigint) AND state = 'open'
            """
        ),
        params,
    )
    execute(
        text(
            f"""
            INSERT INTO tf_event (id, ticket_id, at, actor, kind, element_id, task_id, details)
            SELECT t.id * {ID_STRIDE * 3} + k, t.id, t.opened_at, 'agent',
                CASE WHEN k = 0 THEN 'ticket_opened' WHEN k % 2 = 1 THEN 'task_created'
                     ELSE 'task_completed' END,
                'handle', t.id * {ID_STRIDE} + k / 2, '{{}}'::json
            FROM tf_ticket t, generate_series(0, {EVENTS_PER_TICKET - 1}) AS k
            WHERE t.id BETWEEN CAST(:lo AS bigint) AND CAST(:hi AS bigint)
            """
        ),
        params,
    )


def _set_sequences(conn: object) -> None:
    for table in ("tf_ticket", "tf_task", "tf_event"):
        conn.execute(  # type: ignore[attr-defined]
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        )


def _time(call: Callable[[], int], samples: int) -> tuple[float, float, float]:
    times: list[float] = []
    rows: list[int] = []
    for _ in range(samples):
        t0 = time.perf_counter()
        rows.append(call())
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], statistics.mean(rows)


def _queries(engine: Engine, rng: random.Random) -> dict[str, Callable[[], int]]:
    def mine() -> int:
        return len(engine.tasks(assignee=f"agent{rng.randrange(AGENTS)}").items)

    def group_queue() -> int:
        groups = [f"dept_{rng.randrange(GROUPS)}"]
        return len(engine.tasks(candidate_groups=groups, unassigned=True).items)

    def overdue_by_region() -> int:
        region = f"R{rng.randrange(REGIONS)}"
        return len(engine.tasks(region=region, due_before=NOW).items)

    return {
        "my tasks (assignee, by due time)": mine,
        "a group's queue (unclaimed, by due time)": group_queue,
        "overdue in a region (by due time)": overdue_by_region,
    }


def _explain(engine: Engine) -> dict[str, str]:
    """EXPLAIN ANALYZE of the SQL ``Engine.tasks`` sends for each query (page query)."""
    from sqlalchemy.dialects import postgresql

    captured: list[tuple[str, dict[str, object]]] = []
    from sqlalchemy import event

    def capture(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if "FROM tf_task" in statement and not statement.lstrip().startswith("SELECT count("):
            captured.append((statement, parameters))

    event.listen(engine.bind, "before_cursor_execute", capture)
    try:
        engine.tasks(assignee="agent7")
        engine.tasks(candidate_groups=["dept_7"], unassigned=True)
        engine.tasks(region="R7", due_before=NOW)
    finally:
        event.remove(engine.bind, "before_cursor_execute", capture)
    del postgresql
    names = list(_queries(engine, random.Random(0)))
    plans: dict[str, str] = {}
    with engine.bind.connect() as conn:
        for name, (statement, parameters) in zip(names, captured[-3:], strict=True):
            raw = conn.connection.dbapi_connection
            assert raw is not None
            with raw.cursor() as cur:
                cur.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, parameters)
                plans[name] = "\n".join(row[0] for row in cur.fetchall())
    return plans


def _step_ms(engine: Engine, count: int = 10) -> float:
    """Median cost of a real engine call (open or complete) on the filled store."""
    times: list[float] = []
    for i in range(count):
        t0 = time.perf_counter()
        ticket = engine.open_ticket("complaint", customer=f"S{i}", channel="hotline")
        times.append((time.perf_counter() - t0) * 1000)
        for element, user, data in PATH:
            t0 = time.perf_counter()
            ticket = engine.complete(ticket.task(element).id, user, data)
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def measure(url: str, sizes: tuple[int, ...] = SIZES, samples: int = SAMPLES) -> list[SizeResult]:
    engine = Engine(url, auto_migrate=True, load_entry_points=False, clock=FixedClock(NOW))
    [definition] = engine.deploy(COMPLAINT)
    rng = random.Random(7)
    results: list[SizeResult] = []
    for size in sizes:
        t0 = time.perf_counter()
        with engine.bind.begin() as conn:
            first = conn.execute(text("SELECT coalesce(max(id), 0) + 1 FROM tf_ticket")).scalar()
            have = conn.execute(text("SELECT count(*) FROM tf_ticket")).scalar_one()
            last = first + (size - have) - 1
            # Bulk load without the secondary indexes, then build them (much faster than
            # maintaining them row by row); the indexes are ticketflow's own, recreated as
            # the migrations defined them.
            indexes = conn.execute(
                text(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = "
                    "current_schema() AND tablename IN ('tf_ticket', 'tf_task', "
                    "'tf_task_candidate', 'tf_event') AND indexname LIKE 'ix_%'"
                )
            ).all()
            for name, _ in indexes:
                conn.execute(text(f'DROP INDEX "{name}"'))
            conn.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
            step = 100_000
            for lo in range(first, last + 1, step):
                _fill(conn, definition.id, lo, min(lo + step - 1, last))
            for _, definition_sql in indexes:
                conn.execute(text(definition_sql))
            _set_sequences(conn)
        with engine.bind.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE tf_ticket, tf_task, tf_task_candidate, tf_event"))
            tasks = conn.execute(text("SELECT count(*) FROM tf_task")).scalar_one()
            events = conn.execute(text("SELECT count(*) FROM tf_event")).scalar_one()
        fill_s = time.perf_counter() - t0
        figures = [
            QueryFigure(name, *_time(call, samples)) for name, call in _queries(engine, rng).items()
        ]
        results.append(
            SizeResult(size, tasks, events, fill_s, figures, _step_ms(engine), _explain(engine))
        )
        print(f"  scale: {size} tickets done ({fill_s:.0f} s to fill)", flush=True)
    engine.close()
    return results


def table(results: list[SizeResult]) -> str:
    names = [q.name for q in results[0].queries]
    head = "| tickets | task rows | event rows | " + " | ".join(
        f"{n}: p50 / p95 (ms)" for n in names
    )
    lines = [
        head + " | engine call on this store, median (ms) |",
        "|---:|---:|---:|" + "---:|" * len(names) + "---:|",
    ]
    for r in results:
        cells = " | ".join(f"{q.p50_ms:.2f} / {q.p95_ms:.2f}" for q in r.queries)
        lines.append(f"| {r.tickets:,} | {r.tasks:,} | {r.events:,} | {cells} | {r.step_ms:.2f} |")
    return "\n".join(lines)


def plans(result: SizeResult) -> str:
    parts = []
    for name, plan in result.plans.items():
        parts.append(f"**{name}** at {result.tickets:,} tickets:\n\n```\n{plan}\n```\n")
    return "\n".join(parts)
