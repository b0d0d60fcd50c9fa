"""The simulated year: seed 004's province, every complaint a real ticket, on SQLite.

Runs ``examples/simulation/province_2011.toml`` for N days of arrivals (365 for the whole
year, about 200,000 complaints) plus the drain until the last ticket closes, on one
SQLite file in WAL mode. Every engine call is its own transaction, as a host
application's request would be (``--transactions batch``: the engine joins one host session
committed every simulated hour instead); due SLA jobs and timers run every simulated hour
in their own transactions. Reports simulated
tickets per second of wall time and the wall time; with ``--record`` the figures go to
``benchmarks/simulate_year.json`` and the "Simulated year" section of
``docs/performance.md`` (``benchmarks/run.py`` keeps that section when it rewrites the
page).

    python benchmarks/simulate_year.py --days 30             # measure, extrapolate
    python benchmarks/simulate_year.py --days 365 --record   # the whole year
    python benchmarks/simulate_year.py --floor               # where a complaint's time goes
    python benchmarks/simulate_year.py --write-doc           # section from the records
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

SCENARIO = ROOT / "examples" / "simulation" / "province_2011.toml"
RESULTS = Path(__file__).resolve().parent / "simulate_year.json"
DOC = ROOT / "docs" / "performance.md"
BEGIN = "<!-- BEGIN simulate_year -->"
END = "<!-- END simulate_year -->"
YEAR = 199_702
TARGET_MINUTES = 10


def measure(
    days: int, url: str | None, commit_every: float | None, transactions: str | None, log: Any
) -> dict[str, Any]:
    """Run the province for ``days`` days of arrivals; return the figures."""
    from sqlalchemy.engine import make_url

    from ticketflow.simulation.runner import simulate
    from ticketflow.simulation.scenario import load_scenario

    scenario = load_scenario(SCENARIO).with_run(days=days, warmup_days=min(3, days - 1))
    scenario = scenario.updated(
        "engine", commit_every_minutes=commit_every, transactions=transactions
    )
    if url is None:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='tf_simyear_')}/year.db"
    began, cpu, stat = time.perf_counter(), time.process_time(), _cpu_stat()
    last = [began, 0]  # when the last progress line was printed, and the tickets then
    reached = [0.0, 0]  # simulated day, tickets opened: what an interrupted run got to

    def progress(done: float, total: float, tickets: int) -> None:
        now = time.perf_counter()
        reached[:] = [done, tickets]
        if now - last[0] >= 30:
            recent = (tickets - last[1]) / (now - last[0])
            last[:] = [now, tickets]
            rate = tickets / (now - began)
            print(f"  day {done:6.1f}/{total:.0f}  {tickets:7d} tickets  {rate:6.1f}/s"
                  f"  (last 30 s: {recent:5.1f}/s)", file=log, flush=True)  # fmt: skip

    common = {
        "date": "",
        "commit": _commit(),
        "days": days,
        "commit_every_minutes": scenario.engine.commit_every_minutes,
        "transactions": scenario.engine.transactions,
        "database": make_url(url).get_backend_name(),
    }

    def machine() -> dict[str, Any]:
        """What the machine gave the run: its CPU time, the hypervisor's steal, the load."""
        return {
            "cpu_seconds": round(time.process_time() - cpu, 1),
            "steal_percent": _steal(stat, _cpu_stat()),
            "load_average": _load(),
        }

    try:
        outcome = simulate(scenario, url, progress)
    except KeyboardInterrupt:
        # Stopped (Ctrl-C, SIGINT or SIGTERM when the machine is needed): the rate so far is
        # still a measurement, recorded as a run that did not finish.
        wall = time.perf_counter() - began
        print(f"interrupted at day {reached[0]:.1f} after {wall / 60:.1f} min", file=log)
        return {
            **common,
            "date": _now(),
            "complete": False,
            "simulated_days": round(reached[0], 1),
            "tickets": reached[1],
            "engine_calls": None,
            "wall_seconds": round(wall, 2),
            "tickets_per_second": round(reached[1] / wall, 2),
            "engine_calls_per_second": None,
            "year_estimate_minutes": round(YEAR / (reached[1] / wall) / 60, 1),
            **machine(),
            "fcr": None,
            "mean_handling_hours": None,
            "tickets_per_seat_day": None,
        }
    run, k = outcome.run, outcome.kpis
    per_second = run["tickets_opened"] / run["wall_seconds"]
    return {
        **common,
        "date": _now(),
        "complete": True,
        "simulated_days": run["simulated_days"],
        "tickets": run["tickets_opened"],
        "engine_calls": run["engine_calls"],
        "wall_seconds": run["wall_seconds"],
        "tickets_per_second": round(per_second, 2),
        "engine_calls_per_second": round(run["engine_calls"] / run["wall_seconds"], 1),
        "year_estimate_minutes": round(YEAR / per_second / 60, 1),
        **machine(),
        "fcr": k["first_contact_resolution"],
        "mean_handling_hours": k["handling_hours"]["mean"],
        "tickets_per_seat_day": k["seats"]["tickets_per_seat_day"],
        "open_at_end": k["open_at_end"],
        "calibration": [
            {key: row[key] for key in ("kpi", "label", "target", "simulated", "deviation")}
            for row in k["calibration"]
        ],
    }


