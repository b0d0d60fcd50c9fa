"""Default dispatch plugins: who gets a task about to be created (派单 / 派工).

Each class is an ordinary plugin implementing ``ticketflow_dispatch``; register instances
with ``Engine(plugins=[...])``. Each one can be limited to some BPMN elements, processes,
or a predicate (``elements={"handle"}``, ``processes={"complaint"}``, ``when=...``) and
returns None for tasks that are not its own, so the next plugin (or the BPMN file) decides.

* :class:`GridDispatch` (网格化): category path (and region) -> department and person.
* :class:`RoundRobinDispatch`: the next user of the task's group, in turn.
* :class:`LeastLoadedDispatch`: the user with the fewest open tasks.
* :class:`SkillDispatch`: the least-loaded user having every required skill.
* :class:`TwoLevelDispatch` (二次派工): region -> city centre's group -> engineer.
* :class:`DispatchChain`: several of them in sequence, each seeing the decisions before
  it (a grid chooses the department, round robin a person of it).

``ticketflow_dispatch`` is a *firstresult* hook: of several registered plugins only the
first that answers counts (plugins registered later are asked first). To combine
decisions, put the plugins in one :class:`DispatchChain`.

Every decision carries a ``reason`` ("grid: 计费 billing/话费 fees -> dept_billing"), which
the engine records in the ``task_created`` history event. State that must survive a
restart (the round-robin rotation, loads) is read from the database through
``ctx.session``, never kept in memory, so several processes can share one database.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ticketflow.errors import InvalidDataError
from ticketflow.hooks.hookspecs import hookimpl
from ticketflow.hooks.types import Assignment, HookContext, TaskProposal
from ticketflow.store.models import TaskRow

log = logging.getLogger("ticketflow.dispatch")

#: Ticket data keys of the 4-level category tree, as the complaint flow names them.
CATEGORY_KEYS = ("category_l1", "category_l2", "category_l3", "category_l4")
#: Task states that count as a person's load.
LOAD_STATES: tuple[str, ...] = ("open",)

UsersByGroup = Mapping[str, Sequence[str]]


# ---------------------------------------------------------------------------- base


class DispatchPlugin:
    """Base of the dispatch plugins: scoping, and the hook that calls :meth:`decide`.

    ``elements`` / ``processes`` limit the plugin to those BPMN element ids / process ids
    (None: every one); ``when`` is a further predicate on the proposal. ``keep_assignee``
    (default True) leaves a task alone when the BPMN file (or an earlier plugin of a
    chain) already named an assignee, e.g. a handler the dispatcher chose.
    """

    def __init__(
        self,
        *,
        elements: Collection[str] | None = None,
        processes: Collection[str] | None = None,
        when: Callable[[TaskProposal], bool] | None = None,
        keep_assignee: bool = True,
    ) -> None:
        self.elements = frozenset(_strings(elements, "elements")) if elements is not None else None
        self.processes = (
            frozenset(_strings(processes, "processes")) if processes is not None else None
        )
        self.when = when
        self.keep_assignee = keep_assignee

    def applies(self, proposal: TaskProposal) -> bool:
        """Is this task within the plugin's scope?"""
        if self.elements is not None and proposal.element_id not in self.elements:
            return False
        if self.processes is not None and proposal.process_id not in self.processes:
            return False
        return self.when is None or bool(self.when(proposal))

    def decide(self, ctx: HookContext, proposal: TaskProposal) -> Assignment | None:
        """The decision for a task within scope; None leaves it to others."""
        raise NotImplementedError

    @hookimpl
    def ticketflow_dispatch(self, ctx: HookContext, proposal: TaskProposal) -> Assignment | None:
        if not self.applies(proposal):
            return None
        decision = self.decide(ctx, proposal)
        if decision is not None:
            log.debug("%s %s: %s", proposal.ticket_number, proposal.element_id, decision.reason)
        return decision


def open_load(ctx: HookContext, user: str, states: Sequence[str] = LOAD_STATES) -> int:
    """How many tasks in ``states`` (open, by default) ``user`` holds, in this transaction."""
    return ctx.engine.tasks(assignee=user, state=list(states), limit=1, session=ctx.session).total


