"""A database nobody else uses, for one test: a temporary SQLite file or a PostgreSQL schema."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from ticketflow.errors import InvalidDataError

#: The environment variable naming a PostgreSQL server to test on instead of SQLite.
DATABASE_URL_ENV = "TICKETFLOW_TEST_DATABASE_URL"


@contextmanager
def temporary_database(directory: Path, url: str | None = None) -> Iterator[str]:
    """Yield a database URL for one test.

    Without ``url`` (nor ``$TICKETFLOW_TEST_DATABASE_URL``) it is an SQLite file in
    ``directory``. With a PostgreSQL URL a new schema is created, the URL's
    ``search_path`` points at it, and the schema is dropped afterwards.
    """
    url = url if url is not None else os.environ.get(DATABASE_URL_ENV) or None
    if not url:
        yield f"sqlite:///{directory / 'ticketflow.db'}"
        return
    if not url.startswith("postgresql"):
        raise InvalidDataError(
            f"{DATABASE_URL_ENV} must be a postgresql URL (a schema is made per test), "
            f"got {url.split('://', 1)[0]}://..."
        )
    schema = f"tf_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in url else "?"
        try:
            yield f"{url}{sep}options=-csearch_path%3D{schema}"
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()
