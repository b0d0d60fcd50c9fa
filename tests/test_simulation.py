"""The service-centre simulator: scenario validation, KPI arithmetic, reproducibility,
reports and the CLI. Every run drives the real engine on the test database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ticketflow.cli import app
from ticketflow.simulation.centre import Centre, SimulationError
from ticketflow.simulation.report import comparison_rows, write_comparison, write_report
from ticketflow.simulation.runner import simulate
from ticketflow.simulation.scenario import ScenarioError, load_scenario, parse_scenario

from .conftest import PROCESSES, ROOT

EXAMPLES = ROOT / "examples" / "simulation"

# Every decision is certain and every handling time constant; each group has more staff
# than it can ever need, so nothing waits and each complaint takes exactly
# 4 + 2 + 10 + 3 + 20 + 3 + 5 = 47 minutes from intake to the closing callback. Nobody
# calls after 22:00, so all work on a day's complaints is done that day.
TINY = f"""
[scenario]
name = "tiny"
processes = "{PROCESSES.as_posix()}"
start = 2026-03-02T00:00:00
timezone = "UTC"
holidays = "none"
days = 2
warmup_days = 0
drain_days = 1
seed = 7

[arrivals]
annual_volume = 3650
channels = {{ hotline = 1.0 }}
hourly_profile = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]

[categories.billing]
share = 1.0
l1 = "计费 billing"
l2 = "话费 fees"
l3 = "多扣 overcharge"
department = "dept_billing"

[staff.agent]
groups = ["intake_agent"]
cost_per_hour = 10.0
[[staff.agent.shifts]]
count = 6
days = ["mon-sun"]
hours = ["00:00-24:00"]

[staff.seat]
groups = ["back_office", "callback_agent"]
seat = true
cost_per_hour = 20.0
paid = "busy"
[[staff.seat.shifts]]
count = 8
days = ["mon-sun"]
hours = ["00:00-24:00"]

[staff.billing]
groups = ["dept_billing", "difficult_team", "team_lead", "dept_manager", "centre_director"]
paid = "busy"
cost_per_hour = 30.0
[[staff.billing.shifts]]
count = 8
days = ["mon-sun"]
hours = ["00:00-24:00"]

[tasks.front_desk]
handling = 4
form = {{ resolved = {{ probability = 0.0 }} }}
[tasks.record]
handling = 2
follow_on = true
form = {{ description = "{{category.l3}}", urgency = "normal" }}
[tasks.classify]
handling = 10
form = {{ category_l1 = "{{category.l1}}", category_l2 = "{{category.l2}}", category_l3 = "{{category.l3}}" }}
[tasks.dispatch]
handling = 3
follow_on = true
form = {{ department = "{{category.department}}" }}
[tasks.handle]
handling = 20
form = {{ outcome = "resolved", refund_amount = 0.0 }}
[tasks.reply]
handling = 3
follow_on = true
form = {{ reply = "done" }}
[tasks.callback]
handling = 5
[tasks.difficult_review]
handling = 30
form = {{ resolution = "x", escalation_level = "department" }}
[tasks.verify_refund]
handling = 5
form = {{ verified = true }}
[tasks.approve_refund_l1]
handling = 5
form = {{ approved = true }}
[tasks.approve_refund_l2]
handling = 5
form = {{ approved = true }}
[tasks.approve_refund_l3]
handling = 5
form = {{ approved = true }}

[callback]
score = 80
satisfied_threshold = 60

[sla]
ticket_hours = {{ normal = 24.0 }}
days = ["mon-sun"]
hours = ["00:00-24:00"]

[cost]
overhead_per_ticket = 1.5