def least_loaded(
    ctx: HookContext, users: Iterable[str], states: Sequence[str] = LOAD_STATES
) -> tuple[str, int] | None:
    """The user with the fewest tasks in ``states`` (ties by name) and that count."""
    loads = sorted((open_load(ctx, u, states), u) for u in set(users))
    return (loads[0][1], loads[0][0]) if loads else None


def last_assignee(
    session: Session,
    group: str,
    users: Collection[str],
    *,
    elements: Collection[str] | None = None,
    processes: Collection[str] | None = None,
) -> str | None:
    """Who of ``users`` got the most recent task (any state) offered to ``group``, among
    tasks of ``elements`` / ``processes`` when given.

    Read from the task rows' own group list, which (unlike the candidate index behind
    ``Engine.tasks(candidate_groups=...)``) is kept when a task completes.
    """
    if not users:
        return None
    col = TaskRow.candidate_groups
    g = group.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    in_group = or_(
        col == group,
        col.like(f"{g},%", escape="\\"),
        col.like(f"%,{g}", escape="\\"),
        col.like(f"%,{g},%", escape="\\"),
    )
    q = select(TaskRow.assignee).where(in_group, TaskRow.assignee.in_(list(users)))
    if elements is not None:
        q = q.where(TaskRow.element_id.in_(list(elements)))
    if processes is not None:
        q = q.where(TaskRow.process_id.in_(list(processes)))
    return session.scalars(q.order_by(TaskRow.id.desc()).limit(1)).first()


def _strings(values: Iterable[str], what: str) -> list[str]:
    items = [values] if isinstance(values, str) else list(values)
    for v in items:
        if not isinstance(v, str) or not v:
            raise InvalidDataError(f"{what} must be non-empty strings, got {v!r}")
    return items


def _users_by_group(users_by_group: UsersByGroup) -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {}
    for group, users in users_by_group.items():
        people = tuple(_strings(users, f"users of group {group!r}"))
        if not people:
            raise InvalidDataError(f"group {group!r} has no users")
        if len(set(people)) != len(people):
            raise InvalidDataError(f"group {group!r} lists a user twice: {list(people)}")
        table[group] = people
    return table


# ---------------------------------------------------------------------------- grid


class GridTableError(InvalidDataError):
    """A bad row of a grid table: ``file``, ``line`` (or JSON entry) and ``column`` say where."""

    def __init__(
        self,
        reason: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: str | None = None,
        entry: bool = False,
    ) -> None:
        self.reason = reason
        self.file = file
        self.line = line
        self.column = column
        where = file or "<grid>"
        if line is not None:
            where = f"{where}: entry {line}" if entry else f"{where}:{line}"
        col = f" {'field' if entry else 'column'} '{column}':" if column else ""
        super().__init__(f"{where}:{col} {reason}")


@dataclass(frozen=True)
class GridRule:
    """One row of the grid: tickets whose category path starts with ``category`` (1-4
    levels; empty: any category) and, if given, of ``region`` go to ``department`` and,
    if given, to the responsible ``person``."""

    category: tuple[str, ...]
    department: str
    region: str | None = None
    person: str | None = None

    def __post_init__(self) -> None:
        if len(self.category) > 4 or not all(isinstance(c, str) and c for c in self.category):
            raise InvalidDataError(
                f"a grid category has 0-4 non-empty levels, got {self.category!r}"
            )
        if not isinstance(self.department, str) or not self.department:
            raise InvalidDataError(f"grid rule {self.category!r} has no department")

    @property
    def label(self) -> str:
        return "/".join(self.category) or "*"


GRID_COLUMNS = (
    "category_l1",
    "category_l2",
    "category_l3",
    "category_l4",
    "region",
    "department",
    "person",
)


