"""Races: concurrent completions and claims of one task give exactly one winner.

Runs on SQLite (writers are serialized) and, with TICKETFLOW_TEST_DATABASE_URL set, on
PostgreSQL, where the optimistic version check decides.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from ticketflow import ConcurrencyError, Engine, TaskStateError, TicketflowError, User

from .conftest import PROCESSES
from .journeys import open_complaint

THREADS = 8


def race(
    engine_factory: Callable[[], Engine], action: Callable[[Engine, int], object]
) -> list[object]:
    engines = [engine_factory() for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS)
    results: list[object] = [None] * THREADS

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = action(engines[i], i)
        except TicketflowError as exc:
            results[i] = exc
        except Exception as exc:  # pragma: no cover - would fail the test below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_completions_have_one_winner(
    make_engine: Callable[..., Engine], round_: int
) -> None:
    setup = make_engine()
    setup.deploy(PROCESSES)
    ticket = open_complaint(setup)
    task_id = ticket.task("front_desk").id
    agents = [User.of(f"agent{i}", groups=["intake_agent"]) for i in range(THREADS)]

    results = race(make_engine, lambda e, i: e.complete(task_id, agents[i], {"resolved": False}))

    wins = [r for r in results if not isinstance(r, Exception)]
    losses = [r for r in results if isinstance(r, Exception)]
    assert len(wins) == 1, results
    assert all(isinstance(r, (ConcurrencyError, TaskStateError)) for r in losses), losses
    after = setup.ticket(ticket.number)
    assert [t.element_id for t in after.open_tasks] == ["record"]
    history = setup.history(ticket.number)
    assert [e.kind for e in history].count("task_completed") == 1
    assert [e.kind for e in history].count("task_created") == 2
    done = setup.tasks(ticket=ticket.number, state="completed")
    assert done.total == 1
    assert done.items[0].completed_by in {a.id for a in agents}


def test_concurrent_claims_have_one_winner(make_engine: Callable[..., Engine]) -> None:
    setup = make_engine()
    setup.deploy(PROCESSES)
    ticket = open_complaint(setup)
    task_id = ticket.task("front_desk").id
    agents = [User.of(f"agent{i}", groups=["intake_agent"]) for i in range(THREADS)]

    results = race(make_engine, lambda e, i: e.claim(task_id, agents[i]))

    wins = [r for r in results if not isinstance(r, Exception)]
    assert len(wins) == 1, results
    assert all(isinstance(r, (ConcurrencyError, TaskStateError)) for r in results if r not in wins)
    winner = wins[0].assignee  # type: ignore[attr-defined]
    assert setup.task(task_id).assignee == winner
    claims = [e for e in setup.history(ticket.number) if e.kind == "task_claimed"]
    assert [e.actor for e in claims] == [winner]


def test_parallel_work_on_different_tickets(make_engine: Callable[..., Engine]) -> None:
    setup = make_engine()
    setup.deploy(PROCESSES)
    tickets = [open_complaint(setup, customer=f"C{i}") for i in range(THREADS)]
    agent = User.of("agent", groups=["intake_agent"])

    results = race(
        make_engine,
        lambda e, i: e.complete(tickets[i].task("front_desk").id, agent, {"resolved": True}),
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    assert setup.tickets(status="closed").total == THREADS
