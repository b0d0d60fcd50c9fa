"""Service-centre reports over complaints driven through the real engine: hot spots,
top-N, first-contact resolution, piece-rate points; their CSV, charts and commands."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ticketflow import Engine, FixedClock, TicketView, User, hookimpl
from ticketflow.catalog import Catalog, piece_type_of
from ticketflow.errors import InvalidDataError
from ticketflow.hooks.types import Assignment, HookContext, TaskProposal
from ticketflow.plugins.scoring import PieceRateScoring
from ticketflow.reports import (
    FcrRow,
    HotSpot,
    PointsRow,
    TopEntry,
    charts,
    fcr_total,
    first_contact_resolution,
    hotspots,
    staff_points,
    top,
    write_csv,
)
from ticketflow.testing.database import temporary_database

from .conftest import PG_URL, PROCESSES, Staff

AGENT = User.of("li.na", groups=["intake_agent"])
HALL = User.of("wu.fang", groups=["hall_desk", "intake_agent"])
VAS = User.of("qian.bo", groups=["dept_vas"])
HANDLERS = {"dept_billing": Staff.billing, "dept_network": Staff.network, "dept_vas": VAS}
NOV = datetime(2026, 11, 1, tzinfo=timezone.utc)
DEC = datetime(2026, 12, 1, tzinfo=timezone.utc)
UTC8 = timedelta(hours=8)


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Case:
    """One complaint: when and where it came in, how it was classified and ended."""

    opened: datetime
    channel: str
    region: str
    customer: str
    codes: tuple[str, ...] = ()  # empty: solved at the front desk
    department: str = ""
    sp_name: str | None = None
    front_desk_done: bool = True  # False: still waiting at the front desk
    close: bool = True
    reopened_once: bool = False


CASES = [
    Case(at(2, 2), "hotline", "南昌", "C1"),
    Case(at(2, 3), "hotline", "南昌", "C1", ("BIL", "BIL01", "BIL0101"), "dept_billing"),
    Case(
        at(3, 4),
        "business_hall",
        "赣州",
        "C2",
        ("BIL", "BIL01", "BIL0103", "BIL010301"),
        "dept_billing",
    ),
    Case(at(3, 23, 30), "web", "赣州", "C3", ("NET", "NET04", "NET0401"), "dept_network"),
    Case(at(5, 6), "hotline", "九江", "C7", front_desk_done=False),
    Case(at(10, 5), "hotline", "九江", "C1", ("SP", "SP02", "SP0201", "SP020101"), "dept_vas"),
    Case(
        at(11, 6),
        "business_hall",
        "南昌",
        "C4",
        ("SP", "SP01", "SP0101"),
        "dept_vas",
        reopened_once=True,
    ),
    Case(at(11, 7), "business_hall", "南昌", "C5"),
    Case(
        at(12, 8),
        "hotline",
        "赣州",
        "C2",
        ("SP", "SP04", "SP0401"),
        "dept_vas",
        "900009 某游戏公司",
        close=False,
    ),
    Case(at(1, 1, month=12), "hotline", "南昌", "C6", ("BIL", "BIL02", "BIL0201"), "dept_billing"),
]


class HallDesk:
    """Front-desk work of business-hall complaints goes to the hall's desk."""

    @hookimpl
    def ticketflow_dispatch(self, ctx: HookContext, proposal: TaskProposal) -> Assignment | None:
        if proposal.element_id == "front_desk" and proposal.data.get("channel") == "business_hall":
            return Assignment(candidate_groups=("hall_desk",), reason="business hall desk")
        return None


def step(
    engine: Engine,
    clock: FixedClock,
    ticket: TicketView,
    element: str,
    user: User,
    data: dict[str, Any],
) -> TicketView:
    clock.advance(minutes=10)
    return engine.complete(ticket.task(element).id, user, data)


def handle_and_close(
    engine: Engine, clock: FixedClock, t: TicketView, user: User, satisfied: bool
) -> TicketView:
    t = step(engine, clock, t, "handle", user, {"outcome": "resolved", "result": "已处理"})
    t = step(engine, clock, t, "reply", user, {"reply": "已处理"})
    return step(
        engine,
        clock,
        t,
        "callback",
        Staff.callback,
        {"satisfied": satisfied, "score": 90 if satisfied else 20},
    )