[targets]
fcr = 0.5
"""


def tiny(**changes: Any) -> Any:
    scenario = parse_scenario(TINY, "tiny.toml")
    return scenario.with_run(**changes) if changes else scenario


# ------------------------------------------------------------------ scenario validation


def test_example_scenarios_are_valid() -> None:
    for path in sorted(EXAMPLES.glob("*.toml")):
        scenario = load_scenario(path)
        assert scenario.path == path
        assert scenario.processes_path().is_dir()


def test_whatif_starts_from_the_calibrated_province(tmp_path: Path) -> None:
    base = load_scenario(EXAMPLES / "province_2011.toml")
    whatif = load_scenario(EXAMPLES / "province_whatif.toml")
    assert whatif.arrivals == base.arrivals and whatif.targets == base.targets
    assert whatif.tasks["front_desk"].form["resolved"].probability == 0.54  # type: ignore[union-attr]
    assert base.tasks["front_desk"].form["resolved"].probability == 0.47  # type: ignore[union-attr]
    assert [s.count for s in whatif.staff["seat"].shifts] > [
        s.count for s in base.staff["seat"].shifts
    ]
    assert whatif.tasks["front_desk"].form["reply"] == base.tasks["front_desk"].form["reply"]
    # A scenario kept elsewhere extends it: the province's processes folder is still the
    # one beside the province's file, not one beside the new file.
    elsewhere = tmp_path / "mine.toml"
    elsewhere.write_text(
        f'base = "{(EXAMPLES / "province_2011.toml").as_posix()}"\n[scenario]\nname = "Mine"\n',
        encoding="utf-8",
    )
    assert load_scenario(elsewhere).processes_path() == ROOT / "processes"
    loop = tmp_path / "loop.toml"
    loop.write_text('base = "loop.toml"\n', encoding="utf-8")
    with pytest.raises(ScenarioError, match="base: loop.toml leads back to itself"):
        load_scenario(loop)


def test_invalid_toml_names_file_and_line() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario("[scenario\nname = 1", "bad.toml")
    assert str(info.value).startswith("bad.toml: invalid scenario (1 problem)")
    assert "not valid TOML" in str(info.value) and "line 1" in str(info.value)


def test_every_problem_is_named_by_key() -> None:
    text = (
        TINY.replace(
            'days = ["mon-sun"]\nhours = ["00:00-24:00"]\n\n[staff.seat]',
            'days = ["mon-sunday"]\nhours = ["09:00-08:00"]\n\n[staff.seat]',
        )
        .replace("count = 8\ndays", "count = 0\ndays", 1)
        .replace("handling = 10\n", 'handling = { dist = "lognormal", mean = 10 }\n')
        .replace("[callback]", "[callback]\nscor = 1")
        .replace("channels = { hotline = 1.0 }", "channels = { telegram = 1.0 }")
        .replace("fcr = 0.5", "fcr = 0.5\nspeed = 3")
    )
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "centre.toml")
    problems = "\n".join(info.value.problems)
    assert info.value.file == "centre.toml"
    assert "staff.agent.shifts[0].days: 'mon-sunday' is not a weekday" in problems
    assert "staff.agent.shifts[0].hours: '09:00-08:00' must run forwards" in problems
    assert "staff.seat.shifts[0].count: Input should be greater than or equal to 1" in problems
    assert "tasks.classify.handling: a lognormal distribution needs sd" in problems
    assert "callback.scor: unknown key" in problems
    assert "targets: unknown target speed" in problems


def test_unknown_channel_and_window() -> None:
    with pytest.raises(ScenarioError, match="unknown channel telegram"):
        parse_scenario(TINY.replace("hotline = 1.0", "telegram = 1.0"), "c.toml")
    with pytest.raises(ScenarioError, match=r"scenario: warmup_days \(3\) must be shorter"):
        tiny(warmup_days=3)
    with pytest.raises(ScenarioError, match="cannot be read"):
        load_scenario(ROOT / "no-such-scenario.toml")


def test_scenario_must_fit_the_process(db_url: str) -> None:
    text = (
        TINY.replace("[tasks.verify_refund]", "[tasks.verify_refunds]")
        .replace('form = { reply = "done" }', 'form = { answer = "done" }')
        .replace('urgency = "normal"', 'urgency = "soon"')
    )
    with pytest.raises(ScenarioError) as info:
        Centre(parse_scenario(text, "fit.toml"), db_url)
    problems = "\n".join(info.value.problems)
    assert "tasks: no settings for user task verify_refund" in problems
    assert "tasks.verify_refunds: process 'complaint' has no user task 'verify_refunds'" in problems
    assert "tasks.reply.form.answer: task 'reply' has no form field 'answer'" in problems
    assert "tasks.record.form.urgency: 'soon' is not an option of 'urgency'" in problems


def test_every_group_needs_staff(db_url: str) -> None:
    text = TINY.replace('groups = ["back_office", "callback_agent"]', 'groups = ["back_office"]')
    with pytest.raises(ScenarioError, match="nobody serves callback_agent"):
        Centre(parse_scenario(text, "staff.toml"), db_url)


def test_refused_form_data_names_ticket_task_and_scenario_key(db_url: str) -> None:
    text = TINY.replace('urgency = "normal"', 'urgency = "{channel}"')
    with pytest.raises(SimulationError, match=r"task \d+ 'record'.*\[tasks.record\]"):
        simulate(parse_scenario(text, "form.toml"), db_url)


# ------------------------------------------------------------------ KPI arithmetic


def test_kpis_of_a_tiny_centre_add_up(db_url: str) -> None:
    outcome = simulate(tiny(), db_url)
    k, result = outcome.kpis, outcome.result
    n = k["volume"]["tickets"]
    assert 10 <= n <= 32  # Poisson, 10 a day for 2 days
    assert k["volume"]["per_day"] == pytest.approx(n / 2)
    assert k["volume"]["by_channel"] == {"hotline": n}
    assert k["first_contact_resolution"] == 0.0
    assert k["closed"] == n and k["open_at_end"] == 0
    for q in ("mean", "p10", "p50", "p90", "p95"):
        assert k["handling_hours"][q] == pytest.approx(47 / 60, abs=1e-3)
    assert k["tasks"]["classify"] == {
        "completed": n,
        "wait_minutes_mean": 0.0,
        "wait_minutes_p90": 0.0,
        "work_minutes_mean": 10.0,
    }
    assert k["seed_figures"]["preprocessing_minutes"] == pytest.approx(13.0)
    assert k["seed_figures"]["feedback_minutes"] == pytest.approx(3.0)
    assert k["satisfaction"] == {
        "callbacks": n,
        "mean_score": 80.0,
        "satisfied_share": 1.0,
        "unsatisfied": 0,
        "reopened": 0,
    }
    assert k["sla"]["tickets_on_time"] == 1.0 and k["sla"]["tickets_breached"] == 0
    # Seats did classify+dispatch and the callback: 18 busy minutes per complaint.
    seat = k["utilisation"]["seat"]
    assert seat["busy_hours"] == pytest.approx(n * 18 / 60, abs=1e-3)
    assert seat["shift_hours"] == pytest.approx(8 * 48)
    assert seat["utilisation"] == pytest.approx(n * 18 / (8 * 48 * 60), abs=1e-4)
    # Piece rate: a billing complaint pays its handler 1.4 points.
    assert k["points"]["by_role"]["billing"]["total"] == pytest.approx(1.4 * n)
    # Cost: agents are paid their shifts, the others their busy time, plus overhead.
    agents = 6 * 48 * 10.0
    seats = n * 18 / 60 * 20.0
    billing = n * 23 / 60 * 30.0
    assert k["cost"]["per_ticket"] == pytest.approx((agents + seats + billing) / n + 1.5, abs=1e-3)
    assert k["calibration"] == [
        {
            "kpi": "fcr",
            "label": "first-contact resolution",
            "target": 0.5,
            "simulated": 0.0,
            "deviation": -1.0,
            "within_10pct": False,
        }
    ]
    assert outcome.run["tickets_opened"] == result.tickets_opened == n
    # The store agrees with the engine's own API.
    from ticketflow import Engine

    with Engine(db_url) as engine:
        assert engine.tickets(process_id="complaint", status="closed").total == n
        assert sum(engine.points().values()) == pytest.approx(1.4 * n)


def test_waiting_emerges_from_staffing(db_url: str, tmp_path: Path) -> None:
    busy = TINY.replace("count = 8\ndays = [\"mon-sun\"]\nhours = [\"00:00-24:00\"]\n\n[staff.billing]",
                        "count = 1\ndays = [\"mon-sun\"]\nhours = [\"08:00-12:00\"]\n\n[staff.billing]")  # fmt: skip
    k = simulate(parse_scenario(busy, "busy.toml"), db_url).kpis
    assert k["tasks"]["classify"]["wait_minutes_mean"] > 60
    assert k["handling_hours"]["mean"] > 2
    assert 0.25 < k["utilisation"]["seat"]["utilisation"] < 1.05


def test_resumed_work_keeps_its_place_in_the_queue(db_url: str) -> None:
    # One billing handler for 80 complaints a day of 25 minutes' work each: a backlog
    # builds all day. Every handled ticket is suspended for an hour after the first work;
    # on resume its task goes back to the same handler at its original place (the oldest
    # work), not behind the backlog that grew meanwhile.
    overloaded = (
        TINY.replace("annual_volume = 3650", "annual_volume = 29200")
        .replace("count = 8\ndays = [\"mon-sun\"]\nhours = [\"00:00-24:00\"]\n\n[tasks",
                 "count = 1\ndays = [\"mon-sun\"]\nhours = [\"00:00-24:00\"]\n\n[tasks")
        .replace("handling = 20\n", "handling = 20\nsuspend = { probability = 1.0, "
                 "duration = 60, finish = 5 }\n")
    )  # fmt: skip
    scenario = parse_scenario(overloaded, "overloaded.toml").with_run(days=1, drain_days=3)
    k = simulate(scenario, db_url).kpis
    handle = k["tasks"]["handle"]
    assert handle["completed"] == k["volume"]["tickets"] > 60
    assert handle["wait_minutes_mean"] > 120  # the backlog is real
    # Claimed -> completed: 20 min, the hour suspended, at most one task in hand, 5 min.
    assert handle["work_minutes_mean"] <= 20 + 60 + 20 + 5


# ------------------------------------------------------------------ reproducibility, reports


def test_same_seed_same_kpi_json(db_url: str, tmp_path: Path) -> None:
    scenario = tiny(days=1)
    a = simulate(scenario, db_url)
    b = simulate(scenario, f"sqlite:///{tmp_path / 'b.db'}")
    c = simulate(scenario.with_run(seed=8), f"sqlite:///{tmp_path / 'c.db'}")
    write_report(a.kpis, a.run, tmp_path / "a")
    write_report(b.kpis, b.run, tmp_path / "b")
    assert (tmp_path / "a" / "kpi.json").read_bytes() == (tmp_path / "b" / "kpi.json").read_bytes()
    assert a.kpis != c.kpis


def test_batched_transactions_change_nothing_but_commits(db_url: str, tmp_path: Path) -> None:
    scenario = tiny(days=1)
    per_call = simulate(scenario, db_url)
    batched = simulate(
        scenario.updated("engine", transactions="batch"), f"sqlite:///{tmp_path / 'b.db'}"
    )
    assert batched.run["tickets_opened"] == per_call.run["tickets_opened"] > 0
    assert batched.run["engine_calls"] == per_call.run["engine_calls"]
    assert batched.kpis == per_call.kpis


def test_report_files_and_comparison(db_url: str, tmp_path: Path) -> None:
    base = simulate(tiny(), db_url)
    better = simulate(
        parse_scenario(TINY.replace("handling = 20\n", "handling = 8\n"), "fast.toml"),
        f"sqlite:///{tmp_path / 'fast.db'}",
    )
    written = write_report(base.kpis, base.run, tmp_path / "r")
    names = {p.name for p in written}
    assert names == {"kpi.json", "run.json", "report.md", "report.html", "backlog.png",
                     "handling.png", "utilisation.png"}  # fmt: skip
    assert (tmp_path / "r" / "backlog.png").read_bytes()[:4] == b"\x89PNG"
    md = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    assert "# Simulation: tiny" in md and "| first-contact resolution | 0.0 % |" in md
    assert "![backlog](backlog.png)" in md
    html = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert "<table>" in html and '<img src="handling.png"' in html
    assert json.loads((tmp_path / "r" / "kpi.json").read_text())["volume"]["tickets"] > 0
    rows = {r["figure"]: r for r in comparison_rows(base.kpis, better.kpis)}
    mean = rows["mean handling time (h)"]
    assert mean["delta"] == pytest.approx(-12 / 60, abs=1e-3) and mean["better"] is True
    write_comparison(base.kpis, better.kpis, tmp_path / "cmp")
    assert "better" in (tmp_path / "cmp" / "compare.md").read_text(encoding="utf-8")


def test_cli_simulate_and_compare(tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(TINY, encoding="utf-8")
    faster = tmp_path / "faster.toml"
    faster.write_text(TINY.replace("handling = 20\n", "handling = 8\n"), encoding="utf-8")
    runner = CliRunner()
    out = tmp_path / "report"
    done = runner.invoke(app, ["simulate", str(scenario), "--days", "1", "--report", str(out)])
    assert done.exit_code == 0, done.output
    assert (out / "report.html").exists() and (out / "simulation.db").exists()
    again = runner.invoke(app, ["simulate", str(scenario), "--days", "1", "--report", str(out)])
    assert again.exit_code == 1 and "--overwrite" in again.output
    both = runner.invoke(
        app,
        ["simulate", str(scenario), "--compare", str(faster), "--days", "1", "--report",
         str(tmp_path / "cmp"), "--seed", "3"],
    )  # fmt: skip
    assert both.exit_code == 0, both.output
    assert (tmp_path / "cmp" / "compare.md").exists() and (
        tmp_path / "cmp" / "b" / "kpi.json"
    ).exists()
    bad = runner.invoke(app, ["simulate", str(tmp_path / "missing.toml")])
    assert bad.exit_code == 1 and "cannot be read" in bad.output


def test_database_must_be_empty(db_url: str) -> None:
    simulate(tiny(days=1), db_url)
    with pytest.raises(SimulationError, match="already holds"):
        simulate(tiny(days=1), db_url)


# ------------------------------------------------------------------ repairs and on-site service

REPAIR = EXAMPLES / "repair_city.toml"


def repair(success: float, **run: Any) -> Any:
    """The example repair service with another on-site success probability."""
    text = REPAIR.read_text(encoding="utf-8").replace(
        "success = { probability = 0.85 }", f"success = {{ probability = {success} }}"
    )
    assert f"probability = {success} }}" in text
    return parse_scenario(text, REPAIR).with_run(**run)


def _journeys(db_url: str) -> dict[int, list[Any]]:
    """Each repair ticket's tasks in the order the engine created them."""
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    from ticketflow.store.models import TaskRow

    bind = create_engine(db_url)
    try:
        with Session(bind) as s:
            rows = s.scalars(select(TaskRow).order_by(TaskRow.ticket_id, TaskRow.id)).all()
            journeys: dict[int, list[Any]] = {}
            for row in rows:
                journeys.setdefault(row.ticket_id, []).append(
                    (row.element_id, row.assignee, row.completed_by, row.form_data or {})
                )
            return journeys
    finally:
        bind.dispose()


