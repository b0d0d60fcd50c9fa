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


def _verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def targets(
    steps: dict[str, list[step_cost.Row]],
    runs: list[throughput.Result],
    results: list[scale.SizeResult],
) -> list[str]:
    """The targets of the performance work, each against the figure measured below."""
    lines = ["## Targets against this run\n", "| target | measured | |", "|---|---|---|"]
    for backend, rows in steps.items():
        by = {r.cycles: r for r in rows}
        flat = by[500].ticketflow_ms / by[1].ticketflow_ms
        lines.append(
            f"| {backend}: step at 500 reopen cycles within 1.2x of 1 cycle "
            f"| {flat:.2f}x ({by[500].ticketflow_ms:.2f} vs {by[1].ticketflow_ms:.2f} ms) "
            f"| {_verdict(flat <= 1.2)} |"
        )
        base = by[100].baseline_ms
        if base is not None:
            ratio = base / by[100].ticketflow_ms
            lines.append(
                f"| {backend}: at least 5x faster than the naive baseline at 100 cycles "
                f"| {ratio:.1f}x | {_verdict(ratio >= 5)} |"
            )
    for r in runs:
        if r.backend == "PostgreSQL" and r.processes == 2:
            lines.append(
                "| PostgreSQL, 2 processes: 200 complaints completed per second "
                f"| {r.tickets_per_s:.1f} per second ({r.steps_per_s:.0f} steps/s) "
                f"| {_verdict(r.tickets_per_s >= 200)} |"
            )
    if runs:
        grow = max(r.rss_end_mib - r.rss_start_mib for r in runs)
        lines.append(
            "| engine process memory bounded however many tickets it handles "
            f"| at most {grow:+.0f} MiB over {max(r.tickets for r in runs)} tickets "
            f"| {_verdict(grow < 20)} |"
        )
    if results:
        last = results[-1]
        for q in last.queries:
            lines.append(
                f"| {q.name}: p95 under 20 ms at {last.tickets:,} tickets "
                f"| {q.p95_ms:.2f} ms | {_verdict(q.p95_ms < 20)} |"
            )
    return ["\n".join(lines) + "\n"]


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
    ]
    steps = {"SQLite": step_cost.measure(step_cost.sqlite_urls())}
    sections += [step_cost.table(steps["SQLite"]) + "\n"]
    if args.postgres:
        steps["PostgreSQL"] = step_cost.measure(postgres_urls(args.postgres))
        sections += ["### PostgreSQL (localhost)\n", step_cost.table(steps["PostgreSQL"]) + "\n"]
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
    results: list[scale.SizeResult] = []
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
    sections[4:4] = targets(steps, runs, results)
    DOC.write_text("\n".join(sections), encoding="utf-8")
    print(DOC.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
