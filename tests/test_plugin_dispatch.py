"""The default dispatch plugins (ticketflow.plugins.dispatch).

Unit tests call each plugin's hook with hand-made proposals and a small fake context
(loads per user); integration tests run them inside the real engine with the complaint
flow (``handle`` goes to ``${department}``) and the repair flow's on-site service.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ticketflow import User
from ticketflow.errors import InvalidDataError, PermissionDeniedError
from ticketflow.hooks.types import Assignment, HookContext, TaskProposal
from ticketflow.plugins import dispatch as dispatch_module
from ticketflow.plugins.dispatch import (
    DispatchChain,
    GridDispatch,
    GridRule,
    GridTableError,
    LeastLoadedDispatch,
    RoundRobinDispatch,
    SkillDispatch,
    TwoLevelDispatch,
    skills_from_data,
)

from .conftest import PROCESSES, Staff
from .journeys import open_complaint, to_handling
from .test_flow_onsite import Onsite

BILLING = "计费 billing"
FEES = "话费 fees"
OVERCHARGE = "多扣 overcharge"
NETWORK = "网络 network"


# ---------------------------------------------------------------- helpers


class FakeEngine:
    """Answers ``tasks(assignee=...).total`` from a table of loads, and
    ``tasks(ticket=...)`` with the ticket's tasks (newest first)."""

    def __init__(self, loads: Mapping[str, int], tasks: list[tuple[str, str | None]]) -> None:
        self.loads = dict(loads)
        self.ticket_tasks = [SimpleNamespace(element_id=e, assignee=a) for e, a in tasks]
        self.asked: list[tuple[str | None, Any]] = []

    def tasks(
        self,
        *,
        assignee: str | None = None,
        state: Any = "open",
        ticket: str | None = None,
        **_: Any,
    ) -> Any:
        if ticket is not None:
            return list(reversed(self.ticket_tasks))
        self.asked.append((assignee, state))
        return SimpleNamespace(total=self.loads.get(assignee or "", 0))


def fake_ctx(
    loads: Mapping[str, int] | None = None, tasks: list[tuple[str, str | None]] | None = None
) -> HookContext:
    """A context whose engine knows the users' loads and the ticket's earlier tasks
    (element, assignee), oldest first."""
    now = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
    engine = FakeEngine(loads or {}, tasks or [])
    return HookContext(engine, None, now, None)  # type: ignore[arg-type]


def proposal(
    element: str = "handle",
    *,
    process: str = "complaint",
    groups: tuple[str, ...] = ("dept_network",),
    assignee: str | None = None,
    region: str | None = None,
    **data: Any,
) -> TaskProposal:
    return TaskProposal(
        ticket_number="TS-20260105-000001",
        process_id=process,
        element_id=element,
        name=element,
        lane=None,
        candidate_groups=groups,
        assignee=assignee,
        region=region,
        priority=50,
        data=data,
    )


def billing_fees(**kwargs: Any) -> TaskProposal:
    return proposal(category_l1=BILLING, category_l2=FEES, category_l3=OVERCHARGE, **kwargs)


GRID = [
    GridRule((BILLING,), "dept_billing"),
    GridRule((BILLING, FEES), "dept_fees", person="zhao.lei"),
    GridRule((BILLING, FEES), "dept_fees_sz", region="苏州 Suzhou"),
    GridRule((NETWORK,), "dept_network"),
]


# ---------------------------------------------------------------- grid (unit)


def test_grid_longest_category_match_wins() -> None:
    grid = GridDispatch(GRID)
    decision = grid.ticketflow_dispatch(ctx=fake_ctx(), proposal=billing_fees())
    assert decision == Assignment(
        ("dept_fees",), "zhao.lei", f"grid: {BILLING}/{FEES} -> dept_fees (zhao.lei)"
    )
    # only level 1 known, or another level 2: the level-1 rule
    only_l1 = proposal(category_l1=BILLING)
    other_l2 = proposal(category_l1=BILLING, category_l2="套餐 plans")
    for p in (only_l1, other_l2):
        assert grid.ticketflow_dispatch(ctx=fake_ctx(), proposal=p) == Assignment(
            ("dept_billing",), None, f"grid: {BILLING} -> dept_billing"
        )


def test_grid_category_stops_at_the_first_empty_level() -> None:
    grid = GridDispatch(GRID)
    p = proposal(category_l1=BILLING, category_l2="", category_l3=FEES)
    assert grid.category(p.data) == (BILLING,)
    assert grid.ticketflow_dispatch(ctx=fake_ctx(), proposal=p).candidate_groups == (
        "dept_billing",
    )


def test_grid_region_rule_beats_any_region_at_the_same_depth() -> None:
    grid = GridDispatch(GRID)
    suzhou = grid.ticketflow_dispatch(ctx=fake_ctx(), proposal=billing_fees(region="苏州 Suzhou"))
    assert suzhou == Assignment(
        ("dept_fees_sz",), None, f"grid: {BILLING}/{FEES} @ 苏州 Suzhou -> dept_fees_sz"
    )
    # the region may also come from ticket data
    p = proposal(category_l1=BILLING, category_l2=FEES, region=None)
    p = TaskProposal(**{**p.__dict__, "data": {**p.data, "region": "苏州 Suzhou"}})
    assert grid.ticketflow_dispatch(ctx=fake_ctx(), proposal=p).candidate_groups == (
        "dept_fees_sz",
    )
    # a deeper rule for any region beats a shallower regional one
    deep = GridDispatch(
        [GridRule((BILLING,), "dept_sz", region="苏州 Suzhou"), GridRule((BILLING, FEES), "dept_f")]
    )
    assert deep.match((BILLING, FEES), "苏州 Suzhou") == GridRule((BILLING, FEES), "dept_f")
    assert deep.match((BILLING,), "苏州 Suzhou") == GridRule((BILLING,), "dept_sz", "苏州 Suzhou")
    assert deep.match((BILLING,), "淮安 Huai'an") is None