def test_onsite_success_probability_drives_visits_and_failures(db_url: str) -> None:
    outcome = simulate(repair(0.5, days=5, warmup_days=1, scale=0.4), db_url)
    k = outcome.kpis
    visits = k["tasks"]["onsite_work"]["completed"]
    failures = k["tasks"]["judge_failure"]["completed"]
    onsite_tickets = k["volume"]["tickets"] - round(
        k["first_contact_resolution"] * k["volume"]["tickets"]
    )
    assert visits >= 60 and onsite_tickets >= 30
    # Half the visits fail; each on-site ticket needs two visits on average (geometric).
    assert 0.38 <= failures / visits <= 0.62
    assert 1.6 <= visits / onsite_tickets <= 2.6
    assert k["closed"] == k["volume"]["tickets"]
    journeys = _journeys(db_url)
    engineers = {f"engineer-{i:02d}" for i in range(1, 17)}
    revisits = 0
    for tasks in journeys.values():
        named = None
        for element, assignee, completed_by, form in tasks:
            if element in ("dispatch_region", "second_dispatch") and form.get("engineer"):
                named = form["engineer"]
            if element == "onsite_work":
                # The engineer the dispatcher (or regional supervisor) named goes on site.
                assert assignee == completed_by == named and named in engineers
            if element == "judge_failure" and form["cause"] == "engineer_fault":
                revisits += 1  # the same engineer goes again: checked by the next visit
    assert revisits >= 3
    # Callbacks of measured tickets only, judged by the BPMN's `not problem`.
    callbacks = [
        form
        for ticket_id, tasks in journeys.items()
        for element, _, _, form in tasks
        if element == "phone_callback" and form
    ]
    satisfaction = k["satisfaction"]
    assert satisfaction["callbacks"] == k["tasks"]["phone_callback"]["completed"]
    assert satisfaction["callbacks"] < len(callbacks)  # warm-up tickets are not measured
    assert satisfaction["satisfied_share"] is not None
    assert all(isinstance(f["problem"], bool) for f in callbacks)
    assert all(f["problem"] == (f["satisfaction"] < 50) for f in callbacks)