def floor(days: int, log: Any) -> dict[str, Any]:
    """Where a complaint's time goes: ``days`` of the province run twice.

    First without a profiler, timing the BPMN runtime (``runtime.Instance``: SpiffWorkflow
    with ticketflow's state compaction and expression evaluator) against the wall time.
    Then under cProfile, with SQL statements and commits counted: SQLite's own time (the
    C calls of the sqlite3 module: execute, commit, fetch) per complaint, times seed 004's
    year, is what the year costs before any Python runs. cProfile slows Python, not that
    C code, so those milliseconds are SQLite's own and the other layers' shares inflated.
    """
    import cProfile

    from sqlalchemy import event
    from sqlalchemy.engine import Engine as SQLEngine

    sys.path.insert(0, str(ROOT))
    from benchmarks.profile_step import own_time

    counts = {"statements": 0, "transactions": 0}

    def statement(*_: Any) -> None:
        counts["statements"] += 1

    def commit(*_: Any) -> None:
        counts["transactions"] += 1

    with _timed_runtime() as runtime:
        plain = measure(days, None, None, None, log)
    if not plain["complete"]:
        raise SystemExit("the run was interrupted; nothing recorded")
    event.listen(SQLEngine, "before_cursor_execute", statement)
    event.listen(SQLEngine, "commit", commit)
    profiler = cProfile.Profile()
    try:
        profiler.enable()
        result = measure(days, None, None, None, log)
    finally:
        profiler.disable()
        event.remove(SQLEngine, "before_cursor_execute", statement)
        event.remove(SQLEngine, "commit", commit)
    if not result["complete"]:
        raise SystemExit("the profiled run was interrupted; nothing recorded")
    own = own_time(profiler)
    whole = sum(own.values())
    tickets = result["tickets"]
    sqlite = own.get("sqlite3", 0.0)
    return {
        "date": result["date"],
        "commit": result["commit"],
        "days": days,
        "tickets": tickets,
        "engine_calls": result["engine_calls"],
        "transactions": counts["transactions"],
        "statements": counts["statements"],
        "wall_ms_per_ticket": round(1000.0 * plain["wall_seconds"] / plain["tickets"], 2),
        "runtime_ms_per_ticket": round(1000.0 * runtime[0] / plain["tickets"], 2),
        "profiled_seconds": round(whole, 1),
        "sqlite_ms_per_ticket": round(1000.0 * sqlite / tickets, 2),
        "year_floor_minutes": round(sqlite / tickets * YEAR / 60, 1),
        "shares": {k: round(v / whole, 3) for k, v in sorted(own.items())},
    }


