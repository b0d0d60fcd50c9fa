"""Where a step's time goes: the complaint's full path under cProfile, by layer.

Every function's own time (cProfile's ``tottime``) is charged to the package its code
lives in: SpiffWorkflow (running the process), SQLAlchemy (ORM and SQL building),
the database driver and waiting for the server (sqlite3 / psycopg), ticketflow itself,
and the rest (json, uuid, the standard library). Profiling slows everything down about
evenly, so the shares, not the absolute times, are the figure to read.
"""

from __future__ import annotations

import cProfile
import pstats
from collections import defaultdict

from ticketflow import Engine

from .throughput import COMPLAINT, run_tickets

LAYERS = (
    ("SpiffWorkflow", "SpiffWorkflow (process execution, (de)serialization)"),
    ("sqlalchemy", "SQLAlchemy (ORM unit of work, statement building)"),
    ("psycopg", "psycopg driver and waiting for PostgreSQL"),
    ("sqlite3", "sqlite3 driver and SQLite itself"),
    ("ticketflow", "ticketflow"),
    ("simpleeval", "safe expression evaluator (simpleeval)"),
    ("pluggy", "pluggy hook calls"),
)


def layer(filename: str, function: str) -> str:
    """The layer a profiled function belongs to (a key of ``LAYERS``, or "other")."""
    if "sqlite3" in function or "sqlite3" in filename:
        return "sqlite3"
    for key, _ in LAYERS:
        if f"/{key}/" in filename or f"{key}.py" in filename:
            return key
    return "other"


def measure(url: str, tickets: int = 40) -> dict[str, float]:
    """Shares of own time per layer (fractions summing to 1) over ``tickets`` complaints."""
    engine = Engine(url, auto_migrate=True, load_entry_points=False)
    engine.deploy(COMPLAINT)
    run_tickets(engine, 3, 999)  # warm
    profiler = cProfile.Profile()
    profiler.enable()
    run_tickets(engine, tickets, 0)
    profiler.disable()
    engine.close()
    own = own_time(profiler)
    whole = sum(own.values())
    return {k: v / whole for k, v in own.items()}


def own_time(profiler: cProfile.Profile) -> dict[str, float]:
    """Seconds of own time (``tottime``) per layer."""
    totals: dict[str, float] = defaultdict(float)
    for (filename, _line, function), row in pstats.Stats(profiler).stats.items():  # type: ignore[attr-defined]
        totals[layer(filename, function)] += row[2]
    return dict(totals)


def table(columns: dict[str, dict[str, float]]) -> str:
    names = [*(label for _, label in LAYERS), "other (json, uuid, standard library)"]
    keys = [*(k for k, _ in LAYERS), "other"]
    lines = [
        "| layer | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for key, name in zip(keys, names, strict=True):
        shares = [c.get(key, 0.0) for c in columns.values()]
        if not any(shares):
            continue
        lines.append(f"| {name} | " + " | ".join(f"{s:.0%}" for s in shares) + " |")
    return "\n".join(lines)