class GridDispatch(DispatchPlugin):
    """网格化: each category (and region) has a responsible department and person.

    The ticket's category path is read from ``category_keys`` (``category_l1`` ..
    ``category_l4``, stopping at the first empty level); the rule with the longest
    matching category prefix wins, a rule of the ticket's region beats one for any region.
    The department replaces the task's candidate groups; the person becomes the assignee
    unless the task already has one (``keep_assignee``). The region is the ticket's
    (``proposal.region``), else ticket data ``region_key``.

    Usually scoped: ``GridDispatch(rules, elements={"handle", "reply"})``.
    """

    def __init__(
        self,
        rules: Iterable[GridRule] | Mapping[tuple[str, ...] | str, str],
        *,
        category_keys: Sequence[str] = CATEGORY_KEYS,
        region_key: str = "region",
        elements: Collection[str] | None = None,
        processes: Collection[str] | None = None,
        when: Callable[[TaskProposal], bool] | None = None,
        keep_assignee: bool = True,
    ) -> None:
        super().__init__(
            elements=elements, processes=processes, when=when, keep_assignee=keep_assignee
        )
        if isinstance(rules, Mapping):
            rules = [
                GridRule((key,) if isinstance(key, str) else tuple(key), dept)
                for key, dept in rules.items()
            ]
        self.rules: tuple[GridRule, ...] = tuple(rules)
        self._index: dict[tuple[tuple[str, ...], str | None], GridRule] = {}
        for rule in self.rules:
            key = (rule.category, rule.region)
            if key in self._index:
                raise InvalidDataError(f"two grid rules for {rule.label} in region {rule.region}")
            self._index[key] = rule
        self.category_keys = tuple(category_keys)
        self.region_key = region_key

    # -- loading

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> GridDispatch:
        """Load a ``.csv`` or ``.json`` grid table (see :meth:`from_csv`, :meth:`from_json`)."""
        if str(path).lower().endswith(".json"):
            return cls.from_json(path, **kwargs)
        return cls.from_csv(path, **kwargs)

    @classmethod
    def from_csv(
        cls, path: str | Path, *, encoding: str = "utf-8-sig", **kwargs: Any
    ) -> GridDispatch:
        """Load a CSV table with a header row naming columns of :data:`GRID_COLUMNS`
        (``department`` is required; the others may be left out or empty)."""
        name = str(path)
        try:
            with open(path, encoding=encoding, newline="") as f:
                reader = csv.DictReader(f)
                header = reader.fieldnames or []
                _check_header(header, name)
                rows: list[tuple[int, Mapping[str, Any]]] = []
                for row in reader:
                    if None in row:
                        raise GridTableError(
                            f"more fields than the {len(header)} columns of the header",
                            file=name,
                            line=reader.line_num,
                        )
                    rows.append((reader.line_num, row))
        except UnicodeDecodeError as exc:
            raise GridTableError(f"not {encoding} text: {exc.reason}", file=name) from None
        except csv.Error as exc:
            raise GridTableError(f"malformed CSV: {exc}", file=name) from None
        except OSError as exc:
            raise GridTableError(f"cannot read: {exc.strerror or exc}", file=name) from None
        return cls(_rules(rows, name, entry=False), **kwargs)

    @classmethod
    def from_json(cls, path: str | Path, **kwargs: Any) -> GridDispatch:
        """Load a JSON list of objects with the keys of :data:`GRID_COLUMNS`."""
        name = str(path)
        try:
            with open(path, encoding="utf-8-sig") as f:
                data = json.load(f)
        except json.JSONDecodeError as exc:
            raise GridTableError(f"invalid JSON: {exc.msg}", file=name, line=exc.lineno) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise GridTableError(f"cannot read: {exc}", file=name) from None
        if not isinstance(data, list):
            raise GridTableError("a grid table is a JSON list of objects", file=name)
        rows: list[tuple[int, Mapping[str, Any]]] = []
        for n, item in enumerate(data, 1):
            if not isinstance(item, dict):
                raise GridTableError("not an object", file=name, line=n, entry=True)
            unknown = sorted(set(item) - set(GRID_COLUMNS))
            if unknown:
                raise GridTableError(
                    f"unknown field (known: {', '.join(GRID_COLUMNS)})",
                    file=name,
                    line=n,
                    column=unknown[0],
                    entry=True,
                )
            rows.append((n, item))
        return cls(_rules(rows, name, entry=True), **kwargs)

    # -- deciding

    def category(self, data: Mapping[str, Any]) -> tuple[str, ...]:
        """The ticket's category path, up to its first empty level."""
        path: list[str] = []
        for key in self.category_keys:
            value = data.get(key)
            text = "" if value is None else str(value).strip()
            if not text:
                break
            path.append(text)
        return tuple(path)

    def match(self, category: Sequence[str], region: str | None) -> GridRule | None:
        """The most specific rule for ``category`` in ``region``."""
        path = tuple(category)
        for size in range(min(len(path), 4), -1, -1):
            for reg in (region, None) if region is not None else (None,):
                rule = self._index.get((path[:size], reg))
                if rule is not None:
                    return rule
        return None

    def decide(self, ctx: HookContext, proposal: TaskProposal) -> Assignment | None:
        region = proposal.region or _text(proposal.data.get(self.region_key))
        category = self.category(proposal.data)
        rule = self.match(category, region)
        if rule is None:
            return None
        reason = f"grid: {rule.label}"
        if rule.region is not None:
            reason += f" @ {rule.region}"
        reason += f" -> {rule.department}"
        assignee = None
        if rule.person is not None and not (self.keep_assignee and proposal.assignee):
            assignee = rule.person
            reason += f" ({rule.person})"
        return Assignment(candidate_groups=(rule.department,), assignee=assignee, reason=reason)


