"""The calibrated province reproduces seed 004's figures within 10 %.

A fifth of the province (``scale = 0.2``: volume and head counts) for fourteen days of
arrivals (two whole weeks of weekday and weekend staffing), the first two as warm-up,
every complaint a real ticket on the test database; the figures are read back from the
store.
"""

from __future__ import annotations

import pytest

from ticketflow.simulation.kpi import TOLERANCE, lookup
from ticketflow.simulation.runner import simulate
from ticketflow.simulation.scenario import load_scenario

from .conftest import ROOT

SCENARIO = ROOT / "examples" / "simulation" / "province_2011.toml"
#: seed 004, one province, 2011
TARGETS = {
    "daily_arrivals": 199_702 / 365,
    "fcr": 0.47,
    "mean_handling_hours": 21.7,
    "tickets_per_seat_day": 40.0,
}


def test_province_2011_reproduces_seed_004(db_url: str) -> None:
    scenario = load_scenario(SCENARIO).with_run(days=14, warmup_days=2, scale=0.2)
    kpis = simulate(scenario, db_url).kpis
    assert kpis["open_at_end"] == 0
    report = {name: (lookup(kpis, name), target) for name, target in TARGETS.items()}
    for name, (value, target) in report.items():
        assert value == pytest.approx(target, rel=TOLERANCE), (name, report)
    # The scenario's own targets agree with the seed (the report's calibration table).
    rows = {row["kpi"]: row for row in kpis["calibration"]}
    for name, target in TARGETS.items():
        assert rows[name]["target"] == pytest.approx(target, rel=1e-3)
