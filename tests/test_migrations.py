"""The alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from ticketflow.store import database
from ticketflow.store.models import Base


def test_migrations_match_models(db_url: str) -> None:
    bind = database.make_engine(db_url)
    database.upgrade(bind)
    database.check_schema(bind)
    with bind.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = [
            d
            for d in compare_metadata(context, Base.metadata)
            if not (
                isinstance(d, tuple)
                and d[0] == "remove_table"
                and d[1].name == database.VERSION_TABLE
            )
        ]
    bind.dispose()
    assert diff == []


def test_upgrade_is_idempotent(db_url: str) -> None:
    bind = database.make_engine(db_url)
    database.upgrade(bind)
    database.upgrade(bind)
    with bind.connect() as conn:
        assert database.current_revision(conn) == database.head_revision()
    bind.dispose()
