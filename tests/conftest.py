"""Fixtures: an Engine on a fresh SQLite file, or on a fresh PostgreSQL schema.

Set ``TICKETFLOW_TEST_DATABASE_URL`` (e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/test``)
to run the whole suite against PostgreSQL; every test then gets its own schema, dropped after.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ticketflow import Engine, FixedClock, User
from ticketflow.testing.database import temporary_database

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = ROOT / "processes"
PG_URL = os.environ.get("TICKETFLOW_TEST_DATABASE_URL")


def pytest_report_header(config: pytest.Config) -> str:
    return f"ticketflow test database: {PG_URL or 'SQLite (temporary files)'}"


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    """A database URL nobody else uses: a temp SQLite file or a new PostgreSQL schema."""
    with temporary_database(tmp_path, PG_URL) as url:
        yield url


@pytest.fixture
def is_postgres() -> bool:
    return bool(PG_URL)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def make_engine(db_url: str, clock: FixedClock) -> Iterator[Callable[..., Engine]]:
    """Build Engines on the test database (several may share it, like restarts)."""
    engines: list[Engine] = []

    def factory(**kwargs: object) -> Engine:
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("auto_migrate", True)
        e = Engine(db_url, **kwargs)  # type: ignore[arg-type]
        engines.append(e)
        return e

    yield factory
    for e in engines:
        e.close()


@pytest.fixture
def engine(make_engine: Callable[..., Engine]) -> Engine:
    e = make_engine()
    e.deploy(PROCESSES)
    return e


class Staff:
    """The people of a small complaint centre."""

    agent = User.of("li.na", groups=["intake_agent"])
    back_office = User.of("wang.wei", groups=["back_office"])
    billing = User.of("zhao.lei", groups=["dept_billing"])
    network = User.of("sun.li", groups=["dept_network"])
    callback = User.of("chen.jing", groups=["callback_agent"])
    supervisor = User.of("zhou.min", groups=["back_office"], roles=["supervisor"])
    outsider = User.of("guest", groups=["marketing"])


@pytest.fixture
def staff() -> type[Staff]:
    return Staff
