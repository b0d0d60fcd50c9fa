"""Database setup: engines with sane defaults, sessions, and schema migrations.

ticketflow's tables all start with ``tf_`` and its alembic version table is
``tf_alembic_version``, so they live beside a host application's own tables and
migrations without clashing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine as SAEngine
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection

from ticketflow.errors import StoreError

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "tf_alembic_version"
#: Execution option marking a connection whose transaction only reads.
READ_ONLY = "ticketflow_read_only"


def make_engine(url: str, **kwargs: Any) -> SAEngine:
    """Create an SQLAlchemy engine; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {}).setdefault("timeout", 30)
        engine = create_engine(url, **kwargs)
        _tune_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _tune_sqlite(engine: SAEngine) -> None:
    memory = engine.url.database in (None, "", ":memory:")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy issue BEGIN itself so transactions are real (pysqlite quirk).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock up front (they queue instead of failing on upgrade);
        # read-only units (execution option READ_ONLY) use a plain deferred BEGIN.
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if memory or read_only else "BEGIN IMMEDIATE")


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An alembic Config for ticketflow's migrations (no ini file needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    ctx = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return ctx.get_current_revision()


def upgrade(bind: SAEngine | Connection, revision: str = "head") -> None:
    """Create or upgrade ticketflow's tables to ``revision``."""
    if isinstance(bind, Connection):
        command.upgrade(alembic_config(bind), revision)
        return
    with bind.begin() as conn:
        command.upgrade(alembic_config(conn), revision)


def check_schema(bind: SAEngine | Connection) -> None:
    """Raise StoreError unless the schema is at the head revision."""
    if isinstance(bind, Connection):
        current = current_revision(bind)
    else:
        with bind.connect() as conn:
            current = current_revision(conn)
    head = head_revision()
    if current != head:
        state = "has no ticketflow tables" if current is None else f"is at revision {current}"
        raise StoreError(
            f"the database {state}; ticketflow needs revision {head}. "
            "Run `ticketflow db upgrade --url URL` or pass auto_migrate=True."
        )
