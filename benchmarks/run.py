"""Run the benchmarks and write docs/performance.md.

python benchmarks/run.py                      # SQLite
python benchmarks/run.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test

With --postgres it also measures throughput with 1 and 2 processes and the worklist
queries at 10k, 100k and 1M tickets (``--scale-sizes`` changes the sizes; filling 1M
tickets takes a few minutes and about 6 GB of disk).
"""

from __future__ import annotations

import argparse
import platform
import sys
import uuid
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import profile_step, scale, simulate_year, step_cost, throughput

DOC = Path(__file__).resolve().parent.parent / "docs" / "performance.md"


def postgres_urls(base: str):  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine, text

    admin = create_engine(base, isolation_level="AUTOCOMMIT")

    def url_for(name: str) -> str:
        schema = f"tf_bench_{name}_{uuid.uuid4().hex[:6]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in base else "?"
        return f"{base}{sep}options=-csearch_path%3D{schema}"

    return url_for


def sqlite_url(name: str) -> str:
    import tempfile

    return f"sqlite:///{tempfile.mkdtemp(prefix='tf_bench_')}/{name}.db"


def machine() -> str:
    import os

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    packages = ", ".join(
        f"{p} {version(p)}" for p in ("SpiffWorkflow", "SQLAlchemy", "lxml", "psycopg")
    )
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; {packages}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", help="also measure on this PostgreSQL URL")
    parser.add_argument(
        "--tickets", type=int, default=300, help="tickets per process in the throughput runs"
    )
    parser.add_argument(
        "--scale-sizes",
        default=",".join(str(n) for n in scale.SIZES),
        help="comma-separated ticket counts for the worklist scale run (PostgreSQL)",
    )
    args = parser.parse_args()
    sizes = tuple(int(n) for n in args.scale_sizes.split(","))
    now = datetime.now(timezone.utc)
    sections = [
        "# Performance\n",
        "Written by `python benchmarks/run.py"
        + (" --postgres URL" if args.postgres else "")
        + "`; do not edit by hand.\n",
        f"- Date: {now:%Y-%m-%d %H:%M} UTC",
        f"- Machine: {machine()}\n",
        "## Step cost against history (complaint flow)\n",
        step_cost.__doc__.strip() + "\n",
        "Median of 30 steps after the given number of reopen cycles; each step is one task "
        "completed and committed (load, run, save, task rows, history events).\n",
        "### SQLite (file, WAL)\n",
        step_cost.table(step_cost.measure(step_cost.sqlite_urls())) + "\n",
    ]
    if args.postgres:
        sections += [
            "### PostgreSQL (localhost)\n",
            step_cost.table(step_cost.measure(postgres_urls(args.postgres))) + "\n",
        ]
    sections += ["## Throughput (complaint flow, full path)\n", throughput.__doc__.strip() + "\n"]
    runs = [throughput.measure(sqlite_url("throughput"), "SQLite (file, WAL)", 1, args.tickets)]
    if args.postgres:
        url_for = postgres_urls(args.postgres)
        runs += [
            throughput.measure(url_for(f"tp{n}"), "PostgreSQL", n, args.tickets) for n in (1, 2)
        ]
    sections += [throughput.table(runs) + "\n"]
    shares = {"SQLite": profile_step.measure(sqlite_url("profile"))}
    if args.postgres:
        shares["PostgreSQL"] = profile_step.measure(postgres_urls(args.postgres)("profile"))
    sections += [
        "## Where a step's time goes\n",
        profile_step.__doc__.strip() + "\n",
        profile_step.table(shares) + "\n",
    ]
    if args.postgres:
        results = scale.measure(postgres_urls(args.postgres)("scale"), sizes)
        sections += [
            "## Worklists at scale (PostgreSQL)\n",
            scale.__doc__.strip() + "\n",
            "Times are per `Engine.tasks` call (page of 50 and total count), "
            f"{scale.SAMPLES} calls per query and size.\n",
            scale.table(results) + "\n",
            "### Query plans\n",
            scale.plans(results[-1]),
        ]
    # The simulated year takes long; `python benchmarks/simulate_year.py --record` measures
    # it, and its last recorded figures are kept here.
    sections += simulate_year.recorded_section()
    DOC.write_text("\n".join(sections), encoding="utf-8")
    print(DOC.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
