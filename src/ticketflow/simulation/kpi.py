"""Key figures of a run, read back from the engine's store.

Volume, first-contact resolution, handling times, SLA compliance, backlog, waiting and
work times per task, satisfaction, seat productivity and the seed's secondary figures
are all computed from ``tf_ticket``, ``tf_task``, ``tf_event`` and ``tf_score`` rows —
the real engine's data. Only what the store cannot know comes from the simulator's own
bookkeeping: how long each person was on shift and busy (utilisation, paid hours).

The measurement window is [start + warmup_days, start + days): tickets opened in it are
measured (followed to their close during the drain), work done in it is counted.
"""

from __future__ import annotations

import statistics
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ticketflow.engine import Engine
from ticketflow.reports import sla_compliance
from ticketflow.runtime.expressions import ExpressionError, evaluate
from ticketflow.simulation.centre import RunResult
from ticketflow.store.models import EventRow, TaskRow, TicketRow

#: How each calibration target is read from the KPI dictionary, and what it means.
TARGETS: Mapping[str, tuple[tuple[str, ...], str]] = {
    "annual_volume": (("volume", "annualised"), "complaints a year"),
    "daily_arrivals": (("volume", "per_day_full_scale"), "complaints a day"),
    "fcr": (("first_contact_resolution",), "first-contact resolution"),
    "mean_handling_hours": (("handling_hours", "mean"), "mean handling time (h)"),
    "tickets_per_seat_day": (("seats", "tickets_per_seat_day"), "tickets per seat per day"),
    "satisfaction": (("satisfaction", "mean_score"), "callback satisfaction (0-100)"),
    "cost_per_ticket": (("cost", "per_ticket"), "cost per ticket"),
    "preprocessing_minutes": (("seed_figures", "preprocessing_minutes"), "pre-processing (min)"),
    "feedback_minutes": (("seed_figures", "feedback_minutes"), "feedback (min)"),
}
TOLERANCE = 0.10
HISTOGRAM_BIN_HOURS = 4.0
HISTOGRAM_BINS = 42  # one week; longer times are counted as overflow