def test_grid_without_a_match_leaves_the_task_alone_unless_a_catch_all_exists() -> None:
    grid = GridDispatch(GRID)
    assert grid.ticketflow_dispatch(ctx=fake_ctx(), proposal=proposal()) is None
    assert grid.ticketflow_dispatch(ctx=fake_ctx(), proposal=proposal(category_l1="x")) is None
    catch_all = GridDispatch([*GRID, GridRule((), "back_office")])
    decision = catch_all.ticketflow_dispatch(ctx=fake_ctx(), proposal=proposal(category_l1="x"))
    assert decision == Assignment(("back_office",), None, "grid: * -> back_office")


def test_grid_person_does_not_replace_a_named_assignee_unless_told() -> None:
    named = billing_fees(assignee="sun.li")
    kept = GridDispatch(GRID).ticketflow_dispatch(ctx=fake_ctx(), proposal=named)
    assert kept == Assignment(("dept_fees",), None, f"grid: {BILLING}/{FEES} -> dept_fees")
    forced = GridDispatch(GRID, keep_assignee=False)
    assert forced.ticketflow_dispatch(ctx=fake_ctx(), proposal=named).assignee == "zhao.lei"


def test_grid_from_a_mapping_and_configurable_category_keys() -> None:
    grid = GridDispatch(
        {BILLING: "dept_billing", (BILLING, FEES): "dept_fees"}, category_keys=("cat1", "cat2")
    )
    p = proposal(cat1=BILLING, cat2=FEES, category_l1=NETWORK)
    assert grid.ticketflow_dispatch(ctx=fake_ctx(), proposal=p).candidate_groups == ("dept_fees",)


def test_grid_rejects_duplicate_and_malformed_rules() -> None:
    with pytest.raises(InvalidDataError, match="two grid rules"):
        GridDispatch([GridRule((BILLING,), "a"), GridRule((BILLING,), "b")])
    with pytest.raises(InvalidDataError, match="0-4 non-empty levels"):
        GridRule(("a", "b", "c", "d", "e"), "x")
    with pytest.raises(InvalidDataError, match="no department"):
        GridRule(("a",), "")


@pytest.mark.parametrize(
    ("scope", "p", "applies"),
    [
        ({"elements": {"handle"}}, billing_fees(), True),
        ({"elements": {"handle"}}, proposal("reply", category_l1=BILLING), False),
        ({"elements": "handle"}, billing_fees(), True),
        ({"processes": {"service_request"}}, billing_fees(), False),
        ({"processes": {"complaint"}, "elements": {"handle", "reply"}}, billing_fees(), True),
        ({"when": lambda p: not p.data.get("transfer_to")}, billing_fees(transfer_to="x"), False),
    ],
)
def test_scope_filters(scope: dict[str, Any], p: TaskProposal, applies: bool) -> None:
    grid = GridDispatch(GRID, **scope)
    assert grid.applies(p) is applies
    assert (grid.ticketflow_dispatch(ctx=fake_ctx(), proposal=p) is not None) is applies


def test_scope_filters_reject_bad_values() -> None:
    with pytest.raises(InvalidDataError, match="non-empty strings"):
        GridDispatch(GRID, elements={""})


# ---------------------------------------------------------------- grid tables


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def test_grid_from_csv(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "grid.csv",
        "category_l1,category_l2,category_l3,category_l4,region,department,person\n"
        f"{BILLING},,,,,dept_billing,\n"
        f"{BILLING},{FEES},,,,dept_fees,zhao.lei\n"
        f"{BILLING},{FEES},,,苏州 Suzhou,dept_fees_sz,\n"
        ",,,,,,\n"
        f'"{NETWORK}",,,,,dept_network,\n',
        encoding="utf-8-sig",  # as Excel saves it
    )
    grid = GridDispatch.from_csv(path, elements={"handle"})
    assert grid.rules == tuple(GRID)
    assert grid.elements == {"handle"}
    assert GridDispatch.from_file(path).rules == tuple(GRID)


def test_grid_csv_may_leave_columns_out(tmp_path: Path) -> None:
    path = write(tmp_path, "g.csv", f"department,category_l1\ndept_billing,{BILLING}\n")
    assert GridDispatch.from_csv(path).rules == (GridRule((BILLING,), "dept_billing"),)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "grid.csv:1: empty file: a header row is needed"),
        ("category_l1,dept\n", "grid.csv:1: column 'dept': unknown column"),
        ("category_l1,region\n", "grid.csv:1: the header has no 'department' column"),
        (
            "department,department\n",
            "grid.csv:1: column 'department': column given twice",
        ),
        (
            f"category_l1,department\n{BILLING},dept_billing\n{FEES},\n",
            "grid.csv:3: column 'department': empty: every row needs a department",
        ),
        (
            f"category_l1,category_l2,category_l3,department\n{BILLING},,{OVERCHARGE},d\n",
            "grid.csv:2: column 'category_l3': level 3 given without level 2",
        ),
        (
            f"category_l1,department\n{BILLING},a\n\n{NETWORK},b\n{BILLING},c\n",
            f"grid.csv:5: column 'category_l1': same category {BILLING} and region (any) as line 2",
        ),
        (
            f"category_l1,department\n{BILLING},a,extra\n",
            "grid.csv:2: more fields than the 2 columns of the header",
        ),
        (
            f'category_l1,department\n{BILLING},"a,b"\n',
            "grid.csv:2: column 'department': one department (group) per row, no commas",
        ),
    ],
)
def test_grid_csv_errors_name_file_line_and_column(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "grid.csv", text)
    with pytest.raises(GridTableError) as err:
        GridDispatch.from_csv(path)
    assert str(err.value).replace(str(tmp_path) + "/", "").startswith(message)
    assert err.value.file == str(path)


def test_grid_csv_unreadable(tmp_path: Path) -> None:
    with pytest.raises(GridTableError, match="cannot read"):
        GridDispatch.from_csv(tmp_path / "missing.csv")
    bad = tmp_path / "gbk.csv"
    bad.write_bytes(f"department,category_l1\nd,{BILLING}\n".encode("gbk"))
    with pytest.raises(GridTableError, match="not utf-8-sig text"):
        GridDispatch.from_csv(bad)
    assert GridDispatch.from_csv(bad, encoding="gbk").rules == (GridRule((BILLING,), "d"),)