def _text(value: Any) -> str | None:
    text = "" if value is None else str(value).strip()
    return text or None


def _check_header(header: Sequence[str], file: str) -> None:
    if not header:
        raise GridTableError("empty file: a header row is needed", file=file, line=1)
    seen: set[str] = set()
    for col in header:
        if col not in GRID_COLUMNS:
            raise GridTableError(
                f"unknown column (known: {', '.join(GRID_COLUMNS)})",
                file=file,
                line=1,
                column=col,
            )
        if col in seen:
            raise GridTableError("column given twice", file=file, line=1, column=col)
        seen.add(col)
    if "department" not in seen:
        raise GridTableError("the header has no 'department' column", file=file, line=1)


def _rules(
    rows: Iterable[tuple[int, Mapping[str, Any]]], file: str, *, entry: bool
) -> list[GridRule]:
    rules: list[GridRule] = []
    seen: dict[tuple[tuple[str, ...], str | None], int] = {}
    for line, row in rows:
        rule = _rule(row, line, file, entry)
        if rule is None:
            continue
        key = (rule.category, rule.region)
        if key in seen:
            raise GridTableError(
                f"same category {rule.label} and region {rule.region or '(any)'} as "
                f"{'entry' if entry else 'line'} {seen[key]}",
                file=file,
                line=line,
                column="category_l1",
                entry=entry,
            )
        seen[key] = line
        rules.append(rule)
    return rules


def _rule(row: Mapping[str, Any], line: int, file: str, entry: bool) -> GridRule | None:
    """One table row as a rule; None for a blank row (",,,,,," from a spreadsheet)."""

    def fail(reason: str, column: str) -> GridTableError:
        return GridTableError(reason, file=file, line=line, column=column, entry=entry)

    values: dict[str, str | None] = {}
    for col in GRID_COLUMNS:
        raw = row.get(col)
        if raw is not None and not isinstance(raw, str):
            raise fail(f"must be text, got {raw!r}", col)
        values[col] = _text(raw)
    if not any(values.values()):
        return None
    category: list[str] = []
    for level, col in enumerate(CATEGORY_KEYS, 1):
        value = values[col]
        if value is None:
            continue
        if len(category) != level - 1:
            raise fail(f"level {level} given without level {len(category) + 1}", col)
        category.append(value)
    department = values["department"]
    if department is None:
        raise fail("empty: every row needs a department", "department")
    if "," in department:
        raise fail("one department (group) per row, no commas", "department")
    return GridRule(tuple(category), department, values["region"], values["person"])


# ---------------------------------------------------------------------------- by users