def _hours(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 3600.0


def summary(values: Sequence[float]) -> dict[str, float | int | None]:
    """Count, mean and percentiles (p10, p50, p90, p95) of ``values``."""
    if not values:
        return {"count": 0, "mean": None, "p10": None, "p50": None, "p90": None, "p95": None}
    ordered = sorted(values)
    if len(ordered) == 1:
        cuts = [ordered[0]] * 99
    else:
        cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return {
        "count": len(ordered),
        "mean": statistics.fmean(ordered),
        "p10": cuts[9],
        "p50": cuts[49],
        "p90": cuts[89],
        "p95": cuts[94],
    }


def histogram(values: Iterable[float], width: float, bins: int) -> dict[str, Any]:
    """Counts of ``values`` in ``bins`` bins of ``width`` from 0, and the overflow."""
    counts = [0] * bins
    overflow = 0
    for v in values:
        index = int(v // width)
        if index >= bins:
            overflow += 1
        else:
            counts[max(index, 0)] += 1
    return {"bin_hours": width, "counts": counts, "overflow": overflow}


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


@dataclass(frozen=True)
class _Ticket:
    id: int
    opened: datetime
    closed: datetime | None
    end: str | None
    channel: str
    category: str
    due: datetime | None
    breached: bool


def compute(engine: Engine, result: RunResult) -> dict[str, Any]:
    """Every KPI of the run as JSON-ready data (floats rounded, keys sorted by topic)."""
    scenario = result.scenario
    process = scenario.scenario.process
    lo, hi = result.at(result.window[0]), result.at(result.window[1])
    end = result.at(result.end_minutes)
    zone = ZoneInfo(scenario.scenario.timezone)
    with Session(engine.bind) as s:
        every = [
            _Ticket(r.id, r.opened_at, r.closed_at, r.end_element, r.channel, r.subject or "",
                    r.due_at, r.sla_breached_at is not None)
            for r in s.execute(
                select(
                    TicketRow.id, TicketRow.opened_at, TicketRow.closed_at, TicketRow.end_element,
                    TicketRow.channel, TicketRow.subject, TicketRow.due_at,
                    TicketRow.sla_breached_at,
                ).where(TicketRow.process_id == process)
            )
        ]  # fmt: skip
        tasks = list(
            s.execute(
                select(
                    TaskRow.ticket_id,
                    TaskRow.element_id,
                    TaskRow.lane,
                    TaskRow.state,
                    TaskRow.created_at,
                    TaskRow.claimed_at,
                    TaskRow.completed_at,
                    TaskRow.completed_by,
                ).where(TaskRow.process_id == process)
            )
        )
        judges = _callback_elements(engine, process)
        callbacks = list(
            s.execute(
                select(TaskRow.ticket_id, TaskRow.element_id, TaskRow.form_data).where(
                    TaskRow.process_id == process,
                    TaskRow.element_id.in_(judges),
                    TaskRow.state == "completed",
                )
            )
        )
        reopened_tickets = list(
            s.scalars(select(EventRow.ticket_id).where(EventRow.kind == "ticket_reopened"))
        )
    measured = [t for t in every if lo <= t.opened < hi]
    measured_ids = {t.id for t in measured}
    reopen_count = sum(1 for t in reopened_tickets if t in measured_ids)
    days = result.window_days
    closed = [t for t in measured if t.closed is not None]
    first_contact = set(scenario.kpi.first_contact_ends)
    handling = [_hours(t.opened, t.closed) for t in closed if t.closed is not None]
    later = [
        _hours(t.opened, t.closed)
        for t in closed
        if t.closed is not None and t.end not in first_contact
    ]
    out: dict[str, Any] = {
        "scenario": scenario.name,
        "seed": scenario.scenario.seed,
        "scale": scenario.scenario.scale,
        "window": {
            "start": lo.astimezone(zone).isoformat(),
            "end": hi.astimezone(zone).isoformat(),
            "days": days,
        },
        "simulated_until": end.astimezone(zone).isoformat(),
        "volume": {
            "tickets": len(measured),
            "per_day": _ratio(len(measured), days),
            "per_day_full_scale": _ratio(len(measured), days * scenario.scenario.scale),
            "annualised": _ratio(len(measured) * 365.0, days * scenario.scenario.scale),
            "by_channel": dict(sorted(Counter(t.channel for t in measured).items())),
            "by_category": dict(sorted(Counter(t.category for t in measured).items())),
        },
        "first_contact_resolution": _ratio(
            sum(1 for t in measured if t.end in first_contact), len(measured)
        ),
        "closed": len(closed),
        "open_at_end": len(measured) - len(closed),
        "handling_hours": summary(handling),
        "handling_hours_after_first_contact": summary(later),
        "handling_histogram": histogram(handling, HISTOGRAM_BIN_HOURS, HISTOGRAM_BINS),
        "sla": _sla(engine, measured, lo, end, process),
        "tasks": _task_times(tasks, measured_ids),
        "seed_figures": _seed_figures(tasks, measured_ids, scenario.kpi),
        "satisfaction": _satisfaction(
            [(e, f) for t, e, f in callbacks if t in measured_ids],
            judges,
            scenario.callback.score_field,
            reopen_count,
        ),
        "utilisation": _utilisation(result),
        "seats": _seats(tasks, result, lo, hi, zone),
        "points": _points(engine, result, lo),
        "cost": _cost(result, len(measured)),
        "series": _series(every, tasks, result),
    }
    out["calibration"] = calibration(out, scenario.targets)
    rounded: dict[str, Any] = _rounded(out)
    return rounded


def _callback_elements(engine: Engine, process: str) -> dict[str, str]:
    """The callback tasks (``ticketflow.callback``) and the expression judging each."""
    definition = engine.definition(process)
    return {
        e: info.callback for e, info in definition.user_tasks.items() if info.callback is not None
    }


def _sla(
    engine: Engine, measured: list[_Ticket], lo: datetime, end: datetime, process: str
) -> dict[str, Any]:
    with_due = [t for t in measured if t.due is not None and t.closed is not None]
    on_time = sum(
        1 for t in with_due if t.closed is not None and t.due is not None and t.closed <= t.due
    )
    rows = sla_compliance(engine, "department", since=lo, process_id=process, now=end)
    done = sum(r.completed for r in rows)
    return {
        "tickets_with_limit": len(with_due),
        "tickets_on_time": _ratio(on_time, len(with_due)),
        "tickets_breached": sum(1 for t in measured if t.breached),
        "tasks_on_time": _ratio(sum(r.on_time for r in rows), done),
        "tasks_by_department": {
            r.key: {
                "completed": r.completed,
                "on_time": r.compliance,
                "open_overdue": r.open_overdue,
            }
            for r in sorted(rows, key=lambda r: r.key)
        },
    }


def _task_times(tasks: Iterable[Any], measured: set[int]) -> dict[str, Any]:
    waits: dict[str, list[float]] = defaultdict(list)
    works: dict[str, list[float]] = defaultdict(list)
    for t in tasks:
        if t.ticket_id not in measured or t.state != "completed" or t.completed_at is None:
            continue
        claimed = t.claimed_at or t.completed_at
        waits[t.element_id].append(_hours(t.created_at, claimed) * 60)
        works[t.element_id].append(_hours(claimed, t.completed_at) * 60)
    return {
        element: {
            "completed": len(waits[element]),
            "wait_minutes_mean": statistics.fmean(waits[element]),
            "wait_minutes_p90": summary(waits[element])["p90"],
            "work_minutes_mean": statistics.fmean(works[element]),
        }
        for element in sorted(waits)
    }


def _seed_figures(tasks: Iterable[Any], measured: set[int], kpi: Any) -> dict[str, Any]:
    work: dict[str, list[float]] = defaultdict(list)
    dispatched: dict[int, datetime] = {}
    handled: dict[int, datetime] = {}
    for t in tasks:
        if t.ticket_id not in measured or t.state != "completed" or t.completed_at is None:
            continue
        claimed = t.claimed_at or t.completed_at
        work[t.element_id].append(_hours(claimed, t.completed_at) * 60)
        if t.element_id == kpi.transfer_from:
            first = dispatched.get(t.ticket_id)
            dispatched[t.ticket_id] = min(first, t.completed_at) if first else t.completed_at
        elif t.element_id == kpi.transfer_to:
            last = handled.get(t.ticket_id)
            handled[t.ticket_id] = max(last, t.completed_at) if last else t.completed_at
    transfer = [
        _hours(dispatched[k], handled[k])
        for k in dispatched
        if k in handled and handled[k] >= dispatched[k]
    ]

    def mean_sum(elements: list[str]) -> float | None:
        means = [statistics.fmean(work[e]) for e in elements if work.get(e)]
        return sum(means) if means else None

    return {
        "preprocessing_minutes": mean_sum(kpi.preprocessing_tasks),
        "feedback_minutes": mean_sum(kpi.feedback_tasks),
        "internal_transfer_hours": summary(transfer),
    }


def _satisfaction(
    forms: list[tuple[str, Any]], judges: Mapping[str, str], field: str, reopened: int
) -> dict[str, Any]:
    """Callbacks of the measured tickets: their scores, and each judged as the engine
    judged it, by the task's ``ticketflow.callback`` expression (read on its form)."""
    scores = [
        float(f[field])
        for _, f in forms
        if isinstance(f, dict) and isinstance(f.get(field), (int, float))
    ]
    satisfied = []
    for element, form in forms:
        if not isinstance(form, dict):
            continue
        try:
            satisfied.append(bool(evaluate(judges[element], form)))
        except ExpressionError:
            continue  # the expression reads ticket data beyond the callback's form
    return {
        "callbacks": len(forms),
        "mean_score": statistics.fmean(scores) if scores else None,
        "satisfied_share": _ratio(sum(satisfied), len(satisfied)),
        "unsatisfied": len(satisfied) - sum(satisfied),
        "reopened": reopened,
    }


def _utilisation(result: RunResult) -> dict[str, Any]:
    roles: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for w in result.workers:
        acc = roles[w.role]
        acc[0] += w.busy_minutes
        acc[1] += w.shift_minutes
        acc[2] += 1
    return {
        role: {"staff": int(n), "busy_hours": busy / 60, "shift_hours": shift / 60,
               "utilisation": _ratio(busy, shift)}
        for role, (busy, shift, n) in sorted(roles.items())
    }  # fmt: skip


def _seats(
    tasks: Iterable[Any], result: RunResult, lo: datetime, hi: datetime, zone: ZoneInfo
) -> dict[str, Any]:
    seats = {w.id for w in result.workers if w.seat}
    touched = {
        (t.completed_by, t.ticket_id, t.completed_at.astimezone(zone).date())
        for t in tasks
        if t.completed_by in seats and t.completed_at is not None and lo <= t.completed_at < hi
    }
    seat_days = sum(w.worked_days for w in result.workers if w.seat)
    return {
        "seat_staff": len(seats),
        "seat_days": seat_days,
        "ticket_touches": len(touched),
        "tickets_per_seat_day": _ratio(len(touched), seat_days),
    }


def _points(engine: Engine, result: RunResult, lo: datetime) -> dict[str, Any]:
    points = engine.points(since=lo)
    by_role: dict[str, list[float]] = defaultdict(list)
    for w in result.workers:
        by_role[w.role].append(points.get(w.id, 0.0))
    return {
        "by_role": {
            role: {"staff": len(values), "mean": statistics.fmean(values), "max": max(values),
                   "min": min(values), "total": sum(values)}
            for role, values in sorted(by_role.items())
        },
        "top": dict(sorted(points.items(), key=lambda kv: (-kv[1], kv[0]))[:10]),
    }  # fmt: skip


def _cost(result: RunResult, tickets: int) -> dict[str, Any]:
    staff = result.scenario.staff
    by_role: dict[str, float] = defaultdict(float)
    for w in result.workers:
        role = staff[w.role]
        paid = w.shift_minutes if role.paid == "shift" else w.busy_minutes
        by_role[w.role] += paid / 60 * role.cost_per_hour
    total = sum(by_role.values())
    overhead = result.scenario.cost.overhead_per_ticket
    staff_per_ticket = _ratio(total, tickets)
    return {
        "currency": result.scenario.cost.currency,
        "staff_total": total,
        "staff_by_role": dict(sorted(by_role.items())),
        "staff_per_ticket": staff_per_ticket,
        "overhead_per_ticket": overhead,
        "per_ticket": (staff_per_ticket + overhead) if staff_per_ticket is not None else None,
    }


def _series(every: list[_Ticket], tasks: list[Any], result: RunResult) -> dict[str, Any]:
    """Open tickets and tasks waiting per lane, sampled over the whole run."""
    end = result.end_minutes
    step = max(60.0, round(end / 1500 / 60) * 60.0)
    points = [i * step for i in range(int(end // step) + 1)]
    at = [result.at(m) for m in points]
    opened = sorted(t.opened for t in every)
    closed = sorted(t.closed for t in every if t.closed is not None)
    backlog = [bisect_right(opened, x) - bisect_right(closed, x) for x in at]
    lanes: dict[str, tuple[list[datetime], list[datetime]]] = defaultdict(lambda: ([], []))
    for t in tasks:
        starts, stops = lanes[t.lane or "(none)"]
        starts.append(t.created_at)
        stop = t.claimed_at or t.completed_at
        if stop is not None:
            stops.append(stop)
    waiting = {}
    for lane, (starts, stops) in sorted(lanes.items()):
        starts.sort()
        stops.sort()
        waiting[lane] = [bisect_right(starts, x) - bisect_right(stops, x) for x in at]
    return {"hours": [m / 60 for m in points], "open_tickets": backlog, "waiting_tasks": waiting}


def calibration(kpis: Mapping[str, Any], targets: Mapping[str, float]) -> list[dict[str, Any]]:
    """Each target beside its simulated value, the deviation and whether it is within 10 %."""
    rows = []
    for name, target in targets.items():
        label = TARGETS[name][1]
        value = lookup(kpis, name)
        deviation = (
            (value - target) / target if isinstance(value, (int, float)) and target else None
        )
        rows.append(
            {
                "kpi": name,
                "label": label,
                "target": target,
                "simulated": value,
                "deviation": deviation,
                "within_10pct": deviation is not None and abs(deviation) <= TOLERANCE,
            }
        )
    return rows


def lookup(kpis: Mapping[str, Any], name: str) -> Any:
    """The value of calibration KPI ``name`` (see :data:`TARGETS`) in ``kpis``."""
    value: Any = kpis
    for key in TARGETS[name][0]:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    return value
