"""Category files: CSV and JSON, read with every problem located, written canonically.

CSV (UTF-8, a BOM is written so spreadsheets show Chinese correctly, and accepted on
read), one row per node, with the header :data:`COLUMNS`::

    code,parent,level,name,active,sp,sp_name,region,department,person
    BIL,,1,计费类,1,0,,,dept_billing,
    BIL01,BIL,2,话费争议,1,0,,,dept_billing,杨红
    BIL01,,,,,,,赣州,dept_billing_ganzhou,

A row with a ``region`` is a regional exception of the node with that code (only
``code``, ``region``, ``department`` and ``person`` are filled). JSON is a list of objects with
the same keys, the regional exceptions in a ``grid`` list of the node.

Writing is canonical (depth first, siblings in stored order, a node's regional rows
after it, sorted by region), so reading a written file and writing it again gives the
same bytes.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ticketflow.catalog.checks import GridRow, NodeRow, build_tree
from ticketflow.catalog.errors import CatalogFileError, Problem
from ticketflow.catalog.model import Category, CategoryTree, GridAssignment

COLUMNS = (
    "code",
    "parent",
    "level",
    "name",
    "active",
    "sp",
    "sp_name",
    "region",
    "department",
    "person",
)
REQUIRED = ("code", "level", "name")
NODE_ONLY = ("parent", "level", "name", "active", "sp", "sp_name")
GRID_KEYS = ("region", "department", "person")
TRUE = {"1", "true", "yes", "y", "是", "t"}
FALSE = {"0", "false", "no", "n", "否", "f"}
FORMATS = ("csv", "json")


def file_format(path: str | Path, fmt: str | None = None) -> str:
    """``csv`` or ``json``: ``fmt`` if given, else from the file name's suffix."""
    fmt = fmt or Path(path).suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise CatalogFileError(
            [Problem(str(path), None, None, "unknown format: use a .csv or .json file")]
        )
    return fmt


def read_file(path: str | Path, fmt: str | None = None) -> CategoryTree:
    """Read and validate a category file; :class:`CatalogFileError` lists every problem."""
    name = str(path)
    kind = file_format(path, fmt)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CatalogFileError(
            [Problem(name, None, None, f"not UTF-8 text: {exc.reason}")]
        ) from None
    except OSError as exc:
        raise CatalogFileError(
            [Problem(name, None, None, f"cannot read: {exc.strerror or exc}")]
        ) from None
    return parse_csv(text, name) if kind == "csv" else parse_json(text, name)


def write_file(tree: CategoryTree, path: str | Path, fmt: str | None = None) -> None:
    """Write ``tree`` as CSV or JSON (by suffix, or ``fmt``), replacing the file at once."""
    kind = file_format(path, fmt)
    text = dump_csv(tree) if kind == "csv" else dump_json(tree)
    target = Path(path)
    partial = target.with_name(f".{target.name}.partial")
    with open(partial, "w", encoding="utf-8-sig" if kind == "csv" else "utf-8", newline="") as f:
        f.write(text)
    os.replace(partial, target)  # readers never see half a file


# ------------------------------------------------------------------------------ CSV