def test_grid_from_json(tmp_path: Path) -> None:
    rows = [
        {"category_l1": BILLING, "department": "dept_billing"},
        {
            "category_l1": BILLING,
            "category_l2": FEES,
            "department": "dept_fees",
            "person": "zhao.lei",
        },
        {
            "category_l1": BILLING,
            "category_l2": FEES,
            "region": "苏州 Suzhou",
            "department": "dept_fees_sz",
        },
        {"category_l1": NETWORK, "department": "dept_network", "person": None},
    ]
    path = write(tmp_path, "grid.json", json.dumps(rows, ensure_ascii=False))
    assert GridDispatch.from_json(path).rules == tuple(GRID)
    assert GridDispatch.from_file(path).rules == tuple(GRID)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"department": "x"}', "grid.json: a grid table is a JSON list of objects"),
        ('[{"department": "x"}, 3]', "grid.json: entry 2: not an object"),
        ('[{"department": "x", "dept": "y"}]', "grid.json: entry 1: field 'dept': unknown field"),
        ('[{"category_l1": "a"}]', "grid.json: entry 1: field 'department': empty"),
        (
            '[{"category_l1": 1, "department": "x"}]',
            "grid.json: entry 1: field 'category_l1': must be text",
        ),
        (
            '[{"category_l1": "a", "department": "x"},\n {"category_l1": "a", "department": "y"}]',
            "grid.json: entry 2: field 'category_l1': same category a and region (any) as entry 1",
        ),
        ('[\n{"department": "x",}\n]', "grid.json:2: invalid JSON"),
    ],
)
def test_grid_json_errors(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "grid.json", text)
    with pytest.raises(GridTableError) as err:
        GridDispatch.from_json(path)
    assert str(err.value).replace(str(tmp_path) + "/", "").startswith(message)


# ---------------------------------------------------------------- round robin (unit)


def test_round_robin_takes_the_user_after_the_last_one(monkeypatch: pytest.MonkeyPatch) -> None:
    last: dict[str, str | None] = {"dept_network": None}
    seen: list[tuple[str, tuple[str, ...]]] = []

    def fake_last(session: Any, group: str, users: tuple[str, ...], **scope: Any) -> str | None:
        seen.append((group, tuple(users)))
        return last.get(group)

    monkeypatch.setattr(dispatch_module, "last_assignee", fake_last)
    rr = RoundRobinDispatch({"dept_network": ["a", "b", "c"], "dept_billing": ["x"]})
    picks = []
    for previous in (None, "a", "b", "c"):
        last["dept_network"] = previous
        decision = rr.ticketflow_dispatch(ctx=fake_ctx(), proposal=proposal())
        assert decision is not None
        assert decision.candidate_groups is None
        picks.append((decision.assignee, decision.reason))
    assert picks == [
        ("a", "round robin: dept_network -> a (first)"),
        ("b", "round robin: dept_network -> b (after a)"),
        ("c", "round robin: dept_network -> c (after b)"),
        ("a", "round robin: dept_network -> a (after c)"),
    ]
    assert seen[0] == ("dept_network", ("a", "b", "c"))
    # the first candidate group that has users configured
    p = proposal(groups=("marketing", "dept_billing", "dept_network"))
    assert rr.ticketflow_dispatch(ctx=fake_ctx(), proposal=p).assignee == "x"
    # nobody configured for the task's groups, or an assignee already named
    assert rr.ticketflow_dispatch(ctx=fake_ctx(), proposal=proposal(groups=("x",))) is None
    assert rr.ticketflow_dispatch(ctx=fake_ctx(), proposal=proposal(assignee="sun.li")) is None
    forced = RoundRobinDispatch({"dept_network": ["a"]}, keep_assignee=False)
    assert (
        forced.ticketflow_dispatch(ctx=fake_ctx(), proposal=proposal(assignee="z")).assignee == "a"
    )


def test_user_tables_are_checked() -> None:
    with pytest.raises(InvalidDataError, match="has no users"):
        RoundRobinDispatch({"g": []})
    with pytest.raises(InvalidDataError, match="lists a user twice"):
        LeastLoadedDispatch({"g": ["a", "a"]})
    with pytest.raises(InvalidDataError, match="non-empty strings"):
        RoundRobinDispatch({"g": ["a", ""]})


# ---------------------------------------------------------------- least loaded (unit)


def test_least_loaded_picks_the_fewest_open_tasks_ties_by_name() -> None:
    ll = LeastLoadedDispatch({"dept_network": ["sun.li", "bai.yu", "an.qi"], "dept_b": ["zz"]})
    ctx = fake_ctx({"sun.li": 1, "bai.yu": 0, "an.qi": 3})
    assert ll.ticketflow_dispatch(ctx=ctx, proposal=proposal()) == Assignment(
        None, "bai.yu", "least loaded: dept_network -> bai.yu (0 open tasks)"
    )
    assert ctx.engine.asked and all(state == ["open"] for _, state in ctx.engine.asked)  # type: ignore[attr-defined]
    tie = fake_ctx({"sun.li": 1, "bai.yu": 1, "an.qi": 1})
    assert ll.ticketflow_dispatch(ctx=tie, proposal=proposal()).assignee == "an.qi"
    # users of every configured candidate group compete
    both = proposal(groups=("dept_network", "dept_b"))
    assert ll.ticketflow_dispatch(
        ctx=fake_ctx({"an.qi": 2, "bai.yu": 2, "sun.li": 2}), proposal=both
    ) == Assignment(None, "zz", "least loaded: dept_network/dept_b -> zz (0 open tasks)")
    assert ll.ticketflow_dispatch(ctx=ctx, proposal=proposal(groups=("other",))) is None
    assert ll.ticketflow_dispatch(ctx=ctx, proposal=proposal(assignee="sun.li")) is None


