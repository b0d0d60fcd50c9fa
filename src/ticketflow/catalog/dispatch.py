"""Plugins over the stored category tree: grid dispatch (网格化) and classification checks.

* :class:`CatalogDispatch` gives a complaint's handling task to the department and person
  responsible for its category in its region, read from ``tf_category`` /
  ``tf_category_grid`` in the step's own transaction (an import takes effect at once).
  The matching is :class:`~ticketflow.plugins.dispatch.GridDispatch`'s: the deepest
  category with a mapping wins, a mapping for the ticket's region beats the node's own.
  With no mapping it answers None, so the next plugin or the BPMN file decides.
* :class:`ClassificationCheck` refuses a classification step whose ``category_l1`` ..
  ``category_l4`` are not a path of the tree; the step is rolled back with a
  :class:`~ticketflow.catalog.errors.ClassificationError` naming the field.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ticketflow.catalog.model import CATEGORY_KEYS
from ticketflow.catalog.store import load_tree
from ticketflow.hooks.hookspecs import hookimpl
from ticketflow.hooks.types import Assignment, HookContext, TaskProposal
from ticketflow.plugins.dispatch import DispatchPlugin, GridDispatch, GridRule
from ticketflow.store.catalog_models import CategoryGridRow, CategoryRow
from ticketflow.views import TaskView, TicketView


def grid_rules(session: Session, codes: Sequence[str]) -> list[GridRule]:
    """The grid rules of the stored nodes among ``codes`` (a ticket's classification),
    each keyed by the node's full code path. Nodes whose ancestors are not all among
    ``codes`` cannot match that classification and are left out."""
    wanted = [c for c in codes if c]
    if not wanted:
        return []
    rows = {
        r.code: r for r in session.scalars(select(CategoryRow).where(CategoryRow.code.in_(wanted)))
    }
    regional: dict[str, list[CategoryGridRow]] = {}
    for g in session.scalars(
        select(CategoryGridRow).where(CategoryGridRow.category_code.in_(list(rows)))
    ):
        regional.setdefault(g.category_code, []).append(g)
    rules: list[GridRule] = []
    for code, row in rows.items():
        path = _path(code, rows)
        if path is None:
            continue
        if row.department:
            rules.append(GridRule(path, row.department, None, row.person))
        rules.extend(
            GridRule(path, g.department, g.region, g.person) for g in regional.get(code, [])
        )
    return rules


def _path(code: str, rows: Mapping[str, CategoryRow]) -> tuple[str, ...] | None:
    path = [code]
    parent = rows[code].parent_code
    while parent is not None:
        if parent not in rows or len(path) > 4:
            return None
        path.append(parent)
        parent = rows[parent].parent_code
    return tuple(reversed(path))


class CatalogDispatch(DispatchPlugin):
    """网格化 from the stored tree: category (and region) -> department and person.

    Scoped by default to the complaint's ``handle`` task. A task re-created by a transfer
    (ticket data ``outcome`` = ``transfer``) keeps the department it was transferred to
    unless ``keep_transfers`` is False. The department replaces the task's candidate
    groups (the dispatcher's choice); the person becomes the assignee unless the task
    already has one (``keep_assignee``). The region is the ticket's, else data
    ``region_key``.
    """

    def __init__(
        self,
        *,
        elements: Collection[str] | None = ("handle",),
        processes: Collection[str] | None = ("complaint",),
        when: Callable[[TaskProposal], bool] | None = None,
        keep_assignee: bool = True,
        keep_transfers: bool = True,
        category_keys: Sequence[str] = CATEGORY_KEYS,
        region_key: str = "region",
    ) -> None:
        super().__init__(
            elements=elements, processes=processes, when=when, keep_assignee=keep_assignee
        )
        self.keep_transfers = keep_transfers
        self.category_keys = tuple(category_keys)
        self.region_key = region_key
        #: Reads the classification from ticket data the way the grid matches it.
        self._reader = GridDispatch((), category_keys=self.category_keys)

    def applies(self, proposal: TaskProposal) -> bool:
        if self.keep_transfers and proposal.data.get("outcome") == "transfer":
            return False
        return super().applies(proposal)

    def decide(self, ctx: HookContext, proposal: TaskProposal) -> Assignment | None:
        rules = grid_rules(ctx.session, self._reader.category(proposal.data))
        if not rules:
            return None
        grid = GridDispatch(
            rules,
            category_keys=self.category_keys,
            region_key=self.region_key,
            keep_assignee=self.keep_assignee,
        )
        return grid.decide(ctx, proposal)


class ClassificationCheck:
    """Refuses a classification that is not a path of the stored tree.

    Runs when a task of ``elements`` (default: the complaint's ``classify``) completes;
    ``min_level`` levels are required (3: levels 1-3 national, level 4 local and
    optional), retired (inactive) categories are refused unless ``allow_inactive``.
    """

    def __init__(
        self,
        *,
        elements: Collection[str] = ("classify",),
        processes: Collection[str] | None = ("complaint",),
        min_level: int = 3,
        allow_inactive: bool = False,
        category_keys: Sequence[str] = CATEGORY_KEYS,
    ) -> None:
        self.elements = frozenset(elements)
        self.processes = frozenset(processes) if processes is not None else None
        self.min_level = min_level
        self.allow_inactive = allow_inactive
        self.category_keys = tuple(category_keys)

    @hookimpl
    def ticketflow_task_completed(
        self, ctx: HookContext, ticket: TicketView, task: TaskView, data: Mapping[str, Any]
    ) -> None:
        if task.element_id not in self.elements:
            return
        if self.processes is not None and task.process_id not in self.processes:
            return
        load_tree(ctx.session).classification(
            ticket.data,
            keys=self.category_keys,
            min_level=self.min_level,
            allow_inactive=self.allow_inactive,
            ticket=ticket.number,
        )