class _UserDispatch(DispatchPlugin):
    """Chooses among the users of the task's candidate groups (``users_by_group``)."""

    def __init__(
        self,
        users_by_group: UsersByGroup,
        *,
        elements: Collection[str] | None = None,
        processes: Collection[str] | None = None,
        when: Callable[[TaskProposal], bool] | None = None,
        keep_assignee: bool = True,
    ) -> None:
        super().__init__(
            elements=elements, processes=processes, when=when, keep_assignee=keep_assignee
        )
        self.users_by_group = _users_by_group(users_by_group)

    def groups_of(self, proposal: TaskProposal) -> list[str]:
        """The task's candidate groups that have users configured, in the task's order."""
        return [g for g in proposal.candidate_groups if g in self.users_by_group]


class RoundRobinDispatch(_UserDispatch):
    """Assigns the next user of the task's first configured candidate group, in turn.

    The rotation is read from the database: the user after the one of the group who got
    the most recent task offered to it (in the order given; only tasks of the plugin's
    ``elements`` / ``processes`` count when it has them). It survives restarts and is
    shared by every process on the database; two transactions dispatching to the same
    group at the same moment may pick the same user.
    """

    def decide(self, ctx: HookContext, proposal: TaskProposal) -> Assignment | None:
        if self.keep_assignee and proposal.assignee:
            return None
        groups = self.groups_of(proposal)
        if not groups:
            return None
        group = groups[0]
        users = self.users_by_group[group]
        last = last_assignee(
            ctx.session, group, users, elements=self.elements, processes=self.processes
        )
        if last not in users:
            last = None
        user = users[(users.index(last) + 1) % len(users)] if last is not None else users[0]
        after = f" (after {last})" if last is not None else " (first)"
        return Assignment(assignee=user, reason=f"round robin: {group} -> {user}{after}")


class LeastLoadedDispatch(_UserDispatch):
    """Assigns the user with the fewest open tasks among the users of the task's
    configured candidate groups (ties by name)."""

    def __init__(
        self,
        users_by_group: UsersByGroup,
        *,
        load_states: Sequence[str] = LOAD_STATES,
        elements: Collection[str] | None = None,
        processes: Collection[str] | None = None,
        when: Callable[[TaskProposal], bool] | None = None,
        keep_assignee: bool = True,
    ) -> None:
        super().__init__(
            users_by_group,
            elements=elements,
            processes=processes,
            when=when,
            keep_assignee=keep_assignee,
        )
        self.load_states = tuple(load_states)

    def decide(self, ctx: HookContext, proposal: TaskProposal) -> Assignment | None:
        if self.keep_assignee and proposal.assignee:
            return None
        groups = self.groups_of(proposal)
        users = [u for g in groups for u in self.users_by_group[g]]
        best = least_loaded(ctx, users, self.load_states)
        if best is None:
            return None
        user, load = best
        return Assignment(
            assignee=user,
            reason=f"least loaded: {'/'.join(groups)} -> {user} ({load} open tasks)",
        )


# ---------------------------------------------------------------------------- skills


def skills_from_data(*keys: str) -> Callable[[TaskProposal], set[str]]:
    """A ``required`` for :class:`SkillDispatch`: the non-empty values of ticket data
    ``keys`` (e.g. ``skills_from_data("category_l1")``)."""

    def required(proposal: TaskProposal) -> set[str]:
        return {t for k in keys if (t := _text(proposal.data.get(k))) is not None}

    return required