def test_least_loaded_counts_the_configured_states() -> None:
    ll = LeastLoadedDispatch({"dept_network": ["a"]}, load_states=("open", "suspended"))
    ctx = fake_ctx()
    ll.ticketflow_dispatch(ctx=ctx, proposal=proposal())
    assert ctx.engine.asked == [("a", ["open", "suspended"])]  # type: ignore[attr-defined]


# ---------------------------------------------------------------- skills (unit)

SKILLS = {
    "wang.gc": {"broadband", "iptv"},
    "li.gc": {"broadband"},
    "zhou.gc": {"broadband", "iptv", "fiber"},
}


def test_skill_least_loaded_among_the_qualified() -> None:
    skill = SkillDispatch(SKILLS, {"onsite_work": {"broadband", "iptv"}})
    ctx = fake_ctx({"wang.gc": 2, "li.gc": 0, "zhou.gc": 1})
    decision = skill.ticketflow_dispatch(ctx=ctx, proposal=proposal("onsite_work"))
    assert decision == Assignment(
        None, "zhou.gc", "skill: needs broadband, iptv -> zhou.gc (1 open tasks)"
    )
    assert skill.last_refusal is None
    # an element the mapping does not name is not this plugin's
    assert skill.ticketflow_dispatch(ctx=ctx, proposal=proposal("handle")) is None


def test_skill_nobody_qualifies_gives_the_reason() -> None:
    skill = SkillDispatch(SKILLS, {"onsite_work": {"fiber", "satellite"}})
    p = proposal("onsite_work")
    assert skill.ticketflow_dispatch(ctx=fake_ctx(), proposal=p) is None
    assert skill.last_refusal == (
        "skill: nobody has all of fiber, satellite (li.gc lacks fiber, satellite; "
        "wang.gc lacks fiber, satellite; zhou.gc lacks satellite)"
    )
    assert skill.refusal(p) == skill.last_refusal


def test_skill_required_from_ticket_data_and_restricted_to_the_groups() -> None:
    skill = SkillDispatch(
        {"a": {BILLING}, "b": {BILLING, NETWORK}, "c": {NETWORK}},
        skills_from_data("category_l1", "extra_skill"),
        users_by_group={"dept_billing": ["a", "b"], "dept_network": ["c"]},
    )
    ctx = fake_ctx({"a": 5, "b": 1})
    p = proposal(groups=("dept_billing",), category_l1=BILLING)
    assert skill.ticketflow_dispatch(ctx=ctx, proposal=p).assignee == "b"
    p = proposal(groups=("dept_billing",), category_l1=BILLING, extra_skill=NETWORK)
    assert skill.ticketflow_dispatch(ctx=ctx, proposal=p).assignee == "b"
    p = proposal(groups=("dept_network",), category_l1=BILLING)
    assert skill.ticketflow_dispatch(ctx=ctx, proposal=p) is None
    assert skill.last_refusal == f"skill: nobody has all of {BILLING} (c lacks {BILLING})"
    p = proposal(groups=("marketing",), category_l1=BILLING)
    assert skill.ticketflow_dispatch(ctx=ctx, proposal=p) is None
    assert skill.last_refusal == "skill: no configured user in the task's groups (marketing)"
    # nothing required (no category yet): not this plugin's task
    assert skill.ticketflow_dispatch(ctx=ctx, proposal=proposal(groups=("dept_billing",))) is None
    assert skill.last_refusal is None


# ---------------------------------------------------------------- two-level (unit)

REGIONS = {
    "淮安 Huai'an": {"city_group": "huaian_centre", "engineers": ["wang.gc", "li.gc"]},
    "苏州 Suzhou": {"city_group": "suzhou_centre", "engineers": ["xu.gc"]},
}


def test_two_level_sends_the_second_dispatch_to_the_city_centre() -> None:
    two = TwoLevelDispatch(REGIONS)
    p = proposal(
        "second_dispatch", groups=("regional_supervisor",), maintenance_region="淮安 Huai'an"
    )
    assert two.ticketflow_dispatch(ctx=fake_ctx(), proposal=p) == Assignment(
        ("huaian_centre",), None, "two-level: region 淮安 Huai'an -> huaian_centre"
    )
    # the ticket's region when the form has none; unknown regions are left alone
    p = proposal("second_dispatch", region="苏州 Suzhou")
    assert two.ticketflow_dispatch(ctx=fake_ctx(), proposal=p).candidate_groups == (
        "suzhou_centre",
    )
    p = proposal("second_dispatch", maintenance_region="南京 Nanjing")
    assert two.ticketflow_dispatch(ctx=fake_ctx(), proposal=p) is None
    # other elements are not its own
    p = proposal("dispatch_region", maintenance_region="淮安 Huai'an")
    assert two.ticketflow_dispatch(ctx=fake_ctx(), proposal=p) is None


def test_two_level_picks_the_least_loaded_engineer_of_the_city() -> None:
    two = TwoLevelDispatch(REGIONS)
    p = proposal("onsite_work", groups=("engineer",), maintenance_region="淮安 Huai'an")
    decision = two.ticketflow_dispatch(ctx=fake_ctx({"wang.gc": 2, "li.gc": 1}), proposal=p)
    assert decision == Assignment(
        None,
        "li.gc",
        "two-level: region 淮安 Huai'an (huaian_centre) -> engineer li.gc (1 open tasks)",
    )
    # an engineer already named (by the dispatcher or the regional supervisor) stays
    named = proposal("onsite_work", assignee="wang.gc", maintenance_region="淮安 Huai'an")
    assert two.ticketflow_dispatch(ctx=fake_ctx(), proposal=named) is None


