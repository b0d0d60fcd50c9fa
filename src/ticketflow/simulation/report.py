"""Reports of a run: ``kpi.json``, ``report.md``, ``report.html`` and PNG charts.

``kpi.json`` holds only figures from the simulated world, so the same scenario and seed
give a byte-identical file; wall-clock figures (run time, tickets per second) go to
``run.json`` and the run section of the report. Charts are drawn with matplotlib's Agg
backend (no display needed); HTML is rendered from the Markdown with markdown-it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ticketflow.simulation.kpi import TARGETS, TOLERANCE, lookup

CHARTS = ("backlog.png", "handling.png", "utilisation.png")
#: KPIs that are shares (shown as percentages).
SHARES = frozenset({"fcr"})
#: Headline figures of a comparison: (label, path into kpi.json, higher is better).
HEADLINES: tuple[tuple[str, tuple[str, ...], bool | None], ...] = (
    ("complaints a day", ("volume", "per_day"), None),
    ("first-contact resolution (%)", ("first_contact_resolution",), True),
    ("mean handling time (h)", ("handling_hours", "mean"), False),
    ("p50 handling time (h)", ("handling_hours", "p50"), False),
    ("p90 handling time (h)", ("handling_hours", "p90"), False),
    ("p95 handling time (h)", ("handling_hours", "p95"), False),
    ("tickets on time, SLA (%)", ("sla", "tickets_on_time"), True),
    ("tasks on time, SLA (%)", ("sla", "tasks_on_time"), True),
    ("tickets per seat per day", ("seats", "tickets_per_seat_day"), None),
    ("callback satisfaction", ("satisfaction", "mean_score"), True),
    ("satisfied at callback (%)", ("satisfaction", "satisfied_share"), True),
    ("tickets reopened", ("satisfaction", "reopened"), False),
    ("cost per ticket", ("cost", "per_ticket"), False),
    ("open at the end", ("open_at_end",), False),
)


def _get(data: Mapping[str, Any], path: Sequence[str]) -> Any:
    value: Any = data
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:,.{digits}f}"
    return str(value)


def _pct(value: Any) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def _percent(value: Any) -> Any:
    return round(value * 100, 2) if isinstance(value, float) else value


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> str:
    align = align or "l" + "r" * (len(head) - 1)
    marks = {"l": "---", "r": "---:"}
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(marks[a] for a in align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_report(kpis: Mapping[str, Any], run: Mapping[str, Any], out: Path) -> list[Path]:
    """Write kpi.json, run.json, the charts, report.md and report.html into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = [
        _write(out / "kpi.json", json.dumps(kpis, indent=2, ensure_ascii=False, sort_keys=True)),
        _write(out / "run.json", json.dumps(run, indent=2, ensure_ascii=False, sort_keys=True)),
    ]
    written += draw_charts(kpis, out)
    markdown = render_markdown(kpis, run)
    written.append(_write(out / "report.md", markdown))
    written.append(
        _write(out / "report.html", to_html(markdown, f"Simulation: {kpis['scenario']}"))
    )
    return written


def _write(path: Path, text: str) -> Path:
    path.write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
    return path