class SkillDispatch(DispatchPlugin):
    """Assigns the least-loaded user having every skill the task requires.

    ``required`` is a function of the proposal, or a mapping element id -> skills (an
    element not in it is not this plugin's). With ``users_by_group``, only users of the
    task's candidate groups are considered. No skill required: None. Nobody qualifies:
    None, with the reason in :attr:`last_refusal` (and :meth:`refusal`).
    """

    def __init__(
        self,
        skills: Mapping[str, Collection[str]],
        required: Callable[[TaskProposal], Collection[str]] | Mapping[str, Collection[str]],
        *,
        users_by_group: UsersByGroup | None = None,
        load_states: Sequence[str] = LOAD_STATES,
        elements: Collection[str] | None = None,
        processes: Collection[str] | None = None,
        when: Callable[[TaskProposal], bool] | None = None,
        keep_assignee: bool = True,
    ) -> None:
        super().__init__(
            elements=elements, processes=processes, when=when, keep_assignee=keep_assignee
        )
        self.skills = {u: frozenset(_strings(s, f"skills of {u!r}")) for u, s in skills.items()}
        self.required = required
        self.users_by_group = _users_by_group(users_by_group) if users_by_group else None
        self.load_states = tuple(load_states)
        #: Why the last task in scope found nobody (None when someone qualified).
        self.last_refusal: str | None = None

    def required_skills(self, proposal: TaskProposal) -> frozenset[str]:
        if isinstance(self.required, Mapping):
            return frozenset(self.required.get(proposal.element_id, ()))
        return frozenset(self.required(proposal))

    def candidates(self, proposal: TaskProposal) -> list[str]:
        """Users that may be considered at all (every skilled user, or those of the
        task's candidate groups)."""
        if self.users_by_group is None:
            return sorted(self.skills)
        groups = [g for g in proposal.candidate_groups if g in self.users_by_group]
        return sorted({u for g in groups for u in self.users_by_group[g]})

    def qualified(self, proposal: TaskProposal) -> list[str]:
        need = self.required_skills(proposal)
        return [u for u in self.candidates(proposal) if need <= self.skills.get(u, frozenset())]

    def refusal(self, proposal: TaskProposal) -> str | None:
        """Why nobody qualifies for the task (None if someone does or nothing is needed)."""
        need = self.required_skills(proposal)
        if not need or self.qualified(proposal):
            return None
        people = self.candidates(proposal)
        if not people:
            groups = ", ".join(proposal.candidate_groups)
            return f"skill: no configured user in the task's groups ({groups})"
        lacks = "; ".join(
            f"{u} lacks {', '.join(sorted(need - self.skills.get(u, frozenset())))}" for u in people
        )
        return f"skill: nobody has all of {', '.join(sorted(need))} ({lacks})"

    def decide(self, ctx: HookContext, proposal: TaskProposal) -> Assignment | None:
        self.last_refusal = None
        if self.keep_assignee and proposal.assignee:
            return None
        need = self.required_skills(proposal)
        if not need:
            return None
        best = least_loaded(ctx, self.qualified(proposal), self.load_states)
        if best is None:
            self.last_refusal = self.refusal(proposal)
            log.info("%s %s: %s", proposal.ticket_number, proposal.element_id, self.last_refusal)
            return None
        user, load = best
        return Assignment(
            assignee=user,
            reason=f"skill: needs {', '.join(sorted(need))} -> {user} ({load} open tasks)",
        )


# ---------------------------------------------------------------------------- two-level


@dataclass(frozen=True)
class CityCentre:
    """A maintenance region's city centre: the group that dispatches a second time, and
    its engineers."""

    city_group: str
    engineers: tuple[str, ...]