def test_every_visit_succeeding_takes_one_visit_per_onsite_ticket(db_url: str) -> None:
    k = simulate(repair(1.0, days=3, warmup_days=0, scale=0.4), db_url).kpis
    onsite = k["tasks"]["dispatch_region"]["completed"]
    assert onsite >= 15
    assert "judge_failure" not in k["tasks"]
    # One visit per dispatch; only an unsatisfied callback sends the order out again.
    assert k["tasks"]["onsite_work"]["completed"] == onsite
    assert k["tasks"]["phone_callback"]["completed"] == onsite


def _callback_task(expression: str) -> Any:
    """A user task marked ``ticketflow.callback = expression``, as the loader builds it."""
    from ticketflow.definitions.forms import Form
    from ticketflow.definitions.model import UserTaskInfo

    return UserTaskInfo(
        element_id="callback",
        name="回访 Callback",
        lane=None,
        candidate_groups=("callback_agent",),
        candidate_groups_expression=None,
        assignee_expression=None,
        form=Form(),
        due_in=None,
        documentation=None,
        line=None,
        properties={"ticketflow.callback": expression},
    )


def test_callback_flag_follows_the_bpmn_expression() -> None:
    import numpy as np

    from ticketflow.simulation.behaviour import callback_result
    from ticketflow.simulation.scenario import Callback

    def judged(expression: str, score: float) -> dict[str, Any]:
        settings = Callback.model_validate(
            {"score": score, "satisfied_threshold": 50.0, "score_field": "satisfaction"}
        )
        return callback_result(settings, 0.0, _callback_task(expression), np.random.default_rng(0))

    assert judged("not problem", 30) == {"satisfaction": 30, "problem": True}
    assert judged("${not problem}", 80) == {"satisfaction": 80, "problem": False}
    assert judged("", 80) == {"satisfaction": 80, "satisfied": True}
    assert judged("happy", 20) == {"satisfaction": 20, "happy": False}
    assert judged("satisfaction >= 50", 20) == {"satisfaction": 20}