def render_markdown(kpis: Mapping[str, Any], run: Mapping[str, Any]) -> str:
    """The whole report as Markdown (charts referenced by file name)."""
    k = kpis
    window = k["window"]
    parts = [
        f"# Simulation: {k['scenario']}\n",
        f"Seed {k['seed']}, scale {k['scale']:g}. Measured: tickets opened from "
        f"{window['start'][:16]} to {window['end'][:16]} ({window['days']:g} days), followed "
        f"until {k['simulated_until'][:16]}. Every figure except utilisation and paid hours "
        "is read from the engine's store.\n",
        "## Headline figures\n",
        _table(
            ["figure", "value"],
            [
                ["complaints (measured)", _fmt(k["volume"]["tickets"])],
                ["complaints a day", _fmt(k["volume"]["per_day"], 1)],
                ["complaints a year (full scale)", _fmt(k["volume"]["annualised"])],
                ["first-contact resolution", _pct(k["first_contact_resolution"])],
                ["closed / still open at the end", f"{k['closed']:,} / {k['open_at_end']:,}"],
                ["mean handling time", f"{_fmt(k['handling_hours']['mean'])} h"],
                ["tickets within their SLA limit", _pct(k["sla"]["tickets_on_time"])],
                ["tasks within their SLA limit", _pct(k["sla"]["tasks_on_time"])],
                ["tickets per seat per day", _fmt(k["seats"]["tickets_per_seat_day"], 1)],
                ["callback satisfaction (0-100)", _fmt(k["satisfaction"]["mean_score"], 1)],
                ["cost per ticket", f"{_fmt(k['cost']['per_ticket'])} {k['cost']['currency']}"],
            ],
        )
        + "\n",
    ]
    if k.get("calibration"):
        parts += [
            "## Calibration\n",
            f"Targets from the scenario's `[targets]`; ✓ when within {TOLERANCE:.0%}.\n",
            _table(
                ["figure", "target", "simulated", "deviation", ""],
                [
                    [
                        row["label"],
                        _pct(row["target"]) if row["kpi"] in SHARES else _fmt(row["target"]),
                        _pct(row["simulated"]) if row["kpi"] in SHARES else _fmt(row["simulated"]),
                        _pct(row["deviation"]),
                        "✓" if row["within_10pct"] else "✗",
                    ]
                    for row in k["calibration"]
                ],
                "lrrrl",
            )
            + "\n",
        ]
    h, later = k["handling_hours"], k["handling_hours_after_first_contact"]
    parts += [
        "## Handling time (opened → closed, hours)\n",
        _table(
            ["tickets", "count", "mean", "p50", "p90", "p95"],
            [
                ["all closed", _fmt(h["count"])]
                + [_fmt(h[q]) for q in ("mean", "p50", "p90", "p95")],
                ["not solved at first contact", _fmt(later["count"])]
                + [_fmt(later[q]) for q in ("mean", "p50", "p90", "p95")],
            ],
        )
        + "\n",
        "![handling time](handling.png)\n",
        "## Backlog\n",
        "Open tickets and tasks waiting to be claimed, per lane, over the whole run.\n",
        "![backlog](backlog.png)\n",
        "## Tasks: waiting and work (minutes)\n",
        "Waiting is created → claimed; work is claimed → completed (it includes the time a "
        "ticket spent suspended).\n",
        _table(
            ["task", "completed", "mean wait", "p90 wait", "mean work"],
            [
                [
                    f"`{element}`",
                    _fmt(t["completed"]),
                    _fmt(t["wait_minutes_mean"], 1),
                    _fmt(t["wait_minutes_p90"], 1),
                    _fmt(t["work_minutes_mean"], 1),
                ]
                for element, t in k["tasks"].items()
            ],
        )
        + "\n",
        "## Staff\n",
        "Utilisation is busy time over shift time (the simulator's bookkeeping).\n",
        _table(
            [
                "role",
                "staff",
                "shift hours",
                "busy hours",
                "utilisation",
                "mean points",
                "max points",
            ],
            [
                [
                    role,
                    _fmt(u["staff"]),
                    _fmt(u["shift_hours"], 0),
                    _fmt(u["busy_hours"], 0),
                    _pct(u["utilisation"]),
                    _fmt(_get(k, ("points", "by_role", role, "mean")), 1),
                    _fmt(_get(k, ("points", "by_role", role, "max")), 1),
                ]
                for role, u in k["utilisation"].items()
            ],
        )
        + "\n",
        "![utilisation](utilisation.png)\n",
        f"Seats: {k['seats']['seat_staff']} people, {k['seats']['seat_days']:,} seat-days, "
        f"{k['seats']['ticket_touches']:,} tickets worked (a ticket counts once per person "
        f"and day) — {_fmt(k['seats']['tickets_per_seat_day'], 1)} per seat per day. Points "
        "are the piece-rate scores the engine recorded (`Engine.points`).\n",
        "## SLA\n",
        f"{_fmt(k['sla']['tickets_with_limit'])} closed tickets had a limit; "
        f"{_pct(k['sla']['tickets_on_time'])} closed within it, "
        f"{_fmt(k['sla']['tickets_breached'])} were marked breached by the engine's jobs.\n",
        _table(
            ["department (first candidate group)", "tasks completed", "on time", "open overdue"],
            [
                [key, _fmt(v["completed"]), _pct(v["on_time"]), _fmt(v["open_overdue"])]
                for key, v in k["sla"]["tasks_by_department"].items()
            ],
        )
        + "\n",
        "## Satisfaction and seed figures\n",
        _table(
            ["figure", "value"],
            [
                ["callbacks", _fmt(k["satisfaction"]["callbacks"])],
                ["mean callback score", _fmt(k["satisfaction"]["mean_score"], 1)],
                ["satisfied at callback", _pct(k["satisfaction"]["satisfied_share"])],
                ["unsatisfied callbacks", _fmt(k["satisfaction"]["unsatisfied"])],
                ["tickets reopened (events)", _fmt(k["satisfaction"]["reopened"])],
                ["pre-processing work (min)", _fmt(k["seed_figures"]["preprocessing_minutes"], 1)],
                ["feedback work (min)", _fmt(k["seed_figures"]["feedback_minutes"], 1)],
                [
                    "internal transfer p10 / p50 / p90 (h)",
                    " / ".join(
                        _fmt(k["seed_figures"]["internal_transfer_hours"][q], 1)
                        for q in ("p10", "p50", "p90")
                    ),
                ],
            ],
        )
        + "\n",
        "## Volume\n",
        _table(
            ["channel", "complaints"],
            [[c, _fmt(n)] for c, n in k["volume"]["by_channel"].items()],
        )
        + "\n",
        _table(
            ["category", "complaints"],
            [[c or "(none)", _fmt(n)] for c, n in k["volume"]["by_category"].items()],
        )
        + "\n",
        "## Cost\n",
        _table(
            ["role", f"staff cost ({k['cost']['currency']})"],
            [[role, _fmt(v)] for role, v in k["cost"]["staff_by_role"].items()]
            + [
                ["per ticket: staff", _fmt(k["cost"]["staff_per_ticket"])],
                ["per ticket: overhead", _fmt(k["cost"]["overhead_per_ticket"])],
                ["per ticket: total", _fmt(k["cost"]["per_ticket"])],
            ],
        )
        + "\n",
        "## Run\n",
        _table(
            ["figure", "value"],
            [
                ["tickets opened (whole run)", _fmt(run.get("tickets_opened"))],
                ["engine calls", _fmt(run.get("engine_calls"))],
                ["wall time", f"{_fmt(run.get('wall_seconds'), 1)} s"],
                ["simulated tickets per second", _fmt(run.get("tickets_per_second"), 1)],
                ["database", str(run.get("database", "—"))],
            ],
        )
        + "\n",
    ]
    return "\n".join(parts)


