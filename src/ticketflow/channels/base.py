"""What every channel shares: finding its configuration on an engine, and units of work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.orm import Session

from ticketflow.channels.errors import ChannelNotConfiguredError
from ticketflow.store.database import READ_ONLY

if TYPE_CHECKING:
    from ticketflow.engine import Engine

P = TypeVar("P")


def find_plugin(engine: Engine, kind: type[P]) -> P | None:
    """The plugin of type ``kind`` registered with ``engine`` (the last one, if several)."""
    found = [p for p in engine.plugins.get_plugins() if isinstance(p, kind)]
    return found[-1] if found else None


def require_plugin(engine: Engine, kind: type[P]) -> P:
    plugin = find_plugin(engine, kind)
    if plugin is None:
        raise ChannelNotConfiguredError(
            f"no {kind.__name__} is registered with the engine: "
            f"Engine(..., plugins=[{kind.__name__}(...)])"
        )
    return plugin


@contextmanager
def unit(engine: Engine, session: Session | None, *, read_only: bool = False) -> Iterator[Session]:
    """A transaction of our own, or a SAVEPOINT inside the host's ``session``.

    ``read_only`` units do not take SQLite's write lock up front."""
    if session is not None:
        with session.begin_nested():
            yield session
        return
    bind = engine.bind.execution_options(**{READ_ONLY: True}) if read_only else engine.bind
    with Session(bind, expire_on_commit=False) as own, own.begin():
        yield own