@contextmanager
def _timed_runtime() -> Iterator[list[float]]:
    """Seconds spent in ``runtime.Instance``'s methods (outermost calls) while inside."""
    from ticketflow.runtime.instance import Instance

    spent = [0.0]
    depth = [0]

    def timed(fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            if depth[0]:
                return fn(*args, **kwargs)
            depth[0] += 1
            began = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - began
                depth[0] -= 1

        return call

    names = [n for n, v in vars(Instance).items() if not n.startswith("_") and callable(
        v.__func__ if isinstance(v, classmethod) else v)]  # fmt: skip
    originals = {n: vars(Instance)[n] for n in names}
    for name, attr in originals.items():
        if isinstance(attr, classmethod):
            setattr(Instance, name, classmethod(timed(attr.__func__)))
        else:
            setattr(Instance, name, timed(attr))
    try:
        yield spent
    finally:
        for name, attr in originals.items():
            setattr(Instance, name, attr)


def _commit() -> str | None:
    """The commit the benchmark runs on (``+changes`` when the code differs from it)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "src", "examples"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{head}+changes" if dirty else head


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _cpu_stat() -> list[int] | None:
    """The machine's CPU time counters (Linux ``/proc/stat``), or None elsewhere."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            return [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None


def _steal(before: list[int] | None, after: list[int] | None) -> float | None:
    """Percent of the machine's CPU time the hypervisor gave to others in between."""
    if before is None or after is None or len(before) < 8:
        return None
    spent = [b - a for a, b in zip(before, after, strict=False)]
    total = sum(spent[:8])  # user nice system idle iowait irq softirq steal
    return round(100.0 * spent[7] / total, 1) if total else None


def _figure(value: float) -> str:
    """A calibration figure as the seed writes it: 198,569 and 21.7, not 1.986e+05."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _load() -> float | None:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def section(results: list[dict[str, Any]], floors: list[dict[str, Any]] | None = None) -> str:
    """The Markdown section of docs/performance.md for the recorded runs and floors."""
    lines = [
        "## Simulated year (seed 004's province)\n",
        (__doc__ or "").strip().split("\n\n")[0].replace("\n", " ") + "\n",
        "Wall time includes the drain (the run goes on after the last arrival until every "
        "ticket is closed). *Whole year (est.)* extrapolates the run's rate to seed 004's "
        f"{YEAR:,} complaints; `python benchmarks/simulate_year.py --days 365 --record` "
        "measures it.\n",
        "| date | code | days of arrivals | tickets | engine calls | wall time | tickets/s | "
        "calls/s | whole year (est.) | transactions | CPU of wall | steal | load avg |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in results:
        days = f"{r['days']}" if r.get("complete", True) else (
            f"{r['days']} (stopped at day {r['simulated_days']:g})"
        )  # fmt: skip
        calls = f"{r['engine_calls']:,}" if r["engine_calls"] is not None else "–"
        per_s = r["engine_calls_per_second"]
        lines.append(
            f"| {r['date']} | {r.get('commit') or '–'} | {days} | {r['tickets']:,} | {calls} | "
            f"{r['wall_seconds'] / 60:.1f} min | {r['tickets_per_second']:.1f} | "
            f"{f'{per_s:.0f}' if per_s is not None else '–'} | "
            f"{r['year_estimate_minutes']:.0f} min | "
            f"{_transactions(r)} | {_share(r)} | "
            f"{_pct(r.get('steal_percent'))} | {r['load_average'] or 0:.1f} |"
        )
    notes = [f"{r['date']}: {r['note']}" for r in results if r.get("note")]
    if notes:
        lines.append("")
        lines.extend(f"* {n}" for n in notes)
    finished = [r for r in results if r.get("complete", True)]
    # A run that ended at its drain limit with tickets still open measured speed, but its
    # figures are those of a centre that did not keep up: they are not a calibration.
    settled = [r for r in finished if not r.get("open_at_end")]
    if settled:
        last = settled[-1]
        lines.append(
            f"\nThe last finished run with every ticket closed ({last['date']}; figures read "
            "back from the store): first-contact "
            f"resolution {last['fcr']:.1%}, mean handling time "
            f"{last['mean_handling_hours']:.1f} h, {last['tickets_per_seat_day']:.1f} tickets "
            "per seat per day (seed 004: 47 %, 21.7 h, 40)."
        )
        if last.get("calibration"):
            lines.append(
                "Against every figure of the scenario's seed: "
                + "; ".join(
                    f"{c['label']} {_figure(c['simulated'])} (seed {_figure(c['target'])}, "
                    f"{c['deviation']:+.1%})"
                    for c in last["calibration"]
                    if c["simulated"] is not None and c["deviation"] is not None
                )
                + "."
            )
    lines.append(
        "\n*CPU of wall* is the run's own CPU time over its wall time; *steal* the share of "
        "the machine's CPU time its hypervisor gave to other guests during the run; the "
        "load average is the machine's (shared, 2 cores) at the end of the run; *code* is "
        "the commit it ran (`+changes`: with uncommitted changes). A run "
        "*stopped at day N* was interrupted before its end; its rate is that of the days it "
        "simulated.\n"
    )
    whole = [r for r in finished if r["days"] >= 365]
    fastest = min(whole, key=lambda r: r["wall_seconds"]) if whole else None
    met = fastest is not None and fastest["wall_seconds"] < TARGET_MINUTES * 60
    if fastest is not None:
        measured = (
            f"The whole year ({fastest['tickets']:,} complaints, run on {fastest['date']}) "
            f"took {fastest['wall_seconds'] / 60:.0f} minutes at "
            f"{fastest['tickets_per_second']:.1f} complaints/s, "
            f"{fastest['wall_seconds'] / (TARGET_MINUTES * 60):.1f} times the target."
        )
    else:
        longest = max(finished or results, key=lambda r: r["tickets"])
        kind = "finished run" if finished else "run recorded"
        measured = (
            f"The longest {kind} ({longest['tickets']:,} complaints, {longest['days']} days "
            f"of arrivals) went at {longest['tickets_per_second']:.1f} complaints/s: a year "
            f"at that rate takes {longest['year_estimate_minutes']:.0f} minutes, "
            f"{longest['year_estimate_minutes'] / TARGET_MINUTES:.0f} times the target."
        )
    lines.append(
        f"**Target: the whole year in under {TARGET_MINUTES} minutes "
        f"({YEAR / (TARGET_MINUTES * 60):.0f} complaints/s): "
        f"{'met' if met else 'not met'}.** {measured}\n"
    )
    if floors:
        lines.append(floor_paragraph(floors[-1]))
    return "\n".join(lines) + "\n"


def floor_paragraph(f: dict[str, Any]) -> str:
    """What the newest ``--floor`` measurement says about the target."""
    n = f["tickets"]
    budget = TARGET_MINUTES * 60 * 1000 / YEAR  # milliseconds per complaint
    at = f" at {f['commit']}" if f.get("commit") else ""
    head = (
        f"Where the time goes (`python benchmarks/simulate_year.py --floor` on {f['date']}{at}: "
        f"{f['days']} day{'s' if f['days'] != 1 else ''} of arrivals under cProfile, "
        f"{n:,} complaints, "
        f"{f['engine_calls']:,} engine calls, {f['transactions']:,} transactions, "
        f"{f['statements']:,} SQL statements): a complaint costs on average "
        f"{f['engine_calls'] / n:.1f} engine calls, {f['transactions'] / n:.1f} transactions "
        f"and {f['statements'] / n:.0f} statements (the ticket, its workflow state, task rows, "
        "candidate groups, events, SLA jobs, scores). SQLite's own work (the sqlite3 module's "
        f"C calls: execute, commit, fetch) was {f['sqlite_ms_per_ticket']:.1f} ms per "
        f"complaint: {f['year_floor_minutes']:.0f} minutes for the year before any Python runs."
    )
    if f.get("wall_ms_per_ticket"):
        head += (
            f" Without the profiler a complaint took {f['wall_ms_per_ticket']:.1f} ms of wall "
            f"time, {f['runtime_ms_per_ticket']:.1f} ms of it running the BPMN "
            "(`runtime.Instance`: SpiffWorkflow with ticketflow's state compaction and "
            "expression evaluator)."
        )
    shares = f.get("shares")
    if shares:
        named = [("SQLAlchemy", "sqlalchemy"), ("SpiffWorkflow", "SpiffWorkflow"),
                 ("ticketflow", "ticketflow"), ("pluggy", "pluggy"),
                 ("the expression evaluator", "simpleeval")]  # fmt: skip
        parts = [f"{label} {shares[k]:.0%}" for label, k in named if shares.get(k, 0) >= 0.005]
        head += (
            f" Of the profiled time SQLite takes {shares.get('sqlite3', 0):.0%}, "
            + ", ".join(parts)
            + f", the rest (SimPy, json, uuid, the standard library) {shares.get('other', 0):.0%}"
            " (cProfile slows Python, not SQLite's C code, so SQLite's share is understated)."
        )
    if f["year_floor_minutes"] >= TARGET_MINUTES:
        verdict = (
            f" The target leaves {budget:.1f} ms per complaint in all, less than SQLite alone "
            "takes for these statements: while every engine call is its own transaction and "
            "every state change is written, no speed-up of the Python above SQLite reaches ten "
            "minutes; that needs fewer statements and commits per complaint (bulk writes of "
            "events, task rows and jobs; several steps in one transaction)."
        )
        if f.get("runtime_ms_per_ticket", 0) >= budget:
            verdict += (
                f" Running the BPMN alone takes {f['runtime_ms_per_ticket'] / budget:.1f} times "
                "that budget, so even then the target is out of reach while SpiffWorkflow "
                "loads, steps and stores every ticket's workflow at each action."
            )
    else:
        verdict = (
            f" The target leaves {budget:.1f} ms per complaint in all, "
            f"{budget - f['sqlite_ms_per_ticket']:.1f} ms of it for the Python above SQLite."
        )
    return head + verdict


def _share(r: dict[str, Any]) -> str:
    """The run's CPU time over its wall time (below 100 %: it waited for a CPU or I/O)."""
    cpu = r.get("cpu_seconds")
    return "–" if cpu is None else f"{100.0 * cpu / r['wall_seconds']:.0f} %"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} %"


