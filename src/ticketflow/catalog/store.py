"""The category tree in the database: load it, replace it from a file in one transaction.

An import makes the stored tree exactly the file's (so exporting gives the file back).
Codes are what tickets keep in their data, so a code still used by a ticket is never
dropped silently: the import stops and says which tickets use it, unless
``allow_removal`` is given. Retire a category by setting ``active`` to 0 instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ticketflow.catalog.files import read_file, write_file
from ticketflow.catalog.model import CATEGORY_KEYS, Category, CategoryTree, GridAssignment
from ticketflow.errors import InvalidDataError, StoreError
from ticketflow.store.catalog_models import CategoryGridRow, CategoryRow
from ticketflow.store.database import READ_ONLY
from ticketflow.store.models import TicketRow

if TYPE_CHECKING:
    from sqlalchemy import Engine as SAEngine

    from ticketflow.engine import Engine

#: The default tree shipped with ticketflow (Chinese telecom complaint categories).
DEFAULT_TREE = Path(__file__).parent / "data" / "complaint_categories.csv"


@dataclass(frozen=True)
class ImportReport:
    """What an import changed, by code."""

    file: str
    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: int

    def __str__(self) -> str:
        return (
            f"{self.file}: {len(self.added)} added, {len(self.changed)} changed, "
            f"{len(self.removed)} removed, {self.unchanged} unchanged"
        )


@contextmanager
def unit(bind: SAEngine, session: Session | None, *, read_only: bool = False) -> Iterator[Session]:
    """The caller's session (inside a SAVEPOINT), or a new session and transaction;
    ``read_only`` ones do not take SQLite's write lock, so writers never wait for them."""
    if session is not None:
        with session.begin_nested():
            yield session
        return
    if read_only:
        bind = bind.execution_options(**{READ_ONLY: True})
    with Session(bind) as own, own.begin():
        yield own


def load_tree(session: Session) -> CategoryTree:
    """The stored tree (empty when nothing was imported)."""
    grid: dict[str, list[GridAssignment]] = {}
    for g in session.scalars(select(CategoryGridRow).order_by(CategoryGridRow.region)):
        grid.setdefault(g.category_code, []).append(
            GridAssignment(g.region, g.department, g.person)
        )
    rows = session.scalars(select(CategoryRow).order_by(CategoryRow.position, CategoryRow.id))
    return CategoryTree(
        Category(
            code=r.code,
            name=r.name,
            level=r.level,
            parent=r.parent_code,
            active=r.active,
            sp=r.sp,
            sp_name=r.sp_name,
            department=r.department,
            person=r.person,
            grid=tuple(grid.get(r.code, ())),
        )
        for r in rows
    )


def save_tree(
    session: Session, tree: CategoryTree, *, source: str = "<tree>", allow_removal: bool = False
) -> ImportReport:
    """Replace the stored tree by ``tree`` (already validated) in ``session``'s transaction.

    Concurrent imports run one after the other (SQLite: the write lock; PostgreSQL: a
    table lock that readers do not wait for), each seeing the tree the other left."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE tf_category IN SHARE ROW EXCLUSIVE MODE"))
    old = {c.code: c for c in load_tree(session)}
    new = {c.code: c for c in tree}
    removed = sorted(set(old) - set(new))
    if removed and not allow_removal:
        used = tickets_using(session, removed)
        if used:
            listed = ", ".join(f"{code} ({n} tickets)" for code, n in sorted(used.items()))
            raise InvalidDataError(
                f"{source}: would remove categories that tickets use: {listed}; keep them "
                f"with active=0 instead, or allow removal; nothing imported"
            )
    session.execute(delete(CategoryGridRow))
    session.execute(delete(CategoryRow))
    session.flush()
    nodes = list(tree)
    for level in range(1, 5):
        session.add_all(
            CategoryRow(
                code=c.code,
                name=c.name,
                level=c.level,
                parent_code=c.parent,
                position=position,
                active=c.active,
                sp=c.sp,
                sp_name=c.sp_name,
                department=c.department,
                person=c.person,
            )
            for position, c in enumerate(nodes)
            if c.level == level
        )
        session.flush()
    session.add_all(
        CategoryGridRow(
            category_code=c.code, region=g.region, department=g.department, person=g.person
        )
        for c in nodes
        for g in c.grid
    )
    session.flush()
    changed = sorted(code for code in new if code in old and old[code] != new[code])
    added = [c.code for c in nodes if c.code not in old]
    return ImportReport(
        source,
        tuple(added),
        tuple(changed),
        tuple(removed),
        len(new) - len(added) - len(changed),
    )


def tickets_using(session: Session, codes: Sequence[str]) -> dict[str, int]:
    """How many tickets carry each of ``codes`` at some level of their classification."""
    used: dict[str, int] = {}
    for key in CATEGORY_KEYS:
        value = TicketRow.data[key].as_string()
        q = select(value, func.count()).where(value.in_(list(codes))).group_by(value)
        for code, n in session.execute(q).tuples():
            used[code] = used.get(code, 0) + n
    return used


class Catalog:
    """The category tree of an engine's database: import, export, look up, validate.

    Every method takes ``session=`` to join the host's transaction.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def tree(self, *, session: Session | None = None) -> CategoryTree:
        """The stored tree."""
        with unit(self.engine.bind, session, read_only=True) as s:
            return load_tree(s)

    def import_file(
        self,
        path: str | Path,
        *,
        fmt: str | None = None,
        allow_removal: bool = False,
        session: Session | None = None,
    ) -> ImportReport:
        """Validate a CSV/JSON file and make it the stored tree, all or nothing."""
        tree = read_file(path, fmt)
        return self.import_tree(
            tree, source=str(path), allow_removal=allow_removal, session=session
        )

    def import_tree(
        self,
        tree: CategoryTree,
        *,
        source: str = "<tree>",
        allow_removal: bool = False,
        session: Session | None = None,
    ) -> ImportReport:
        """Make ``tree`` the stored tree, all or nothing."""
        try:
            with unit(self.engine.bind, session) as s:
                return save_tree(s, tree, source=source, allow_removal=allow_removal)
        except DBAPIError as exc:
            raise StoreError(
                f"{source}: the database refused the import ({exc.orig}); nothing imported"
            ) from exc

    def import_default(self, *, session: Session | None = None) -> ImportReport:
        """Import the tree shipped with ticketflow (:data:`DEFAULT_TREE`)."""
        return self.import_file(DEFAULT_TREE, session=session)

    def export_file(
        self, path: str | Path, *, fmt: str | None = None, session: Session | None = None
    ) -> CategoryTree:
        """Write the stored tree to a CSV/JSON file; returns the tree written."""
        tree = self.tree(session=session)
        write_file(tree, path, fmt)
        return tree

    def classification(
        self,
        data: Mapping[str, Any],
        *,
        min_level: int = 3,
        allow_inactive: bool = False,
        ticket: str | None = None,
        session: Session | None = None,
    ) -> tuple[Category, ...]:
        """Check ``category_l1`` .. ``category_l4`` of ticket ``data`` against the stored
        tree and return the nodes (see :meth:`CategoryTree.classification`)."""
        return self.tree(session=session).classification(
            data, min_level=min_level, allow_inactive=allow_inactive, ticket=ticket
        )
