"""Units of work of the service-centre features, like the engine's own: in a session of
their own (committed when the unit ends), or inside the host's ``session`` as a
SAVEPOINT, the commit left to the host. A database failure becomes a ticketflow error
saying nothing was stored."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine as SAEngine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from ticketflow.engine import Engine
from ticketflow.errors import ConcurrencyError, DatabaseUnavailableError
from ticketflow.store import database

_READ_BINDS: weakref.WeakKeyDictionary[Engine, SAEngine] = weakref.WeakKeyDictionary()


def _read_only(engine: Engine) -> SAEngine:
    """The bind for reading units: on SQLite a plain deferred BEGIN, so reads do not take
    the write lock (see :mod:`ticketflow.store.database`). One per engine, so caches keyed
    by the bind (the knowledge index) live as long as the engine."""
    read = _READ_BINDS.get(engine)
    if read is None:
        read = _READ_BINDS[engine] = engine.bind.execution_options(**{database.READ_ONLY: True})
    return read


#: Driver errors that mean "another transaction got in the way", not "the database is down".
_CONFLICTS = ("DeadlockDetected", "SerializationFailure", "LockNotAvailable")


@contextmanager
def unit(
    engine: Engine, session: Session | None = None, *, write: bool = False
) -> Iterator[Session]:
    """A session for one action (see the module documentation)."""
    try:
        if session is not None:
            with session.begin_nested():
                yield session
            return
        with Session(engine.bind if write else _read_only(engine)) as own:
            if not write:
                yield own
                return
            with own.begin():
                yield own
    except StaleDataError:
        raise ConcurrencyError(
            "the record was changed by another action at the same time; nothing was saved - "
            "reload it and try again"
        ) from None
    except DBAPIError as exc:
        name = type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__
        if name in _CONFLICTS:
            raise ConcurrencyError(
                f"another action got in the way ({name}); nothing was saved - try again"
            ) from exc
        raise DatabaseUnavailableError(
            f"the database failed during the action ({name}: {exc.orig or exc}); nothing was "
            "saved - try again when it is back"
        ) from exc