class TwoLevelDispatch(DispatchPlugin):
    """二次派工: province -> city centre -> engineer, by maintenance region.

    ``regions`` maps a maintenance region to ``{"city_group": ..., "engineers": [...]}``.
    Tasks of ``first_level`` elements (default ``second_dispatch`` of onsite_service) go
    to the region's city group; tasks of ``second_level`` elements (default
    ``onsite_work``) that have no engineer yet get the region's least-loaded engineer —
    except a repeat visit (``same_engineer_again``): when the ticket's latest first- or
    second-level task was a second-level one (the engineer's own fault sends them again,
    with no new dispatch in between), its engineer goes again. The region is ticket data
    ``region_key`` (default ``maintenance_region``, filled in at ``dispatch_region``),
    else the ticket's region. Unknown regions are left alone.
    """

    def __init__(
        self,
        regions: Mapping[str, Mapping[str, Any] | CityCentre],
        *,
        first_level: Collection[str] = ("second_dispatch",),
        second_level: Collection[str] = ("onsite_work",),
        region_key: str = "maintenance_region",
        load_states: Sequence[str] = LOAD_STATES,
        same_engineer_again: bool = True,
        processes: Collection[str] | None = None,
        when: Callable[[TaskProposal], bool] | None = None,
    ) -> None:
        self.same_engineer_again = same_engineer_again
        self.first_level = frozenset(_strings(first_level, "first_level"))
        self.second_level = frozenset(_strings(second_level, "second_level"))
        super().__init__(
            elements=self.first_level | self.second_level, processes=processes, when=when
        )
        self.regions = {name: _centre(name, entry) for name, entry in regions.items()}
        self.region_key = region_key
        self.load_states = tuple(load_states)

    def region_of(self, proposal: TaskProposal) -> str | None:
        return _text(proposal.data.get(self.region_key)) or proposal.region

    def decide(self, ctx: HookContext, proposal: TaskProposal) -> Assignment | None:
        region = self.region_of(proposal)
        centre = self.regions.get(region) if region is not None else None
        if centre is None:
            return None
        if proposal.element_id in self.first_level:
            return Assignment(
                candidate_groups=(centre.city_group,),
                reason=f"two-level: region {region} -> {centre.city_group}",
            )
        if proposal.assignee:
            return None
        previous = self.previous_engineer(ctx, proposal) if self.same_engineer_again else None
        if previous is not None:
            return Assignment(
                assignee=previous,
                reason=f"two-level: region {region}: engineer {previous} again (repeat visit)",
            )
        best = least_loaded(ctx, centre.engineers, self.load_states)
        if best is None:  # pragma: no cover - a centre has engineers
            return None
        engineer, load = best
        return Assignment(
            assignee=engineer,
            reason=(
                f"two-level: region {region} ({centre.city_group}) -> engineer {engineer} "
                f"({load} open tasks)"
            ),
        )

    def previous_engineer(self, ctx: HookContext, proposal: TaskProposal) -> str | None:
        """The engineer of the ticket's last second-level task, if no first-level task
        (a new dispatch) came after it."""
        levels = self.first_level | self.second_level
        tasks = ctx.engine.tasks(
            ticket=proposal.ticket_number,
            state=None,
            order_by="id",
            descending=True,
            limit=1000,
            session=ctx.session,
        )
        for task in tasks:
            if task.element_id in levels:
                return task.assignee if task.element_id in self.second_level else None
        return None


def _centre(region: str, entry: Mapping[str, Any] | CityCentre) -> CityCentre:
    if isinstance(entry, CityCentre):
        return entry
    group = entry.get("city_group") if isinstance(entry, Mapping) else None
    if not isinstance(group, str) or not group:
        raise InvalidDataError(f"region {region!r} needs a 'city_group' (a group name)")
    engineers = tuple(_strings(entry.get("engineers") or (), f"engineers of region {region!r}"))
    if not engineers:
        raise InvalidDataError(f"region {region!r} needs at least one engineer")
    return CityCentre(group, engineers)


# ---------------------------------------------------------------------------- chains


class DispatchChain(DispatchPlugin):
    """Several dispatch plugins in sequence, each seeing the proposal as the ones before
    it changed it; the decisions combine (later ones win) and so do their reasons.

    ``DispatchChain(GridDispatch(grid, elements={"handle"}), RoundRobinDispatch(users))``:
    the grid picks the department, round robin a person of that department.
    """

    def __init__(
        self,
        *plugins: Any,
        elements: Collection[str] | None = None,
        processes: Collection[str] | None = None,
        when: Callable[[TaskProposal], bool] | None = None,
    ) -> None:
        super().__init__(elements=elements, processes=processes, when=when)
        for p in plugins:
            if not callable(getattr(p, "ticketflow_dispatch", None)):
                raise InvalidDataError(f"{p!r} does not implement ticketflow_dispatch")
        self.plugins = plugins

    def decide(self, ctx: HookContext, proposal: TaskProposal) -> Assignment | None:
        current = proposal
        groups: tuple[str, ...] | None = None
        assignee: str | None = None
        reasons: list[str] = []
        answered = False
        for plugin in self.plugins:
            decision = plugin.ticketflow_dispatch(ctx=ctx, proposal=current)
            if decision is None:
                continue
            answered = True
            if decision.candidate_groups is not None:
                groups = tuple(decision.candidate_groups)
                current = replace(current, candidate_groups=groups)
            if decision.assignee is not None:
                assignee = decision.assignee
                current = replace(current, assignee=assignee)
            if decision.reason:
                reasons.append(decision.reason)
        if not answered:
            return None
        return Assignment(groups, assignee, "; ".join(reasons) or None)