def test_two_level_repeat_visit_keeps_the_engineer() -> None:
    """Seed 001: after a failed visit that was the engineer's own fault, the same engineer
    goes again; after a new (second) dispatch the least-loaded one is chosen."""
    two = TwoLevelDispatch(REGIONS)
    p = proposal("onsite_work", groups=("engineer",), maintenance_region="淮安 Huai'an")
    loads = {"wang.gc": 5, "li.gc": 0}
    earlier = [
        ("dispatch_region", "zhang.pd"),
        ("second_dispatch", "liu.qz"),
        ("onsite_work", "wang.gc"),
        ("judge_failure", "zhou.zg"),
    ]
    assert two.ticketflow_dispatch(ctx=fake_ctx(loads, earlier), proposal=p) == Assignment(
        None, "wang.gc", "two-level: region 淮安 Huai'an: engineer wang.gc again (repeat visit)"
    )
    redispatched = [*earlier, ("dispatch_region", "zhang.pd"), ("second_dispatch", "liu.qz")]
    assert (
        two.ticketflow_dispatch(ctx=fake_ctx(loads, redispatched), proposal=p).assignee == "li.gc"
    )
    off = TwoLevelDispatch(REGIONS, same_engineer_again=False)
    assert off.ticketflow_dispatch(ctx=fake_ctx(loads, earlier), proposal=p).assignee == "li.gc"


def test_two_level_configuration() -> None:
    two = TwoLevelDispatch(
        REGIONS, first_level={"dispatch_city"}, second_level={"visit"}, region_key="area"
    )
    assert two.elements == {"dispatch_city", "visit"}
    p = proposal("dispatch_city", area="苏州 Suzhou")
    assert two.ticketflow_dispatch(ctx=fake_ctx(), proposal=p).candidate_groups == (
        "suzhou_centre",
    )
    p = proposal("visit", area="苏州 Suzhou")
    assert two.ticketflow_dispatch(ctx=fake_ctx(), proposal=p).assignee == "xu.gc"
    with pytest.raises(InvalidDataError, match="needs a 'city_group'"):
        TwoLevelDispatch({"x": {"engineers": ["a"]}})
    with pytest.raises(InvalidDataError, match="at least one engineer"):
        TwoLevelDispatch({"x": {"city_group": "g", "engineers": []}})


# ---------------------------------------------------------------- chains (unit)


def test_chain_feeds_each_decision_to_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dispatch_module, "last_assignee", lambda s, g, u, **kw: None)
    chain = DispatchChain(
        GridDispatch(GRID),
        RoundRobinDispatch({"dept_billing": ["qian.bo", "zhao.lei"], "dept_network": ["sun.li"]}),
        elements={"handle"},
    )
    p = proposal(category_l1=BILLING)  # BPMN: dept_network; grid: dept_billing
    assert chain.ticketflow_dispatch(ctx=fake_ctx(), proposal=p) == Assignment(
        ("dept_billing",),
        "qian.bo",
        f"grid: {BILLING} -> dept_billing; round robin: dept_billing -> qian.bo (first)",
    )
    # the grid's named person stays: round robin keeps an assignee
    decision = chain.ticketflow_dispatch(ctx=fake_ctx(), proposal=billing_fees())
    assert decision == Assignment(
        ("dept_fees",), "zhao.lei", f"grid: {BILLING}/{FEES} -> dept_fees (zhao.lei)"
    )
    # no grid match: round robin alone, on the BPMN's group
    assert chain.ticketflow_dispatch(ctx=fake_ctx(), proposal=proposal()) == Assignment(
        None, "sun.li", "round robin: dept_network -> sun.li (first)"
    )
    # nobody answers; outside the chain's scope
    assert chain.ticketflow_dispatch(ctx=fake_ctx(), proposal=proposal(groups=("x",))) is None
    assert chain.ticketflow_dispatch(ctx=fake_ctx(), proposal=proposal("reply")) is None


def test_chain_members_must_dispatch() -> None:
    with pytest.raises(InvalidDataError, match="does not implement ticketflow_dispatch"):
        DispatchChain(GridDispatch(GRID), object())


# ---------------------------------------------------------------- integration helpers

Factory = Callable[..., Any]


def created_event(engine: Any, number: str, element: str, nth: int = 0) -> Any:
    """The ``nth`` task_created event of ``element`` in the ticket's history."""
    events = [
        e for e in engine.history(number) if e.kind == "task_created" and e.element_id == element
    ]
    return events[nth]


def billing_user(name: str, *groups: str) -> User:
    return User.of(name, groups=groups or ("dept_billing",))


GRID_CSV = (
    "category_l1,category_l2,category_l3,category_l4,region,department,person\n"
    f"{BILLING},,,,,dept_billing,\n"
    f"{BILLING},{FEES},,,,dept_fees,zhao.lei\n"
    f"{NETWORK},,,,,dept_network,\n"
)


# ---------------------------------------------------------------- grid (engine)


def test_grid_decides_who_handles_a_complaint(make_engine: Factory, tmp_path: Path) -> None:
    """The host imports its grid table; the dispatcher's choice of department is replaced
    by the responsible department and person of the complaint's category."""
    grid = GridDispatch.from_csv(
        write(tmp_path, "grid.csv", GRID_CSV), elements={"handle", "reply"}
    )
    engine = make_engine(plugins=[grid])
    engine.deploy(PROCESSES)
    ticket = to_handling(engine, open_complaint(engine), department="dept_network")
    handle = ticket.task("handle")
    assert (handle.candidate_groups, handle.assignee) == (("dept_fees",), "zhao.lei")
    event = created_event(engine, ticket.number, "handle")
    assert event.details["dispatch"] == f"grid: {BILLING}/{FEES} -> dept_fees (zhao.lei)"
    assert event.details["candidate_groups"] == ["dept_fees"]
    assert event.details["assignee"] == "zhao.lei"
    # tasks outside the grid's scope keep the BPMN's assignment, with no reason recorded
    assert "dispatch" not in created_event(engine, ticket.number, "dispatch").details
    zhao = User.of("zhao.lei", groups=["dept_fees"])
    ticket = engine.complete(handle.id, zhao, {"outcome": "resolved", "result": "退费 refunded"})
    reply = ticket.task("reply")
    assert (reply.candidate_groups, reply.assignee) == (("dept_fees",), "zhao.lei")