def _transactions(r: dict[str, Any]) -> str:
    """How a recorded run committed (runs before the option existed were batched)."""
    if r.get("transactions", "batch") == "call":
        return "per call"
    return f"batch / {r['commit_every_minutes']:g} min"


def recorded(kind: str = "runs") -> list[dict[str, Any]]:
    """The ``runs`` (or ``floors``) recorded so far, newest last."""
    if not RESULTS.exists():
        return []
    data = json.loads(RESULTS.read_text(encoding="utf-8"))
    return list(data.get(kind, []))


def recorded_section() -> list[str]:
    """For benchmarks/run.py: the section between its markers, or nothing."""
    runs = recorded()
    return [f"{BEGIN}\n{section(runs, recorded('floors'))}{END}\n"] if runs else []


def record(result: dict[str, Any], kind: str = "runs") -> None:
    """Add a run (or a ``--floor`` measurement) to the records and rewrite the section."""
    data = {"runs": recorded(), "floors": recorded("floors")}
    data[kind].append(result)
    RESULTS.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    write_doc(data["runs"])


def write_doc(runs: list[dict[str, Any]]) -> None:
    """Put the section of ``runs`` into docs/performance.md (replacing an earlier one)."""
    block = f"{BEGIN}\n{section(runs, recorded('floors'))}{END}\n"
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Performance\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    DOC.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--days", type=int, help="days of arrivals (365: the year; default 30, 1 with --floor)"
    )
    parser.add_argument("--db", help="database URL (default: a new SQLite file)")
    parser.add_argument(
        "--commit-every", type=float, help="simulated minutes between due-job runs (and commits)"
    )
    parser.add_argument(
        "--transactions", choices=["call", "batch"], help="one per engine call, or batched"
    )
    parser.add_argument("--record", action="store_true", help="record in docs/performance.md")
    parser.add_argument(
        "--floor",
        action="store_true",
        help="profile --days (default 1) and count statements: where a complaint's time goes",
    )
    parser.add_argument(
        "--write-doc", action="store_true", help="only rewrite the section from the recorded runs"
    )
    args = parser.parse_args()
    # Stopping the run (Ctrl-C, or SIGTERM/SIGINT to a background run, which otherwise
    # ignores SIGINT) records what it measured so far.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    if args.write_doc:
        write_doc(recorded())
        return
    if args.floor:
        found = floor(args.days or 1, sys.stdout)
        print(json.dumps(found, indent=2))
        print(floor_paragraph(found))
        if args.record:
            record(found, "floors")
        return
    result = measure(args.days or 30, args.db, args.commit_every, args.transactions, sys.stdout)
    print(json.dumps(result, indent=2))
    if args.record:
        record(result)


if __name__ == "__main__":
    main()
