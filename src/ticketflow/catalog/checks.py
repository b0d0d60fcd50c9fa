"""Validation of a category table read from a file: every problem with its file, line, code.

Checked: code and name well formed, duplicate codes, unknown parents, cycles, levels
(1-4, level 1 without a parent, each child exactly one level below its parent), sibling
names, and the regional rows (known code, one row per code and region).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from ticketflow.catalog.errors import CatalogFileError, Problem
from ticketflow.catalog.model import MAX_LEVEL, Category, CategoryTree, GridAssignment

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class NodeRow:
    """A category as read from a file, with the line it starts on."""

    line: int
    category: Category


@dataclass(frozen=True)
class GridRow:
    """A regional assignment as read from a file."""

    line: int
    code: str
    entry: GridAssignment


def build_tree(file: str, nodes: Sequence[NodeRow], grid: Sequence[GridRow]) -> CategoryTree:
    """The tree described by the rows; :class:`CatalogFileError` listing every problem."""
    problems: list[Problem] = []

    def fail(row: NodeRow | GridRow, reason: str) -> None:
        code = row.category.code if isinstance(row, NodeRow) else row.code
        problems.append(Problem(file, row.line, code, reason))

    first: dict[str, NodeRow] = {}
    for row in nodes:
        c = row.category
        if not CODE.match(c.code):
            fail(row, "a code is 1-64 letters, digits, '_', '.' or '-' (letter or digit first)")
        if c.code in first:
            fail(row, f"duplicate code (first defined on line {first[c.code].line})")
            continue
        first[c.code] = row
        if not 1 <= c.level <= MAX_LEVEL:
            fail(row, f"level must be 1-{MAX_LEVEL}, got {c.level}")
        if not c.name.strip():
            fail(row, "empty name")
    for row in first.values():
        c = row.category
        if c.parent is not None and c.parent not in first:
            fail(row, f"unknown parent '{c.parent}'")
    in_cycle = _cycles(first, fail)
    for row in first.values():
        c = row.category
        if c.code in in_cycle or not 1 <= c.level <= MAX_LEVEL:
            continue
        if c.parent is None:
            if c.level != 1:
                fail(row, f"level {c.level} needs a parent (only level 1 has none)")
        elif c.parent in first:
            parent = first[c.parent].category
            if c.level != parent.level + 1:
                fail(
                    row,
                    f"level gap: level {c.level} under '{parent.code}' of level {parent.level} "
                    f"(expected level {parent.level + 1})",
                )
    siblings: dict[tuple[str | None, str], NodeRow] = {}
    for row in first.values():
        key = (row.category.parent, row.category.name.strip())
        if key in siblings:
            other = siblings[key]
            fail(row, f"same name as its sibling '{other.category.code}' (line {other.line})")
        else:
            siblings[key] = row

    regional: dict[str, dict[str, GridAssignment]] = {}
    seen: dict[tuple[str, str], int] = {}
    for g in grid:
        if g.code not in first:
            fail(g, "regional row for an unknown code")
            continue
        key = (g.code, g.entry.region)
        if key in seen:
            fail(g, f"region '{g.entry.region}' given twice (first on line {seen[key]})")
            continue
        seen[key] = g.line
        regional.setdefault(g.code, {})[g.entry.region] = g.entry
    if problems:
        raise CatalogFileError(sorted(problems, key=lambda p: (p.line or 0, p.reason)))
    return CategoryTree(
        replace(
            row.category,
            grid=tuple(v for _, v in sorted(regional.get(row.category.code, {}).items())),
        )
        for row in first.values()
    )


def _cycles(first: dict[str, NodeRow], fail: Callable[[NodeRow, str], None]) -> set[str]:
    """Codes on a parent cycle; each cycle is reported once, at its first line."""
    on_cycle: set[str] = set()
    done: set[str] = set()
    for start in first:
        trail: list[str] = []
        code: str | None = start
        while code is not None and code in first and code not in done:
            if code in trail:
                cycle = trail[trail.index(code) :]
                on_cycle.update(cycle)
                head = min(cycle, key=lambda c: first[c].line)
                i = cycle.index(head)
                loop = [*cycle[i:], *cycle[:i], head]
                fail(first[head], "parent cycle: " + " -> ".join(loop))
                break
            trail.append(code)
            code = first[code].category.parent
        done.update(trail)
    return on_cycle
