"""The category tree (四级分类) and responsibility grid (网格化): files, validation, storage,
lookups, classification checks and grid dispatch through the real engine."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from ticketflow import Engine, User
from ticketflow.catalog import (
    DEFAULT_TREE,
    Catalog,
    CatalogDispatch,
    CatalogFileError,
    ClassificationCheck,
    ClassificationError,
    UnknownCategoryError,
    dump_csv,
    dump_json,
    parse_csv,
    parse_json,
    read_file,
)
from ticketflow.errors import InvalidDataError

from .conftest import PROCESSES, Staff
from .journeys import open_complaint

HEADER = "code,parent,level,name,active,sp,sp_name,region,department,person\n"
SMALL = (
    HEADER + "BIL,,1,计费类,1,0,,,dept_billing,\n"
    "BIL01,BIL,2,话费争议,1,0,,,,\n"
    "BIL0101,BIL01,3,重复扣费,1,0,,,dept_fees,zhao.lei\n"
    "BIL0101,,,,,,,赣州,dept_fees_ganzhou,\n"
    "SP,,1,SP类,1,1,,,dept_vas,\n"
    "SP01,SP,2,彩铃,0,1,彩铃基地,,,\n"
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def classified(ticket_data: dict[str, Any], *codes: str) -> dict[str, Any]:
    return {**ticket_data, **{f"category_l{i}": c for i, c in enumerate(codes, 1)}}


# ---------------------------------------------------------------- files (no database)


def test_small_file_reads_into_a_tree() -> None:
    tree = parse_csv(SMALL, "small.csv")
    assert [c.code for c in tree] == ["BIL", "BIL01", "BIL0101", "SP", "SP01"]
    fees = tree.get("BIL0101")
    assert (fees.level, fees.parent, fees.department, fees.person) == (
        3,
        "BIL01",
        "dept_fees",
        "zhao.lei",
    )
    assert [(g.region, g.department, g.person) for g in fees.grid] == [
        ("赣州", "dept_fees_ganzhou", None)
    ]
    ringtone = tree.get("SP01")
    assert (ringtone.active, ringtone.sp, ringtone.sp_name) == (False, True, "彩铃基地")
    assert dump_csv(tree) == SMALL
    assert parse_json(dump_json(tree), "small.json") == tree


def test_default_tree_is_a_full_four_level_tree() -> None:
    tree = read_file(DEFAULT_TREE)
    assert [c.name for c in tree.roots()] == ["业务类", "网络类", "服务类", "计费类", "SP类"]
    assert {c.level for c in tree} == {1, 2, 3, 4}
    assert all(c.department for c in tree.roots()), "every level-1 category has an owner"
    assert tree.label("SP0101") == "SP类/彩铃/彩铃开通不成功"
    assert tree.responsible("SP0101") is not None
    assert tree.responsible("SP0101").department == "dept_business_support"  # type: ignore[union-attr]
    assert tree.responsible("SP0102").department == "dept_data"  # type: ignore[union-attr]
    assert dump_csv(tree).encode() == DEFAULT_TREE.read_bytes().removeprefix(b"\xef\xbb\xbf")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            "A,,1,甲,1,0,,,d,\nA,,1,乙,1,0,,,d,\n",
            "cats.csv:3: code 'A': duplicate code (first defined on line 2)",
        ),
        ("A,,1,甲,1,0,,,d,\nB,X,2,乙,1,0,,,,\n", "cats.csv:3: code 'B': unknown parent 'X'"),
        (
            "A,,1,甲,1,0,,,d,\nB,A,3,乙,1,0,,,,\n",
            "cats.csv:3: code 'B': level gap: level 3 under 'A' of level 1 (expected level 2)",
        ),
        (
            "A,B,2,甲,1,0,,,d,\nB,C,2,乙,1,0,,,,\nC,A,2,丙,1,0,,,,\n",
            "cats.csv:2: code 'A': parent cycle: A -> B -> C -> A",
        ),
        ("A,,2,甲,1,0,,,d,\n", "cats.csv:2: code 'A': level 2 needs a parent"),
        ("A,,5,甲,1,0,,,d,\n", "cats.csv:2: code 'A': level must be 1-4, got 5"),
        ("A,,一,甲,1,0,,,d,\n", "cats.csv:2: code 'A': level must be a number 1-4, got '一'"),
        ("A,,1,甲,maybe,0,,,d,\n", "cats.csv:2: code 'A': column 'active' must be 1 or 0"),
        ("A B,,1,甲,1,0,,,d,\n", "cats.csv:2: code 'A B': a code is 1-64 letters"),
        ("A,,1,,1,0,,,d,\n", "cats.csv:2: code 'A': empty name"),
        (
            "A,,1,甲,1,0,,,d,\nB,,1,甲,1,0,,,d,\n",
            "cats.csv:3: code 'B': same name as its sibling 'A' (line 2)",
        ),
        (
            "A,,1,甲,1,0,,,d,\nZ,,,,,,,南昌,d2,\n",
            "cats.csv:3: code 'Z': regional row for an unknown code",
        ),
        (
            "A,,1,甲,1,0,,,d,\nA,,,,,,,南昌,d2,\nA,,,,,,,南昌,d3,\n",
            "cats.csv:4: code 'A': region '南昌' given twice (first on line 3)",
        ),
        (
            "A,,1,甲,1,0,,,d,\nA,,1,,,,,南昌,d2,\n",
            "cats.csv:3: code 'A': a regional row (region '南昌') gives only code, region, "
            "department and person, not level",
        ),
        ("A,,1,甲,1,0,,,d,,extra\n", "cats.csv:2: 11 fields, the header has 10"),
        (
            'A,,1,"甲\n乙",1,0,,,d,\nA,,1,丙,1,0,,,d,\n',  # a quoted name spanning two lines
            "cats.csv:4: code 'A': duplicate code (first defined on line 2)",
        ),
    ],
)
def test_each_csv_problem_is_named_with_file_line_and_code(
    tmp_path: Path, rows: str, message: str
) -> None:
    with pytest.raises(CatalogFileError) as caught:
        read_file(write(tmp_path, "cats.csv", HEADER + rows))
    assert message in str(caught.value)
    assert len(caught.value.problems) == 1, caught.value.problems


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path, "cats.csv", HEADER + "A,,1,甲,1,0,,,d,\nA,,1,乙,1,0,,,d,\nB,Q,2,丙,1,0,,,,\n"
    )
    with pytest.raises(CatalogFileError) as caught:
        read_file(path)
    assert str(caught.value).splitlines() == [
        f"{path}: 2 problems, nothing imported",
        f"{path}:3: code 'A': duplicate code (first defined on line 2)",
        f"{path}:4: code 'B': unknown parent 'Q'",
    ]
    assert [(p.line, p.code) for p in caught.value.problems] == [(3, "A"), (4, "B")]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("code,level,name,owner\n", "cats.csv:1: unknown column 'owner'"),
        ("code,level\n", "cats.csv:1: the header has no 'name' column"),
        ("code,level,name,name\n", "cats.csv:1: column 'name' given twice"),
        ("", "cats.csv:1: empty file"),
    ],
)
def test_bad_headers(tmp_path: Path, header: str, message: str) -> None:
    with pytest.raises(CatalogFileError) as caught:
        read_file(write(tmp_path, "cats.csv", header))
    assert message in str(caught.value)


def test_json_problems_name_the_line_of_the_entry(tmp_path: Path) -> None:
    text = (
        "[\n"
        '  {"code": "A", "level": 1, "name": "甲"},\n'
        '  {"code": "B", "level": 2, "name": "乙",\n'
        '   "parent": "A"},\n'
        '  {"code": "A", "level": 1, "name": "丙"},\n'
        '  {"code": "C", "level": 2, "name": "丁", "parent": "Z"}\n'
        "]\n"
    )
    with pytest.raises(CatalogFileError) as caught:
        read_file(write(tmp_path, "cats.json", text))
    assert [str(p).split(": ", 1)[1] for p in caught.value.problems] == [
        "code 'A': duplicate code (first defined on line 2)",
        "code 'C': unknown parent 'Z'",
    ]
    assert [p.line for p in caught.value.problems] == [5, 6]
    with pytest.raises(CatalogFileError, match=r"cats.json:2: code 'A': 'level' must be a number"):
        read_file(write(tmp_path, "cats.json", '[\n {"code": "A", "level": "1", "name": "x"}]'))
    with pytest.raises(CatalogFileError, match=r"cats.json:1: code 'A': unknown key 'owner'"):
        read_file(
            write(tmp_path, "cats.json", '[{"code": "A", "level": 1, "name": "x", "owner": 1}]')
        )
    with pytest.raises(CatalogFileError, match=r"cats.json:2: invalid JSON"):
        read_file(write(tmp_path, "cats.json", '[\n {"code": "A",,}]'))
    with pytest.raises(CatalogFileError, match=r"a category file is a JSON list of objects"):
        read_file(write(tmp_path, "cats.json", '{"code": "A"}'))
    with pytest.raises(CatalogFileError, match=r"cats.txt: unknown format"):
        read_file(write(tmp_path, "cats.txt", ""))
    with pytest.raises(CatalogFileError, match=r"missing.csv: cannot read"):
        read_file(tmp_path / "missing.csv")


# ---------------------------------------------------------------- lookups and classification


def test_lookups() -> None:
    tree = parse_csv(SMALL)
    assert [c.code for c in tree.path("BIL0101")] == ["BIL", "BIL01", "BIL0101"]
    assert [c.code for c in tree.children("BIL")] == ["BIL01"]
    assert tree.children("SP", active_only=True) == []
    assert tree.label("BIL0101", " > ") == "计费类 > 话费争议 > 重复扣费"
    assert not tree.is_active("SP01") and tree.is_active("BIL0101")
    assert (tree.sp_name("SP01"), tree.is_sp("SP01"), tree.is_sp("BIL01")) == (
        "彩铃基地",
        True,
        False,
    )
    assert tree.responsible("BIL0101", "赣州").department == "dept_fees_ganzhou"  # type: ignore[union-attr]
    assert tree.responsible("BIL0101", "南昌").department == "dept_fees"  # type: ignore[union-attr]
    inherited = tree.responsible("BIL01", "赣州")
    assert inherited is not None and (inherited.department, inherited.source) == (
        "dept_billing",
        "BIL",
    )
    with pytest.raises(UnknownCategoryError, match="no category has the code 'NOPE'"):
        tree.get("NOPE")


@pytest.mark.parametrize(
    ("codes", "field", "reason"),
    [
        (("BIL", "SP01", "BIL0101"), "category_l2", "category SP01 彩铃 is not under BIL 计费类"),
        (("BIL", "BIL01", "XX"), "category_l3", "unknown category 'XX' under BIL01 话费争议"),
        (("BIL", "BIL01"), "category_l3", "level 3 is required"),
        (("BIL01",), "category_l1", "category BIL01 话费争议 is not at level 1"),
        (("SP", "SP01"), "category_l2", "category SP01 彩铃 is no longer in use"),
    ],
)
def test_bad_classifications_name_the_field(
    codes: tuple[str, ...], field: str, reason: str
) -> None:
    tree = parse_csv(SMALL)
    with pytest.raises(ClassificationError) as caught:
        tree.classification(classified({}, *codes), ticket="TS-1", min_level=min(3, len(codes) + 1))
    assert caught.value.field == field
    assert str(caught.value).startswith(f"ticket TS-1: field '{field}': {reason}")


def test_good_classifications() -> None:
    tree = parse_csv(SMALL)
    path = tree.classification(classified({}, "BIL", "BIL01", "BIL0101"))
    assert [c.code for c in path] == ["BIL", "BIL01", "BIL0101"]
    assert len(tree.classification({"category_l1": "SP"}, min_level=1)) == 1
    assert (
        len(tree.classification(classified({}, "SP", "SP01"), allow_inactive=True, min_level=2))
        == 2
    )
    with pytest.raises(ClassificationError, match="field 'category_l3': given without level 2"):
        tree.classification({"category_l1": "BIL", "category_l3": "BIL0101"}, min_level=1)


# ---------------------------------------------------------------- storage


def test_default_tree_round_trips_through_the_database(engine: Engine, tmp_path: Path) -> None:
    catalog = Catalog(engine)
    report = catalog.import_default()
    assert (len(report.added), report.changed, report.removed) == (83, (), ())
    catalog.export_file(tmp_path / "out.csv")
    assert (tmp_path / "out.csv").read_bytes() == DEFAULT_TREE.read_bytes()
    catalog.export_file(tmp_path / "out.json")
    again = catalog.import_file(tmp_path / "out.json")
    assert (again.added, again.changed, again.removed, again.unchanged) == ((), (), (), 83)
    catalog.export_file(tmp_path / "again.csv")
    assert (tmp_path / "again.csv").read_bytes() == DEFAULT_TREE.read_bytes()
    assert catalog.tree() == read_file(DEFAULT_TREE)
    path = catalog.classification(
        {"category_l1": "BIL", "category_l2": "BIL01", "category_l3": "BIL0101"}
    )
    assert [c.name for c in path] == ["计费类", "话费争议", "重复扣费"]
    entries = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    broadband = next(e for e in entries if e["code"] == "NET04")
    assert broadband["grid"] == [
        {"region": "南昌", "department": "dept_broadband_nanchang", "person": None},
        {"region": "赣州", "department": "dept_broadband_ganzhou", "person": None},
    ]


def test_import_reports_changes_and_is_all_or_nothing(engine: Engine, tmp_path: Path) -> None:
    catalog = Catalog(engine)
    catalog.import_file(write(tmp_path, "small.csv", SMALL))
    changed = SMALL.replace("重复扣费,1,0,,,dept_fees,zhao.lei", "重复扣费,1,0,,,dept_fees,qian.bo")
    changed = changed.replace("SP01,SP,2,彩铃,0,1,彩铃基地,,,\n", "") + "BIL02,BIL,2,发票,1,0,,,,\n"
    report = catalog.import_file(write(tmp_path, "changed.csv", changed))
    assert (report.added, report.changed, report.removed, report.unchanged) == (
        ("BIL02",),
        ("BIL0101",),
        ("SP01",),
        3,
    )
    assert str(report).endswith("1 added, 1 changed, 1 removed, 3 unchanged")
    before = catalog.tree()
    broken = changed + "BIL03,NOPE,2,缴费,1,0,,,,\n"
    with pytest.raises(CatalogFileError, match="unknown parent 'NOPE'"):
        catalog.import_file(write(tmp_path, "broken.csv", broken))
    assert catalog.tree() == before


def test_import_joins_the_host_transaction(engine: Engine, tmp_path: Path) -> None:
    catalog = Catalog(engine)
    path = write(tmp_path, "small.csv", SMALL)
    with Session(engine.bind) as session, session.begin():
        catalog.import_file(path, session=session)
        assert len(catalog.tree(session=session)) == 5
        session.rollback()
    assert len(catalog.tree()) == 0


def test_concurrent_imports_run_one_after_the_other(engine: Engine, tmp_path: Path) -> None:
    catalog = Catalog(engine)
    small = write(tmp_path, "small.csv", SMALL)
    errors: list[Exception] = []

    def run(path: Path) -> None:
        try:
            catalog.import_file(path)
        except Exception as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in (small, DEFAULT_TREE) * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert catalog.tree() in (parse_csv(SMALL), read_file(DEFAULT_TREE))


def test_categories_in_use_are_not_removed(engine: Engine, tmp_path: Path) -> None:
    catalog = Catalog(engine)
    catalog.import_file(write(tmp_path, "small.csv", SMALL))
    open_complaint(engine, data=classified({}, "BIL", "BIL01", "BIL0101"))
    without = "\n".join(line for line in SMALL.splitlines() if "BIL0101" not in line) + "\n"
    with pytest.raises(InvalidDataError, match=r"BIL0101 \(1 tickets\); keep them with active=0"):
        catalog.import_file(write(tmp_path, "without.csv", without))
    assert "BIL0101" in catalog.tree()
    report = catalog.import_file(tmp_path / "without.csv", allow_removal=True)
    assert report.removed == ("BIL0101",)


# ---------------------------------------------------------------- plugins, through the engine

HANDLER = User.of(
    "zhang.san",
    groups=["dept_billing", "dept_broadband", "dept_broadband_nanchang", "dept_network"],
)


def classify_and_dispatch(
    engine: Engine, region: str | None, codes: tuple[str, ...], department: str
) -> Any:
    ticket = open_complaint(engine, region=region)
    ticket = engine.complete(ticket.task("front_desk").id, Staff.agent, {"resolved": False})
    ticket = engine.complete(
        ticket.task("record").id, Staff.agent, {"description": "宽带断线", "urgency": "normal"}
    )
    ticket = engine.complete(ticket.task("classify").id, Staff.back_office, classified({}, *codes))
    return engine.complete(
        ticket.task("dispatch").id, Staff.back_office, {"department": department}
    )


def test_grid_dispatch_assigns_the_mapped_department(make_engine: Callable[..., Engine]) -> None:
    engine = make_engine(plugins=[CatalogDispatch(), ClassificationCheck()])
    engine.deploy(PROCESSES)
    Catalog(engine).import_default()
    # regional exception of 家庭宽带 in 南昌; the dispatcher's choice is replaced
    ticket = classify_and_dispatch(engine, "南昌", ("NET", "NET04", "NET0401"), "dept_network")
    handle = ticket.task("handle")
    assert (handle.candidate_groups, handle.assignee) == (("dept_broadband_nanchang",), None)
    event = next(
        e
        for e in engine.history(ticket.number)
        if e.kind == "task_created" and e.element_id == "handle"
    )
    assert event.details["dispatch"] == "grid: NET/NET04 @ 南昌 -> dept_broadband_nanchang"
    # elsewhere the node's own department; a named person becomes the assignee
    ticket = classify_and_dispatch(engine, "九江", ("NET", "NET04", "NET0402"), "dept_network")
    assert ticket.task("handle").candidate_groups == ("dept_broadband",)
    ticket = classify_and_dispatch(engine, None, ("BIL", "BIL02", "BIL0201"), "dept_network")
    assert (ticket.task("handle").candidate_groups, ticket.task("handle").assignee) == (
        ("dept_billing",),
        "yang.hong",
    )
    # a transfer goes where it was sent, not back to the grid's department
    ticket = classify_and_dispatch(engine, "九江", ("NET", "NET04", "NET0402"), "dept_network")
    ticket = engine.complete(
        ticket.task("handle").id, HANDLER, {"outcome": "transfer", "transfer_to": "dept_billing"}
    )
    assert ticket.task("handle").candidate_groups == ("dept_billing",)


def test_grid_without_a_mapping_keeps_the_dispatchers_choice(
    make_engine: Callable[..., Engine], tmp_path: Path
) -> None:
    engine = make_engine(plugins=[CatalogDispatch()])
    engine.deploy(PROCESSES)
    unmapped = HEADER + "X,,1,其他,1,0,,,,\nX1,X,2,其他问题,1,0,,,,\nX11,X1,3,未归类,1,0,,,,\n"
    Catalog(engine).import_file(write(tmp_path, "x.csv", unmapped))
    ticket = classify_and_dispatch(engine, "南昌", ("X", "X1", "X11"), "dept_network")
    assert ticket.task("handle").candidate_groups == ("dept_network",)
    ticket = classify_and_dispatch(engine, "南昌", ("NOT", "IN", "TREE"), "dept_billing")
    assert ticket.task("handle").candidate_groups == ("dept_billing",)


def test_classification_check_refuses_a_wrong_path(make_engine: Callable[..., Engine]) -> None:
    engine = make_engine(plugins=[ClassificationCheck()])
    engine.deploy(PROCESSES)
    Catalog(engine).import_default()
    ticket = open_complaint(engine)
    ticket = engine.complete(ticket.task("front_desk").id, Staff.agent, {"resolved": False})
    ticket = engine.complete(
        ticket.task("record").id, Staff.agent, {"description": "多扣费", "urgency": "normal"}
    )
    task = ticket.task("classify")
    with pytest.raises(
        ClassificationError,
        match=r"field 'category_l2': category NET04 家庭宽带 is not under BIL 计费类",
    ):
        engine.complete(task.id, Staff.back_office, classified({}, "BIL", "NET04", "NET0401"))
    assert engine.ticket(ticket.number).task("classify").id == task.id  # nothing stored
    ticket = engine.complete(task.id, Staff.back_office, classified({}, "BIL", "BIL01", "BIL0101"))
    assert ticket.task("dispatch")


# ---------------------------------------------------------------- command line


def test_categories_command_line(engine: Engine, db_url: str, tmp_path: Path) -> None:
    from ticketflow.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["categories", "import", "--url", db_url])
    assert result.exit_code == 0, result.output
    assert "83 added, 0 changed, 0 removed, 0 unchanged" in result.output.replace("\n", " ")
    result = runner.invoke(
        app, ["categories", "show", "NET0401", "--region", "赣州", "--url", db_url]
    )
    assert result.exit_code == 0, result.output
    assert (
        "dept_broadband_ganzhou" in result.output and "NET 网络类 / NET04 家庭宽带" in result.output
    )
    result = runner.invoke(app, ["categories", "show", "--url", db_url])
    assert "83 categories" in result.output and "BUS0403" not in result.output  # retired
    out = tmp_path / "tree.json"
    result = runner.invoke(app, ["categories", "export", str(out), "--url", db_url])
    assert result.exit_code == 0 and "83 categories written" in result.output
    assert read_file(out) == read_file(DEFAULT_TREE)
    bad = write(tmp_path, "bad.csv", HEADER + "A,,2,甲,1,0,,,,\n")
    result = runner.invoke(app, ["categories", "import", str(bad), "--url", db_url])
    assert result.exit_code == 1
    assert "bad.csv:2: code 'A': level 2 needs a parent" in result.output.replace("\n", "")
