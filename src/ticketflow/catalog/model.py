"""The category tree in memory: nodes, paths, children, responsibility, classification checks."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ticketflow.catalog.errors import ClassificationError, UnknownCategoryError

#: Ticket data keys holding the classification, level 1 to 4 (the complaint flow's names).
CATEGORY_KEYS = ("category_l1", "category_l2", "category_l3", "category_l4")
MAX_LEVEL = 4


@dataclass(frozen=True)
class GridAssignment:
    """In ``region``, the node's complaints go to ``department`` (and ``person``)."""

    region: str
    department: str
    person: str | None = None


@dataclass(frozen=True)
class Category:
    """A node of the category tree.

    ``department`` / ``person`` are responsible for the node's complaints in every region
    except those listed in ``grid``; a node without them inherits its parent's.
    ``sp`` marks value-added-service (SP) categories, ``sp_name`` the provider.
    """

    code: str
    name: str
    level: int
    parent: str | None = None
    active: bool = True
    sp: bool = False
    sp_name: str | None = None
    department: str | None = None
    person: str | None = None
    grid: tuple[GridAssignment, ...] = ()


@dataclass(frozen=True)
class Responsibility:
    """Who answers for a category in a region, and which node's mapping said so."""

    department: str
    person: str | None
    source: str
    region: str | None


class CategoryTree:
    """A validated category tree (build it with :func:`ticketflow.catalog.load_tree` or
    from a file with :func:`ticketflow.catalog.read_file`).

    Iteration is depth first, siblings in their stored order.
    """

    def __init__(self, categories: Iterable[Category]) -> None:
        self._nodes: dict[str, Category] = {}
        self._children: dict[str | None, list[str]] = {}
        for node in categories:
            self._nodes[node.code] = node
            self._children.setdefault(node.parent, []).append(node.code)

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, code: object) -> bool:
        return code in self._nodes

    def __iter__(self) -> Iterator[Category]:
        stack = list(reversed(self._children.get(None, [])))
        while stack:
            code = stack.pop()
            yield self._nodes[code]
            stack.extend(reversed(self._children.get(code, [])))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CategoryTree) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def get(self, code: str) -> Category:
        """The node with ``code``; :class:`UnknownCategoryError` if there is none."""
        try:
            return self._nodes[code]
        except KeyError:
            raise UnknownCategoryError(code) from None

    def roots(self, *, active_only: bool = False) -> list[Category]:
        """The level-1 categories."""
        return self._select(self._children.get(None, []), active_only)

    def children(self, code: str, *, active_only: bool = False) -> list[Category]:
        """The direct children of ``code``."""
        self.get(code)
        return self._select(self._children.get(code, []), active_only)

    def _select(self, codes: Sequence[str], active_only: bool) -> list[Category]:
        nodes = [self._nodes[c] for c in codes]
        return [n for n in nodes if n.active] if active_only else nodes

    def path(self, code: str) -> tuple[Category, ...]:
        """The nodes from the level-1 ancestor down to ``code``."""
        nodes = [self.get(code)]
        while nodes[-1].parent is not None:
            nodes.append(self._nodes[nodes[-1].parent])
        return tuple(reversed(nodes))

    def label(self, code: str, sep: str = "/") -> str:
        """The names along the path: ``计费类/话费争议/多扣费``."""
        return sep.join(n.name for n in self.path(code))

    def is_active(self, code: str) -> bool:
        """Is the node active, and every one of its ancestors?"""
        return all(n.active for n in self.path(code))

    def sp_name(self, code: str) -> str | None:
        """The SP named by the deepest node of the path that names one."""
        for node in reversed(self.path(code)):
            if node.sp_name:
                return node.sp_name
        return None

    def is_sp(self, code: str) -> bool:
        """Does the path contain an SP category?"""
        return any(n.sp or n.sp_name for n in self.path(code))

    def responsible(self, code: str, region: str | None = None) -> Responsibility | None:
        """The department and person for complaints of ``code`` in ``region``: the
        deepest node of the path with a mapping for that region, else with its own
        mapping (regional exceptions of a node beat its own mapping)."""
        for node in reversed(self.path(code)):
            for entry in node.grid:
                if region is not None and entry.region == region:
                    return Responsibility(entry.department, entry.person, node.code, region)
            if node.department:
                return Responsibility(node.department, node.person, node.code, None)
        return None

    def classification(
        self,
        data: Mapping[str, Any],
        *,
        keys: Sequence[str] = CATEGORY_KEYS,
        min_level: int = 3,
        allow_inactive: bool = False,
        ticket: str | None = None,
    ) -> tuple[Category, ...]:
        """Check the classification in ticket ``data`` (codes under ``keys``, level 1
        first) and return its nodes.

        The codes must form a path from a level-1 node down, at least ``min_level`` deep
        (the complaint flow requires levels 1-3; level 4 is optional), with no level left
        empty before a filled one, and (unless ``allow_inactive``) only active nodes.
        Raises :class:`ClassificationError` naming the first offending field.
        """
        values = [_text(data.get(k)) for k in keys]
        nodes: list[Category] = []
        for level, (key, code) in enumerate(zip(keys, values, strict=True), 1):
            if code is None:
                if level <= min_level:
                    raise ClassificationError(key, f"level {level} is required", ticket=ticket)
                rest = [
                    k for k, v in zip(keys[level:], values[level:], strict=True) if v is not None
                ]
                if rest:
                    raise ClassificationError(
                        rest[0], f"given without level {level} ({key})", ticket=ticket
                    )
                break
            parent = nodes[-1] if nodes else None
            node = self._nodes.get(code)
            if node is None or node.parent != (parent.code if parent else None):
                raise ClassificationError(key, self._expected(code, parent), ticket=ticket)
            if not allow_inactive and not node.active:
                raise ClassificationError(
                    key, f"category {code} {node.name} is no longer in use", ticket=ticket
                )
            nodes.append(node)
        return tuple(nodes)

    def _expected(self, code: str, parent: Category | None) -> str:
        options = self.children(parent.code) if parent else self.roots()
        shown = ", ".join(f"{n.code} {n.name}" for n in options if n.active) or "none"
        under = f"under {parent.code} {parent.name}" if parent else "at level 1"
        known = self._nodes.get(code)
        what = f"category {code} {known.name} is not" if known else f"unknown category {code!r}"
        return f"{what} {under} (expected one of: {shown})"


def _text(value: Any) -> str | None:
    text = "" if value is None else str(value).strip()
    return text or None
