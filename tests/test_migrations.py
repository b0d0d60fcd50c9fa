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


def test_upgrade_from_the_first_revision(db_url: str) -> None:
    """A database made by revision 0001 upgrades in place and then serves the engine."""
    from ticketflow import Engine

    from .conftest import PROCESSES, Staff
    from .journeys import open_complaint

    bind = database.make_engine(db_url)
    database.upgrade(bind, "0001")
    with bind.connect() as conn:
        assert database.current_revision(conn) == "0001"
    database.upgrade(bind)
    engine = Engine(bind=bind)
    engine.deploy(PROCESSES)
    ticket = open_complaint(engine)
    database.upgrade(bind)  # idempotent at head, data untouched
    ticket = engine.complete(ticket.task("front_desk").id, Staff.agent, {"resolved": True})
    assert ticket.status == "closed"
    bind.dispose()