def test_callback_waiting_penalty_stops_at_its_cap() -> None:
    import numpy as np

    from ticketflow.simulation.behaviour import callback_result
    from ticketflow.simulation.scenario import Callback

    info = _callback_task("satisfied")

    def score(hours: float, cap: float | None) -> Any:
        settings = Callback.model_validate(
            {"score": 80.0, "penalty_per_hour": 0.5, "penalty_max": cap, "satisfied_threshold": 50}
        )
        return callback_result(settings, hours, info, np.random.default_rng(0))

    assert score(20, 24.0) == {"score": 70, "satisfied": True}
    assert score(48, 24.0) == {"score": 56, "satisfied": True}
    # A week's wait costs no more than the cap ...
    assert score(168, 24.0) == {"score": 56, "satisfied": True}
    # ... while an uncapped penalty keeps growing.
    assert score(168, None) == {"score": 0, "satisfied": False}
    with pytest.raises(ValueError, match="penalty_max"):
        Callback.model_validate({"penalty_max": -1})


def test_holiday_duty_keeps_a_share_of_a_role_at_work_on_public_holidays(db_url: str) -> None:
    text = (
        TINY.replace('holidays = "none"', 'holidays = "china"')
        .replace("start = 2026-03-02T00:00:00", "start = 2011-10-03T00:00:00")  # National Day
        .replace('timezone = "UTC"', 'timezone = "Asia/Shanghai"')
        .replace(
            'cost_per_hour = 30.0\n[[staff.billing.shifts]]\ncount = 8\ndays = ["mon-sun"]',
            "cost_per_hour = 30.0\nholiday_duty = 0.3\n[[staff.billing.shifts]]\ncount = 10\n"
            'days = ["mon-fri"]',
        )
        .replace("days = 2\n", "days = 8\n")
    )
    centre = Centre(parse_scenario(text, "duty.toml"), db_url)
    billing = [w for w in centre.workers.values() if w.role == "billing"]
    day = 24 * 60.0

    def at_work(worker: Any, first: float, last: float) -> bool:
        return any(s < last and e > first for s, e in worker.intervals)

    # Monday 3 October 2011 is a public holiday: three of the ten work; Monday the 10th
    # is an ordinary day and all ten do. Agents and seats are not on a rota: all or none.
    assert [w.id for w in billing if at_work(w, 0, day)] == [
        "billing-01",
        "billing-02",
        "billing-03",
    ]
    assert all(at_work(w, 7 * day, 8 * day) for w in billing)
    assert not any(at_work(w, 0, day) for w in centre.workers.values() if w.role == "agent")
    # At a fifth of the scale two people are left, and round(0.6) = 1 of them is on duty.
    small = parse_scenario(text, "duty.toml").with_run(scale=0.2).staff_rota()
    assert [r for r in small if r[0] == "billing"] == [
        ("billing", 0, "billing-01", True),
        ("billing", 0, "billing-02", False),
    ]
    with pytest.raises(ScenarioError, match="holiday_duty: the role already works_holidays"):
        parse_scenario(
            text.replace("holiday_duty = 0.3", "holiday_duty = 0.3\nworks_holidays = true")
        )