def parse_csv(text: str, file: str = "<csv>") -> CategoryTree:
    """The tree of a CSV text (see the module docs)."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise CatalogFileError([Problem(file, 1, None, f"malformed CSV: {exc}")]) from None
    if not header:
        raise CatalogFileError([Problem(file, 1, None, "empty file: a header row is needed")])
    header = [h.strip() for h in header]
    problems = _check_header(header, file)
    if problems:
        raise CatalogFileError(problems)
    nodes: list[NodeRow] = []
    grid: list[GridRow] = []
    try:
        while True:
            line = reader.line_num + 1  # where the record starts (it may span lines)
            values = next(reader, None)
            if values is None:
                break
            if not any(v.strip() for v in values):
                continue
            if len(values) > len(header):
                problems.append(
                    Problem(file, line, None, f"{len(values)} fields, the header has {len(header)}")
                )
                continue
            row = {h: v.strip() for h, v in zip(header, values, strict=False)}
            _row(row, line, file, nodes, grid, problems)
    except csv.Error as exc:
        problems.append(Problem(file, reader.line_num, None, f"malformed CSV: {exc}"))
    if problems:
        raise CatalogFileError(problems)
    return build_tree(file, nodes, grid)


def _check_header(header: list[str], file: str) -> list[Problem]:
    problems = []
    for col in header:
        if col not in COLUMNS:
            problems.append(
                Problem(file, 1, None, f"unknown column '{col}' (known: {', '.join(COLUMNS)})")
            )
    for col in sorted({c for c in header if header.count(c) > 1}):
        problems.append(Problem(file, 1, None, f"column '{col}' given twice"))
    for col in REQUIRED:
        if col not in header:
            problems.append(Problem(file, 1, None, f"the header has no '{col}' column"))
    return problems


def _row(
    row: Mapping[str, str],
    line: int,
    file: str,
    nodes: list[NodeRow],
    grid: list[GridRow],
    problems: list[Problem],
) -> None:
    code = row.get("code", "")
    if not code:
        problems.append(Problem(file, line, None, "empty code"))
        return

    def fail(reason: str) -> None:
        problems.append(Problem(file, line, code, reason))

    region = row.get("region") or None
    if region is not None:
        extra = [c for c in NODE_ONLY if row.get(c)]
        if extra:
            fail(
                f"a regional row (region '{region}') gives only code, region, department "
                f"and person, not {', '.join(extra)}"
            )
            return
        if not row.get("department"):
            fail(f"regional row (region '{region}') without a department")
            return
        grid.append(
            GridRow(
                line, code, GridAssignment(region, row["department"], row.get("person") or None)
            )
        )
        return
    level_text = row.get("level", "")
    try:
        level = int(level_text)
    except ValueError:
        fail(f"level must be a number 1-4, got {level_text!r}")
        return
    flags: dict[str, bool] = {}
    for col, default in (("active", True), ("sp", False)):
        value = row.get(col, "").lower()
        if not value:
            flags[col] = default
        elif value in TRUE or value in FALSE:
            flags[col] = value in TRUE
        else:
            fail(f"column '{col}' must be 1 or 0, got {row.get(col)!r}")
            return
    nodes.append(
        NodeRow(
            line,
            Category(
                code=code,
                name=row.get("name", ""),
                level=level,
                parent=row.get("parent") or None,
                active=flags["active"],
                sp=flags["sp"],
                sp_name=row.get("sp_name") or None,
                department=row.get("department") or None,
                person=row.get("person") or None,
            ),
        )
    )


def dump_csv(tree: CategoryTree) -> str:
    """The tree as CSV text (canonical order, ``\\n`` line ends, no BOM)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for c in tree:
        writer.writerow(
            [
                c.code,
                c.parent or "",
                c.level,
                c.name,
                int(c.active),
                int(c.sp),
                c.sp_name or "",
                "",
                c.department or "",
                c.person or "",
            ]
        )
        for g in c.grid:
            writer.writerow(
                [c.code, "", "", "", "", "", "", g.region, g.department, g.person or ""]
            )
    return out.getvalue()


# ------------------------------------------------------------------------------ JSON

JSON_KEYS = (
    "code",
    "parent",
    "level",
    "name",
    "active",
    "sp",
    "sp_name",
    "department",
    "person",
    "grid",
)


def parse_json(text: str, file: str = "<json>") -> CategoryTree:
    """The tree of a JSON text: a list of node objects (see the module docs)."""
    nodes: list[NodeRow] = []
    grid: list[GridRow] = []
    problems: list[Problem] = []
    for line, item in _entries(text, file):
        if not isinstance(item, dict):
            problems.append(Problem(file, line, None, "an entry must be an object"))
            continue
        _json_node(item, line, file, nodes, grid, problems)
    if problems:
        raise CatalogFileError(problems)
    return build_tree(file, nodes, grid)