def test_grid_can_leave_transfers_to_the_handler(make_engine: Factory) -> None:
    """A handler's transfer (转派) changes ``department``; a grid scoped with ``when``
    respects it instead of sending the complaint back to the grid's department."""
    grid = GridDispatch(GRID, elements={"handle"}, when=lambda p: not p.data.get("transfer_to"))
    engine = make_engine(plugins=[grid])
    engine.deploy(PROCESSES)
    ticket = to_handling(engine, open_complaint(engine))
    handle = ticket.task("handle")
    assert handle.candidate_groups == ("dept_fees",)
    ticket = engine.complete(
        handle.id,
        User.of("zhao.lei", groups=["dept_fees"]),
        {"outcome": "transfer", "transfer_to": "dept_network"},
    )
    again = ticket.task("handle")
    assert (again.candidate_groups, again.assignee) == (("dept_network",), None)
    assert "dispatch" not in created_event(engine, ticket.number, "handle", 1).details


# ---------------------------------------------------------------- round robin (engine)

BILLING_TEAM = {"dept_billing": ["an.bo", "bai.bo", "cao.bo"]}


def test_round_robin_is_fair_across_an_engine_restart(make_engine: Factory) -> None:
    first = make_engine(plugins=[RoundRobinDispatch(BILLING_TEAM, elements={"handle"})])
    first.deploy(PROCESSES)

    def next_handler(engine: Any) -> tuple[str, str]:
        ticket = to_handling(engine, open_complaint(engine))
        task = ticket.task("handle")
        assert task.candidate_groups == ("dept_billing",)
        return task.assignee, created_event(engine, ticket.number, "handle").details["dispatch"]

    assert next_handler(first) == ("an.bo", "round robin: dept_billing -> an.bo (first)")
    ticket = to_handling(first, open_complaint(first))
    assert ticket.task("handle").assignee == "bai.bo"
    # a completed task still counts for the rotation (its candidate index row is gone)
    first.complete(
        ticket.task("handle").id, billing_user("bai.bo"), {"outcome": "resolved", "result": "ok"}
    )
    # the reply task of the same group, claimed by someone, is not a "handle" task
    reply = first.ticket(ticket.number).task("reply")
    first.claim(reply.id, billing_user("an.bo"))

    second = make_engine(plugins=[RoundRobinDispatch(BILLING_TEAM, elements={"handle"})])
    assert next_handler(second) == ("cao.bo", "round robin: dept_billing -> cao.bo (after bai.bo)")
    assert next_handler(second)[0] == "an.bo"
    # both engines share one rotation: it lives in the database
    assert next_handler(first)[0] == "bai.bo"
    assert next_handler(second)[0] == "cao.bo"


def test_round_robin_group_names_are_matched_exactly(make_engine: Factory) -> None:
    """``dept_billing`` is not ``dept-billing`` nor ``dept_billing_vip`` (LIKE wildcards
    and prefixes in the stored group list)."""
    rr = RoundRobinDispatch(
        {
            "dept_billing": ["an.bo", "bai.bo"],
            "dept-billing": ["an.bo", "bai.bo"],
            "dept_billing_vip": ["an.bo", "bai.bo"],
        },
        elements={"handle"},
    )
    engine = make_engine(plugins=[rr])
    engine.deploy(PROCESSES)
    picks = [
        to_handling(engine, open_complaint(engine), department=dept).task("handle").assignee
        for dept in (
            "back_office,dept-billing",
            "dept_billing_vip,back_office",
            "dept_billing",
            "back_office,dept-billing",
        )
    ]
    assert picks == ["an.bo", "an.bo", "an.bo", "bai.bo"]


# ---------------------------------------------------------------- least loaded (engine)


def test_least_loaded_follows_claims_and_completions(make_engine: Factory) -> None:
    team = {"dept_billing": ["an.bo", "bai.bo"]}
    engine = make_engine(plugins=[LeastLoadedDispatch(team, elements={"handle"})])
    engine.deploy(PROCESSES)
    an, bai = billing_user("an.bo"), billing_user("bai.bo")

    def handled_by() -> tuple[str, Any]:
        ticket = to_handling(engine, open_complaint(engine))
        return ticket.task("handle").assignee, ticket

    first, t1 = handled_by()
    assert first == "an.bo"  # 0 : 0, by name
    assert created_event(engine, t1.number, "handle").details["dispatch"] == (
        "least loaded: dept_billing -> an.bo (0 open tasks)"
    )
    second, t2 = handled_by()
    assert second == "bai.bo"  # 1 : 0
    third, t3 = handled_by()
    assert third == "an.bo"  # 1 : 1
    # an.bo finishes t1 (2 -> 1); bai.bo claims t1's reply (1 -> 2)
    ticket = engine.complete(t1.task("handle").id, an, {"outcome": "resolved", "result": "ok"})
    engine.claim(ticket.task("reply").id, bai)
    fourth, t4 = handled_by()
    assert fourth == "an.bo"  # 1 : 2
    assert (
        created_event(engine, t4.number, "handle")
        .details["dispatch"]
        .endswith("an.bo (1 open tasks)")
    )
    # an.bo completes both of theirs: 0 : 2
    for t in (t3, t4):
        engine.complete(t.task("handle").id, an, {"outcome": "resolved", "result": "ok"})
    assert handled_by()[0] == "an.bo"
    # bai.bo gives the reply back and completes t2: an.bo 1 + 2 replies unclaimed, bai.bo 0
    engine.unclaim(engine.ticket(t1.number).task("reply").id, bai)
    engine.complete(t2.task("handle").id, bai, {"outcome": "resolved", "result": "ok"})
    assert handled_by()[0] == "bai.bo"