def test_staff_form_values_name_a_known_role(db_url: str) -> None:
    text = REPAIR.read_text(encoding="utf-8").replace(
        'form = { engineer = { staff = "engineer" } }',
        'form = { engineer = { staff = "engineers" } }',
    )
    with pytest.raises(ScenarioError) as info:
        Centre(parse_scenario(text, REPAIR), db_url)
    assert (
        "tasks.second_dispatch.form.engineer: no staff role 'engineers' "
        "(roles: agent, engineer, supervisor)" in info.value.problems
    )
    with pytest.raises(ScenarioError, match="staff cannot be combined"):
        parse_scenario(
            text.replace('{ staff = "engineers" }', '{ staff = "engineer", probability = 0.5 }'),
            REPAIR,
        )


def test_cli_error_keeps_the_scenario_key(tmp_path: Path) -> None:
    """Rich reads "[tasks.record]" as a style tag; the error must show it as written."""
    scenario = tmp_path / "form.toml"
    scenario.write_text(TINY.replace('urgency = "normal"', 'urgency = "{channel}"'), "utf-8")
    done = CliRunner().invoke(
        app, ["simulate", str(scenario), "--days", "1", "--report", str(tmp_path / "r")]
    )
    assert done.exit_code == 1
    assert "(check [tasks.record] of the scenario)" in done.output