def _entries(text: str, file: str) -> Iterator[tuple[int, Any]]:
    """The top-level list's items with the line each starts on."""
    decoder = json.JSONDecoder()

    def skip(i: int) -> int:
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        return i

    def at(i: int) -> int:
        return text.count("\n", 0, i) + 1

    i = skip(0)
    if not text[i : i + 1] == "[":
        raise CatalogFileError(
            [Problem(file, at(i), None, "a category file is a JSON list of objects")]
        )
    i = skip(i + 1)
    if text[i : i + 1] == "]":
        return
    while True:
        try:
            item, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            raise CatalogFileError(
                [Problem(file, exc.lineno, None, f"invalid JSON: {exc.msg}")]
            ) from None
        yield at(i), item
        i = skip(end)
        sep = text[i : i + 1]
        if sep == ",":
            i = skip(i + 1)
            continue
        if sep == "]" and skip(i + 1) == len(text):
            return
        raise CatalogFileError(
            [Problem(file, at(i), None, "invalid JSON: expected ',' or a final ']'")]
        )


def _json_node(
    item: Mapping[str, Any],
    line: int,
    file: str,
    nodes: list[NodeRow],
    grid: list[GridRow],
    problems: list[Problem],
) -> None:
    code = item.get("code")
    if not isinstance(code, str) or not code.strip():
        problems.append(Problem(file, line, None, "'code' must be a non-empty string"))
        return

    def fail(reason: str) -> None:
        problems.append(Problem(file, line, code, reason))

    unknown = sorted(set(item) - set(JSON_KEYS))
    if unknown:
        fail(f"unknown key '{unknown[0]}' (known: {', '.join(JSON_KEYS)})")
        return
    level = item.get("level")
    if isinstance(level, bool) or not isinstance(level, int):
        fail(f"'level' must be a number 1-4, got {level!r}")
        return
    texts: dict[str, str | None] = {}
    for key in ("parent", "name", "sp_name", "department", "person"):
        value = item.get(key)
        if value is not None and not isinstance(value, str):
            fail(f"'{key}' must be a string or null, got {value!r}")
            return
        texts[key] = value.strip() if isinstance(value, str) and value.strip() else None
    flags: dict[str, bool] = {}
    for key, default in (("active", True), ("sp", False)):
        value = item.get(key, default)
        if not isinstance(value, bool):
            fail(f"'{key}' must be true or false, got {value!r}")
            return
        flags[key] = value
    entries = item.get("grid", [])
    if not isinstance(entries, list):
        fail("'grid' must be a list of {region, department, person} objects")
        return
    for entry in entries:
        if (
            not isinstance(entry, dict)
            or set(entry) - set(GRID_KEYS)
            or not all(isinstance(entry.get(k), str) and entry[k].strip() for k in GRID_KEYS[:2])
            or not isinstance(entry.get("person"), (str, type(None)))
        ):
            fail(f"bad grid entry {entry!r}: needs region and department strings, person optional")
            return
        person = (entry.get("person") or "").strip() or None
        grid.append(
            GridRow(
                line,
                code,
                GridAssignment(entry["region"].strip(), entry["department"].strip(), person),
            )
        )
    nodes.append(
        NodeRow(
            line,
            Category(
                code=code.strip(),
                name=texts["name"] or "",
                level=level,
                parent=texts["parent"],
                active=flags["active"],
                sp=flags["sp"],
                sp_name=texts["sp_name"],
                department=texts["department"],
                person=texts["person"],
            ),
        )
    )


def dump_json(tree: CategoryTree) -> str:
    """The tree as JSON text (canonical order, one key order, UTF-8 characters as is)."""
    items = [
        {
            "code": c.code,
            "parent": c.parent,
            "level": c.level,
            "name": c.name,
            "active": c.active,
            "sp": c.sp,
            "sp_name": c.sp_name,
            "department": c.department,
            "person": c.person,
            "grid": [
                {"region": g.region, "department": g.department, "person": g.person} for g in c.grid
            ],
        }
        for c in tree
    ]
    return json.dumps(items, ensure_ascii=False, indent=2) + "\n"
