"""Embedding: ticketflow's writes join the host application's own transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select
from sqlalchemy.orm import Session

from ticketflow import Engine, FormValidationError, StoreError
from ticketflow.store import database

from .conftest import PROCESSES, Staff

host_metadata = MetaData()
orders = Table(
    "host_order", host_metadata, Column("id", Integer, primary_key=True), Column("note", String(50))
)


@pytest.fixture
def host(db_url: str) -> tuple[Engine, object]:
    bind = database.make_engine(db_url)
    host_metadata.create_all(bind)
    engine = Engine(bind=bind, auto_migrate=True)
    engine.deploy(PROCESSES)
    yield engine, bind
    bind.dispose()


def test_host_commit_keeps_both(host: tuple[Engine, object]) -> None:
    engine, bind = host
    with Session(bind) as session:
        session.execute(orders.insert().values(note="host row"))
        ticket = engine.open_ticket("complaint", customer="C1", channel="web", session=session)
        session.commit()
    assert engine.ticket(ticket.number).status == "open"
    with Session(bind) as session:
        assert session.scalar(select(orders.c.note)) == "host row"


def test_host_rollback_undoes_the_ticket(host: tuple[Engine, object]) -> None:
    engine, bind = host
    with Session(bind) as session:
        ticket = engine.open_ticket("complaint", customer="C1", channel="web", session=session)
        assert engine.ticket(ticket.number, session=session).number == ticket.number
        session.rollback()
    assert engine.tickets().total == 0


def test_engine_error_inside_host_transaction_keeps_host_work(host: tuple[Engine, object]) -> None:
    engine, bind = host
    ticket = engine.open_ticket("complaint", customer="C1", channel="web")
    with Session(bind) as session:
        session.execute(orders.insert().values(note="still here"))
        with pytest.raises(FormValidationError):
            engine.complete(
                ticket.task("front_desk").id, Staff.agent, {"resolved": "perhaps"}, session=session
            )
        engine.complete(
            ticket.task("front_desk").id, Staff.agent, {"resolved": True}, session=session
        )
        session.commit()
    assert engine.ticket(ticket.number).status == "closed"
    with Session(bind) as session:
        assert session.scalar(select(orders.c.note)) == "still here"


def test_schema_must_exist_without_auto_migrate(db_url: str) -> None:
    if db_url.startswith("sqlite"):
        bind = database.make_engine(db_url)
        with pytest.raises(
            StoreError,
            match=f"has no ticketflow tables; ticketflow needs revision {database.head_revision()}",
        ):
            Engine(bind=bind, auto_migrate=False)
        bind.dispose()
    else:
        with pytest.raises(StoreError, match="ticketflow db upgrade"):
            Engine(db_url)