def to_html(markdown: str, title: str) -> str:
    """A standalone HTML page of ``markdown`` (tables enabled)."""
    from html import escape

    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(markdown)
    style = (
        "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
        "color:#222}table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;"
        "padding:.25rem .6rem}th{background:#f3f3f3}img{max-width:100%}code{background:#f3f3f3}"
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{style}</style>\n</head>\n<body>\n{body}"
        "</body>\n</html>\n"
    )


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - depends on the installation
        from ticketflow.simulation.centre import SimulationError

        raise SimulationError(
            "charts need matplotlib: pip install 'ticketflow[simulation]'"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw_charts(kpis: Mapping[str, Any], out: Path) -> list[Path]:
    """backlog.png, handling.png and utilisation.png of one run."""
    plt = _pyplot()
    series = kpis["series"]
    days = [h / 24 for h in series["hours"]]
    paths = []

    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot(days, series["open_tickets"], label="open tickets", color="black", linewidth=1.4)
    for lane, counts in series["waiting_tasks"].items():
        if any(counts):
            ax.plot(days, counts, label=f"waiting: {lane}", linewidth=0.9)
    ax.set_xlabel("simulated day")
    ax.set_ylabel("count")
    ax.set_title("Backlog over time")
    ax.legend(fontsize=7, ncol=2)
    paths.append(_save(fig, out / "backlog.png", plt))

    hist = kpis["handling_histogram"]
    width = hist["bin_hours"]
    fig, ax = plt.subplots(figsize=(9, 4))
    edges = [i * width for i in range(len(hist["counts"]))]
    ax.bar(edges, hist["counts"], width=width, align="edge", color="#4477aa")
    ax.set_xlabel(f"hours from opened to closed ({hist['overflow']} tickets beyond the last bin)")
    ax.set_ylabel("tickets")
    ax.set_title("Handling time")
    paths.append(_save(fig, out / "handling.png", plt))

    roles = list(kpis["utilisation"])
    values = [(kpis["utilisation"][r]["utilisation"] or 0.0) * 100 for r in roles]
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.bar(roles, values, color="#66aa55")
    ax.set_ylabel("busy / on shift (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Utilisation by role")
    ax.tick_params(axis="x", labelrotation=30)
    paths.append(_save(fig, out / "utilisation.png", plt))
    return paths


def _save(fig: Any, path: Path, plt: Any) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def comparison_rows(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Headline figures of two runs side by side, with the difference."""
    rows = []
    for label, path, better in HEADLINES:
        va, vb = _get(a, path), _get(b, path)
        if label.endswith("(%)"):
            va, vb = _percent(va), _percent(vb)
        delta = vb - va if isinstance(va, (int, float)) and isinstance(vb, (int, float)) else None
        relative = delta / va if delta is not None and va else None
        rows.append(
            {
                "figure": label,
                "a": va,
                "b": vb,
                "delta": delta,
                "relative": relative,
                "better": None if better is None or not delta else (delta > 0) == better,
            }
        )
    return rows


def write_comparison(a: Mapping[str, Any], b: Mapping[str, Any], out: Path) -> list[Path]:
    """compare.json, compare.md, compare.html and compare_backlog.png for runs A and B."""
    out.mkdir(parents=True, exist_ok=True)
    rows = comparison_rows(a, b)
    data = {"a": a["scenario"], "b": b["scenario"], "rows": rows}
    lines = [
        f"# Comparison: {a['scenario']} → {b['scenario']}\n",
        f"A is `{a['scenario']}`, B is `{b['scenario']}`; same seed ({a['seed']} / {b['seed']}), "
        "so both see the same complaints. Detailed reports: [A](a/report.md), [B](b/report.md).\n",
        _table(
            ["figure", "A", "B", "B − A", "change", ""],
            [
                [
                    r["figure"],
                    _fmt(r["a"]),
                    _fmt(r["b"]),
                    _fmt(r["delta"]),
                    _pct(r["relative"]),
                    {True: "better", False: "worse", None: ""}[r["better"]],
                ]
                for r in rows
            ],
            "lrrrrl",
        )
        + "\n",
        "![backlog](compare_backlog.png)\n",
    ]
    markdown = "\n".join(lines)
    written = [
        _write(out / "compare.json", json.dumps(data, indent=2, ensure_ascii=False)),
        _write(out / "compare.md", markdown),
        _write(out / "compare.html", to_html(markdown, "Simulation comparison")),
    ]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4))
    for label, k in (("A: " + a["scenario"], a), ("B: " + b["scenario"], b)):
        s = k["series"]
        ax.plot([h / 24 for h in s["hours"]], s["open_tickets"], label=label)
    ax.set_xlabel("simulated day")
    ax.set_ylabel("open tickets")
    ax.set_title("Backlog: A against B")
    ax.legend(fontsize=8)
    written.append(_save(fig, out / "compare_backlog.png", plt))
    return written


def calibration_lines(kpis: Mapping[str, Any]) -> list[str]:
    """One line per calibration target, for consoles and logs."""
    return [
        f"{TARGETS[row['kpi']][1]}: target {_fmt(row['target'])}, simulated "
        f"{_fmt(lookup(kpis, row['kpi']))} ({_pct(row['deviation'])})"
        for row in kpis.get("calibration", [])
    ]