def run(engine: Engine, clock: FixedClock, case: Case) -> TicketView:
    clock.set(case.opened)
    data = {"sp_name": case.sp_name} if case.sp_name else {}
    t = engine.open_ticket(
        "complaint", customer=case.customer, channel=case.channel, region=case.region, data=data
    )
    if not case.front_desk_done:
        return t
    agent = HALL if case.channel == "business_hall" else AGENT
    if not case.codes:
        return step(engine, clock, t, "front_desk", agent, {"resolved": True, "reply": "已解释"})
    t = step(engine, clock, t, "front_desk", agent, {"resolved": False})
    t = step(engine, clock, t, "record", agent, {"description": "投诉", "urgency": "normal"})
    levels = {f"category_l{i}": code for i, code in enumerate(case.codes, 1)}
    t = step(engine, clock, t, "classify", Staff.back_office, levels)
    t = step(engine, clock, t, "dispatch", Staff.back_office, {"department": case.department})
    if not case.close:
        return t
    handler = HANDLERS[case.department]
    if case.reopened_once:
        t = handle_and_close(engine, clock, t, handler, satisfied=False)
    return handle_and_close(engine, clock, t, handler, satisfied=True)


@pytest.fixture(scope="module")
def centre_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database for the whole module (the reports only read it): a SQLite file, or
    a PostgreSQL schema of its own when ``TICKETFLOW_TEST_DATABASE_URL`` is set."""
    with temporary_database(tmp_path_factory.mktemp("centre"), PG_URL) as url:
        yield url


@pytest.fixture(scope="module")
def centre(centre_url: str) -> Iterator[Engine]:
    """A month of complaints with known categories, regions, channels and outcomes."""
    clock = FixedClock()
    with Engine(centre_url, clock=clock, auto_migrate=True) as probe:
        Catalog(probe).import_default()
        tree = Catalog(probe).tree()
    plugins = [HallDesk(), PieceRateScoring(type_of=piece_type_of(tree))]
    with Engine(centre_url, clock=clock, plugins=plugins, auto_migrate=True) as engine:
        engine.deploy(PROCESSES)
        for case in CASES:
            run(engine, clock, case)
        clock.set(at(6, 9))
        engine.open_ticket("consultation", customer="C9", channel="hotline", region="南昌")
        yield engine


def counts(rows: list[HotSpot]) -> dict[tuple[str | None, str], int]:
    return {(r.bucket, r.key): r.count for r in rows}


# ---------------------------------------------------------------- hot spots and top-N


def test_hotspots_by_category_level(centre: Engine) -> None:
    nov = {"since": NOV, "until": DEC}
    assert hotspots(centre, **nov) == [
        HotSpot(None, "(none)", "(none)", 3),
        HotSpot(None, "SP", "SP类", 3),
        HotSpot(None, "BIL", "计费类", 2),
        HotSpot(None, "NET", "网络类", 1),
    ]
    level3 = hotspots(centre, level=3, **nov)
    assert [(r.key, r.count) for r in level3] == [
        ("(none)", 3),
        ("BIL0101", 1),
        ("BIL0103", 1),
        ("NET0401", 1),
        ("SP0101", 1),
        ("SP0201", 1),
        ("SP0401", 1),
    ]
    assert level3[1].label == "计费类/话费争议/重复扣费"
    assert counts(hotspots(centre, level=4, **nov)) == {
        (None, "(none)"): 7,
        (None, "BIL010301"): 1,
        (None, "SP020101"): 1,
    }
    assert counts(hotspots(centre, level=3, under="BIL", **nov)) == {
        (None, "BIL0101"): 1,
        (None, "BIL0103"): 1,
    }
    # without a period: December's complaint too
    assert counts(hotspots(centre))[(None, "BIL")] == 3


def test_hotspots_by_sp_region_channel(centre: Engine) -> None:
    nov = {"since": NOV, "until": DEC}
    assert hotspots(centre, "sp", **nov) == [
        HotSpot(None, "(unnamed SP)", "(unnamed SP)", 1),  # 彩铃: an SP category, no provider
        HotSpot(None, "900001 示例信息服务公司", "900001 示例信息服务公司", 1),  # from the tree
        HotSpot(None, "900009 某游戏公司", "900009 某游戏公司", 1),  # recorded at intake
    ]
    assert counts(hotspots(centre, "region", **nov)) == {
        (None, "南昌"): 4,
        (None, "赣州"): 3,
        (None, "九江"): 2,
    }
    every_process = counts(hotspots(centre, "region", process_id=None, **nov))
    assert every_process[(None, "南昌")] == 5  # the consultation too
    assert counts(hotspots(centre, "channel", **nov)) == {
        (None, "hotline"): 5,
        (None, "business_hall"): 3,
        (None, "web"): 1,
    }


def test_hotspots_per_day_week_month(centre: Engine) -> None:
    nov = {"since": NOV, "until": DEC}
    assert counts(hotspots(centre, bucket="day", **nov)) == {
        ("2026-11-02", "(none)"): 1,
        ("2026-11-02", "BIL"): 1,
        ("2026-11-03", "BIL"): 1,
        ("2026-11-03", "NET"): 1,
        ("2026-11-05", "(none)"): 1,
        ("2026-11-10", "SP"): 1,
        ("2026-11-11", "(none)"): 1,
        ("2026-11-11", "SP"): 1,
        ("2026-11-12", "SP"): 1,
    }
    # 23:30 UTC on the 3rd is the 4th in Beijing time
    local = counts(hotspots(centre, bucket="day", utc_offset=UTC8, **nov))
    assert local[("2026-11-04", "NET")] == 1 and ("2026-11-03", "NET") not in local
    assert counts(hotspots(centre, bucket="week", **nov)) == {
        ("2026-11-02", "(none)"): 2,
        ("2026-11-02", "BIL"): 2,
        ("2026-11-02", "NET"): 1,
        ("2026-11-09", "(none)"): 1,
        ("2026-11-09", "SP"): 3,
    }
    assert counts(hotspots(centre, bucket="month")) == {
        ("2026-11", "(none)"): 3,
        ("2026-11", "SP"): 3,
        ("2026-11", "BIL"): 2,
        ("2026-11", "NET"): 1,
        ("2026-12", "BIL"): 1,
    }


def test_top_lists(centre: Engine) -> None:
    nov = {"since": NOV, "until": DEC}
    assert top(centre, "customer", 2, **nov) == [
        TopEntry(1, "C1", "C1", 3, 3 / 9),
        TopEntry(2, "C2", "C2", 2, 2 / 9),
    ]
    assert [(e.rank, e.key, e.count) for e in top(centre, "category", 3, level=3, **nov)] == [
        (1, "BIL0101", 1),
        (2, "BIL0103", 1),
        (3, "NET0401", 1),
    ]
    assert [e.key for e in top(centre, "region", 1, **nov)] == ["南昌"]
    assert [e.share for e in top(centre, "sp", **nov)] == [1 / 3, 1 / 3, 1 / 3]


def test_bad_report_arguments(centre: Engine) -> None:
    with pytest.raises(InvalidDataError, match="not 'colour'"):
        hotspots(centre, "colour")
    with pytest.raises(InvalidDataError, match="level must be 1-4, got 5"):
        hotspots(centre, level=5)
    with pytest.raises(InvalidDataError, match="bucket must be one of day, week, month"):
        hotspots(centre, bucket="year")
    with pytest.raises(InvalidDataError, match="level 1 is above category BIL01"):
        hotspots(centre, level=1, under="BIL01")
    with pytest.raises(InvalidDataError, match="since must be timezone-aware"):
        hotspots(centre, since=datetime(2026, 11, 1))
    with pytest.raises(InvalidDataError, match="whole minutes between -14 h and"):
        hotspots(centre, bucket="day", utc_offset=timedelta(hours=15))
    with pytest.raises(InvalidDataError, match="n must be at least 1"):
        top(centre, n=0)
    with pytest.raises(InvalidDataError, match="not 'mood'"):
        first_contact_resolution(centre, "mood")


# ---------------------------------------------------------------- first-contact resolution


def test_first_contact_resolution(centre: Engine) -> None:
    nov = {"since": NOV, "until": DEC}
    by_channel = first_contact_resolution(centre, **nov)
    assert by_channel == [
        FcrRow("hotline", 4, 1),  # the one still at the front desk is not counted yet
        FcrRow("business_hall", 3, 1),
        FcrRow("web", 1, 0),
    ]
    assert fcr_total(by_channel) == FcrRow("(total)", 8, 2) and fcr_total(by_channel).rate == 0.25
    assert first_contact_resolution(centre, "department", **nov) == [
        FcrRow("intake_agent", 5, 1),
        FcrRow("hall_desk", 3, 1),
    ]
    assert first_contact_resolution(centre, "agent", **nov) == [
        FcrRow("li.na", 5, 1),
        FcrRow("wu.fang", 3, 1),
    ]
    assert first_contact_resolution(centre, "region", **nov) == [
        FcrRow("南昌", 4, 2),
        FcrRow("赣州", 3, 0),
        FcrRow("九江", 1, 0),
    ]
    assert first_contact_resolution(centre, since=DEC) == [FcrRow("hotline", 1, 0)]


# ---------------------------------------------------------------- piece-rate points


def test_points_per_staff_member(centre: Engine) -> None:
    assert staff_points(centre, since=NOV, until=DEC) == [
        PointsRow("zhao.lei", 2, 2.8, 0.0, 0.0, 2.8),  # two billing tickets × 1.4
        PointsRow("sun.li", 1, 1.6, 0.0, 0.0, 1.6),  # broadband × 1.6
        PointsRow("qian.bo", 2, 2.2, 0.0, -1.0, 1.2),  # business 1.2 + ordinary 1.0, one reopen
        PointsRow("li.na", 1, 1.0, 0.0, 0.0, 1.0),  # solved at the front desk
        PointsRow("wu.fang", 1, 1.0, 0.0, 0.0, 1.0),
    ]
    assert staff_points(centre, staff="zhao.lei") == [PointsRow("zhao.lei", 3, 4.2, 0.0, 0.0, 4.2)]
    everyone = {r.staff: r.total for r in staff_points(centre)}
    assert everyone == pytest.approx(centre.points())


# ---------------------------------------------------------------- CSV, charts, commands


def test_csv_of_each_report(centre: Engine, tmp_path: Path) -> None:
    nov = {"since": NOV, "until": DEC}
    path = tmp_path / "top.csv"
    assert write_csv(path, TopEntry.COLUMNS, top(centre, "customer", 2, **nov)) == 2
    assert path.read_text(encoding="utf-8-sig") == (
        "rank,key,label,count,share\n1,C1,C1,3,0.3333\n2,C2,C2,2,0.2222\n"
    )
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    write_csv(path, HotSpot.COLUMNS, hotspots(centre, level=2, under="SP", bucket="week", **nov))
    assert path.read_text(encoding="utf-8-sig") == (
        "bucket,key,label,count\n"
        "2026-11-09,SP01,SP类/彩铃,1\n"
        "2026-11-09,SP02,SP类/梦网短信业务,1\n"
        "2026-11-09,SP04,SP类/手机游戏与视频,1\n"
    )
    rows = first_contact_resolution(centre, **nov)
    write_csv(path, FcrRow.COLUMNS, [*rows, fcr_total(rows)])
    assert path.read_text(encoding="utf-8-sig") == (
        "key,contacts,resolved,rate\n"
        "hotline,4,1,0.2500\nbusiness_hall,3,1,0.3333\nweb,1,0,0.0000\n(total),8,2,0.2500\n"
    )
    write_csv(path, PointsRow.COLUMNS, staff_points(centre, staff="qian.bo"))
    assert path.read_text(encoding="utf-8-sig") == (
        "staff,tickets,piece,evaluation,deduction,total\nqian.bo,2,2.2,0,-1,1.2\n"
    )


def is_png(path: Path) -> bool:
    data = path.read_bytes()
    return data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 2000


def test_charts_are_written(centre: Engine, tmp_path: Path) -> None:
    nov = {"since": NOV, "until": DEC}
    charts.hotspots_chart(tmp_path / "bars.png", hotspots(centre, level=3, **nov), title="热点")
    charts.hotspots_chart(
        tmp_path / "lines.png",
        hotspots(centre, bucket="day", **nov),
        title="每日热点",
        bucket="day",
    )
    charts.top_chart(tmp_path / "top.png", top(centre, "sp", **nov), title="SP TOP")
    rows = first_contact_resolution(centre, **nov)
    charts.fcr_chart(tmp_path / "fcr.png", [*rows, fcr_total(rows)], title="一次性解决率")
    charts.points_chart(tmp_path / "points.png", staff_points(centre), title="积分")
    for name in ("bars", "lines", "top", "fcr", "points"):
        assert is_png(tmp_path / f"{name}.png"), name


def test_time_series_charts_show_quiet_buckets_as_zero() -> None:
    assert charts.bucket_range(["2026-11", "2027-02"], "month") == [
        "2026-11",
        "2026-12",
        "2027-01",
        "2027-02",
    ]
    assert charts.bucket_range(["2026-11-02", "2026-11-23"], "week") == [
        "2026-11-02",
        "2026-11-09",
        "2026-11-16",
        "2026-11-23",
    ]
    assert charts.bucket_range(["2026-11-30", "2026-12-02"], "day") == [
        "2026-11-30",
        "2026-12-01",
        "2026-12-02",
    ]
    assert charts.bucket_range(["2026-11-30", "2026-12-02"], None) == ["2026-11-30", "2026-12-02"]


def test_charts_without_a_cjk_font_show_codes(
    centre: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(charts, "cjk_font", lambda: None)
    assert charts.display("BIL0101", "计费类/话费争议/重复扣费") == "BIL0101"
    assert charts.display("hotline", "hotline") == "hotline"
    charts.hotspots_chart(tmp_path / "codes.png", hotspots(centre, level=3), title="hot spots")
    assert is_png(tmp_path / "codes.png")


def test_charts_without_matplotlib_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(
        charts.ChartsUnavailableError, match=r"pip install 'ticketflow\[simulation\]'"
    ):
        charts.bar_chart(tmp_path / "x.png", ["a"], [1], title="t", xlabel="x")
    assert not (tmp_path / "x.png").exists()


def test_report_commands(centre: Engine, centre_url: str, tmp_path: Path) -> None:
    from ticketflow.cli import app

    runner = CliRunner()
    period = ["--since", "2026-11-01", "--until", "2026-12-01", "--url", centre_url]
    csv_path, png = tmp_path / "h.csv", tmp_path / "h.png"
    result = runner.invoke(
        app,
        [
            "report",
            "hotspots",
            "--bucket",
            "week",
            "--csv",
            str(csv_path),
            "--chart",
            str(png),
            *period,
        ],
    )
    assert result.exit_code == 0, result.output
    assert csv_path.read_text(encoding="utf-8-sig").splitlines() == [
        "bucket,key,label,count",
        "2026-11-02,(none),(none),2",
        "2026-11-02,BIL,计费类,2",
        "2026-11-02,NET,网络类,1",
        "2026-11-09,SP,SP类,3",
        "2026-11-09,(none),(none),1",
    ]
    assert is_png(png)
    # local dates: the period starts at midnight Beijing time
    result = runner.invoke(
        app,
        [
            "report",
            "hotspots",
            "--by",
            "region",
            "--csv",
            str(csv_path),
            "--utc-offset",
            "8",
            *period,
        ],
    )
    assert result.exit_code == 0, result.output
    assert csv_path.read_text(encoding="utf-8-sig").splitlines()[1:] == [
        ",南昌,南昌,4",
        ",赣州,赣州,3",
        ",九江,九江,2",
    ]
    result = runner.invoke(
        app, ["report", "top", "--by", "customer", "-n", "1", "--csv", str(csv_path), *period]
    )
    assert (
        result.exit_code == 0
        and csv_path.read_text(encoding="utf-8-sig").splitlines()[1] == "1,C1,C1,3,0.3333"
    )
    result = runner.invoke(
        app, ["report", "fcr", "--by", "department", "--chart", str(png), *period]
    )
    assert result.exit_code == 0 and "hall_desk" in result.output and "0.2500" in result.output
    result = runner.invoke(app, ["report", "points", "--csv", str(csv_path), *period])
    assert result.exit_code == 0
    assert csv_path.read_text(encoding="utf-8-sig").splitlines()[1] == "zhao.lei,2,2.8,0,0,2.8"
    result = runner.invoke(app, ["report", "hotspots", "--bucket", "year", "--url", centre_url])
    assert result.exit_code == 1 and "bucket must be one of day, week, month" in result.output
    result = runner.invoke(app, ["report", "top", "--since", "November", "--url", centre_url])
    assert result.exit_code == 1 and "--since: not a date or date-time: 'November'" in result.output