def test_skill_dispatch_in_the_engine(make_engine: Factory) -> None:
    """Skills from the complaint's level-1 category, among the department's members."""
    skill = SkillDispatch(
        {"an.bo": {NETWORK}, "bai.bo": {BILLING}, "cao.bo": {BILLING}},
        skills_from_data("category_l1"),
        users_by_group=BILLING_TEAM,
        elements={"handle"},
    )
    engine = make_engine(plugins=[skill])
    engine.deploy(PROCESSES)
    picks = [to_handling(engine, open_complaint(engine)).task("handle").assignee for _ in range(3)]
    assert picks == ["bai.bo", "cao.bo", "bai.bo"]
    # another department: nobody configured, the BPMN's queue stays
    ticket = to_handling(engine, open_complaint(engine), department="dept_network")
    assert ticket.task("handle").assignee is None
    assert skill.last_refusal == "skill: no configured user in the task's groups (dept_network)"


# ---------------------------------------------------------------- stacking (engine)


def test_grid_then_round_robin_in_one_chain(make_engine: Factory) -> None:
    """The grid chooses the department of ``handle``, round robin a person of it; the
    history shows both reasons."""
    grid = GridDispatch(
        [GridRule((BILLING,), "dept_billing"), GridRule((NETWORK,), "dept_network")]
    )
    rr = RoundRobinDispatch(
        {"dept_billing": ["an.bo", "bai.bo"], "dept_network": ["sun.li"]}, elements={"handle"}
    )
    engine = make_engine(plugins=[DispatchChain(grid, rr, elements={"handle"})])
    engine.deploy(PROCESSES)
    numbers, picks = [], []
    for _ in range(3):
        ticket = to_handling(engine, open_complaint(engine), department="back_office")
        task = ticket.task("handle")
        numbers.append(ticket.number)
        picks.append((task.candidate_groups, task.assignee))
    assert picks == [
        (("dept_billing",), "an.bo"),
        (("dept_billing",), "bai.bo"),
        (("dept_billing",), "an.bo"),
    ]
    assert created_event(engine, numbers[1], "handle").details["dispatch"] == (
        f"grid: {BILLING} -> dept_billing; round robin: dept_billing -> bai.bo (after an.bo)"
    )
    # a handler the dispatcher names is kept, the grid still sets the department
    ticket = open_complaint(engine)
    ticket = engine.complete(ticket.task("front_desk").id, Staff.agent, {"resolved": False})
    ticket = engine.complete(
        ticket.task("record").id,
        Staff.agent,
        {"description": "断网 no network", "urgency": "normal"},
    )
    ticket = engine.complete(
        ticket.task("classify").id,
        Staff.back_office,
        {"category_l1": NETWORK, "category_l2": "宽带 broadband", "category_l3": "断网 down"},
    )
    ticket = engine.complete(
        ticket.task("dispatch").id,
        Staff.back_office,
        {"department": "dept_billing", "handler": "sun.li"},
    )
    task = ticket.task("handle")
    assert (task.candidate_groups, task.assignee) == (("dept_network",), "sun.li")
    assert created_event(engine, ticket.number, "handle").details["dispatch"] == (
        f"grid: {NETWORK} -> dept_network"
    )


def test_plugins_registered_side_by_side_each_answer_for_their_own_tasks(
    make_engine: Factory,
) -> None:
    """firstresult: the plugin registered last is asked first and returns None for tasks
    that are not its own, so the next one decides."""
    callbacks = LeastLoadedDispatch({"callback_agent": ["chen.jing"]}, elements={"callback"})
    grid = GridDispatch(GRID, elements={"handle"})
    engine = make_engine(plugins=[grid, callbacks])
    engine.deploy(PROCESSES)
    ticket = to_handling(engine, open_complaint(engine))
    assert ticket.task("handle").candidate_groups == ("dept_fees",)
    zhao = User.of("zhao.lei", groups=["dept_fees"])
    ticket = engine.complete(
        ticket.task("handle").id, zhao, {"outcome": "resolved", "result": "ok"}
    )
    # the grid covers handle only: reply follows ${department}, which the grid did not change
    assert ticket.task("reply").candidate_groups == ("dept_billing",)
    ticket = engine.complete(ticket.task("reply").id, Staff.billing, {"reply": "已退还 refunded"})
    assert ticket.task("callback").assignee == "chen.jing"
    assert created_event(engine, ticket.number, "callback").details["dispatch"] == (
        "least loaded: callback_agent -> chen.jing (0 open tasks)"
    )


# ---------------------------------------------------------------- two-level (engine)

HUAIAN = "淮安 Huai'an"
CENTRES = {
    HUAIAN: {"city_group": "huaian_centre", "engineers": ["wang.gc", "li.gc"]},
    "苏州 Suzhou": {"city_group": "suzhou_centre", "engineers": ["xu.gc"]},
}
CITY_SUPERVISOR = User.of("liu.qz", groups=["huaian_centre"])


def to_second_dispatch(engine: Any, process: str = "repair") -> Any:
    ticket = engine.open_ticket(process, customer="H-320800-017", channel="hotline")
    ticket = engine.complete(
        ticket.task("phone_support").id,
        Onsite.call_center,
        {"fault": "打印机卡纸 printer jams", "solved": False},
    )
    return engine.complete(
        ticket.task("dispatch_region").id,
        Onsite.dispatcher,
        {"maintenance_region": HUAIAN, "dispatch_level": "province"},
    )


def test_two_level_repair_goes_to_the_city_centre(make_engine: Factory) -> None:
    """Province mode: the second dispatch goes to the region's city centre, whose
    supervisor names the engineer (the plugin keeps a named engineer)."""
    engine = make_engine(plugins=[TwoLevelDispatch(CENTRES)])
    engine.deploy(PROCESSES)
    ticket = to_second_dispatch(engine)
    task = ticket.task("second_dispatch")
    assert (task.candidate_groups, task.assignee) == (("huaian_centre",), None)
    assert task.process_id == "repair"  # the ticket's process, not onsite_service
    assert created_event(engine, ticket.number, "second_dispatch").details["dispatch"] == (
        f"two-level: region {HUAIAN} -> huaian_centre"
    )
    # the BPMN's regional_supervisor group no longer sees it; the city's supervisor does
    with pytest.raises(PermissionDeniedError):
        engine.complete(task.id, Onsite.regional, {"engineer": "wang.gc"})
    ticket = engine.complete(task.id, CITY_SUPERVISOR, {"engineer": "wang.gc"})
    work = ticket.task("onsite_work")
    assert (work.assignee, work.candidate_groups) == ("wang.gc", ("engineer",))
    assert "dispatch" not in created_event(engine, ticket.number, "onsite_work").details


def onsite_with_optional_engineer(tmp_path: Path) -> Path:
    """onsite_service.bpmn where the city supervisor may leave the engineer to the system."""
    source = (PROCESSES / "onsite_service.bpmn").read_text(encoding="utf-8")
    required = """          <camunda:formField id="engineer" label="工程师 Engineer" type="string">
            <camunda:validation>
              <camunda:constraint name="required" />
            </camunda:validation>
          </camunda:formField>"""
    assert source.count(required) == 1
    optional = '          <camunda:formField id="engineer" label="工程师 Engineer" type="string" />'
    path = tmp_path / "flows" / "onsite_service.bpmn"
    path.parent.mkdir()
    path.write_text(source.replace(required, optional), encoding="utf-8")
    return path


def test_two_level_picks_the_least_loaded_engineer(make_engine: Factory, tmp_path: Path) -> None:
    engine = make_engine(plugins=[TwoLevelDispatch(CENTRES)])
    engine.deploy(onsite_with_optional_engineer(tmp_path), PROCESSES / "repair.bpmn")

    def engineer_of() -> tuple[str, Any]:
        ticket = to_second_dispatch(engine)
        ticket = engine.complete(ticket.task("second_dispatch").id, CITY_SUPERVISOR, {})
        return ticket.task("onsite_work").assignee, ticket

    first, t1 = engineer_of()
    assert first == "li.gc"  # 0 : 0, by name
    assert created_event(engine, t1.number, "onsite_work").details["dispatch"] == (
        f"two-level: region {HUAIAN} (huaian_centre) -> engineer li.gc (0 open tasks)"
    )
    second, t2 = engineer_of()
    assert second == "wang.gc"  # li.gc has one
    # li.gc finishes the visit: 0 : 1
    li, wang = User.of("li.gc", groups=["engineer"]), User.of("wang.gc", groups=["engineer"])
    ticket = engine.complete(
        t1.task("onsite_work").id, li, {"success": True, "report": "更换主板 mainboard replaced"}
    )
    assert [t.element_id for t in ticket.open_tasks] == ["phone_callback"]
    # wang.gc's visit fails by their own fault: wang.gc goes again, although by load
    # (0 : 0, by name) li.gc would be chosen
    ticket = engine.complete(
        t2.task("onsite_work").id,
        wang,
        {"success": False, "report": "忘带配件 forgot the part", "failure_reason": "配件 part"},
    )
    ticket = engine.complete(
        ticket.task("judge_failure").id, Onsite.supervisor, {"cause": "engineer_fault"}
    )
    assert ticket.task("onsite_work").assignee == "wang.gc"
    assert created_event(engine, t2.number, "onsite_work", 1).details["dispatch"] == (
        f"two-level: region {HUAIAN}: engineer wang.gc again (repeat visit)"
    )
    assert ticket.data["engineer"] is None  # the plugin's choice is not process data
    # a customer cause re-dispatches: the city centre again, then a fresh pick by load
    ticket = engine.complete(
        ticket.task("onsite_work").id,
        wang,
        {"success": False, "report": "客户不在 customer absent", "failure_reason": "无人 nobody"},
    )
    ticket = engine.complete(
        ticket.task("judge_failure").id, Onsite.supervisor, {"cause": "customer"}
    )
    ticket = engine.complete(
        ticket.task("dispatch_region").id,
        Onsite.dispatcher,
        {"maintenance_region": HUAIAN, "dispatch_level": "province"},
    )
    assert ticket.task("second_dispatch").candidate_groups == ("huaian_centre",)
    ticket = engine.complete(ticket.task("second_dispatch").id, CITY_SUPERVISOR, {})
    assert ticket.task("onsite_work").assignee == "li.gc"
    assert created_event(engine, t2.number, "onsite_work", 2).details["dispatch"] == (
        f"two-level: region {HUAIAN} (huaian_centre) -> engineer li.gc (0 open tasks)"
    )


# ---------------------------------------------------------------- engine wiring gaps


def test_migration_keeps_the_dispatch_decision(make_engine: Factory, tmp_path: Path) -> None:
    engine = make_engine(plugins=[GridDispatch(GRID, elements={"handle"})])
    engine.deploy(PROCESSES)
    ticket = to_handling(engine, open_complaint(engine), department="dept_network")
    assert ticket.task("handle").candidate_groups == ("dept_fees",)
    source = (PROCESSES / "complaint.bpmn").read_text(encoding="utf-8")
    v2 = tmp_path / "complaint.bpmn"
    v2.write_text(source.replace('name="处理 Handle"', 'name="处理 Handle v2"'), encoding="utf-8")
    engine.deploy(v2)
    ticket = engine.migrate(ticket.number, User.system())
    assert ticket.task("handle").name == "处理 Handle v2"
    assert ticket.task("handle").candidate_groups == ("dept_fees",)  # is ("dept_network",)


EMPTY_GROUPS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs" targetNamespace="http://t">
  <bpmn:process id="grid_only" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="handle" name="Handle" camunda:candidateGroups="${department}"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="handle" />
    <bpmn:sequenceFlow id="f2" sourceRef="handle" targetRef="e" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_grid_decides_a_department_the_bpmn_leaves_empty(
    make_engine: Factory, tmp_path: Path
) -> None:
    engine = make_engine(plugins=[GridDispatch(GRID, elements={"handle"})])
    engine.deploy(write(tmp_path, "grid_only.bpmn", EMPTY_GROUPS))
    ticket = engine.open_ticket(
        "grid_only",
        customer="C-1",
        channel="hotline",
        data={"category_l1": BILLING, "department": ""},
    )
    assert ticket.task("handle").candidate_groups == ("dept_billing",)
