"""Child process of tests/test_faults.py: start one engine step, freeze inside it, wait to die.

Usage: ``python die_mid_step.py SPEC.json``. The spec names the database, the clock's
instant, the action (``complete``, ``open``, ``suspend`` or ``run_due``) and the point to
freeze at: an in-transaction hook (``ticket_opened``, ``task_completed``, ``task_created``,
``ticket_suspended``), or, with ``at_commit``, the moment just before the step's COMMIT
reaches the database (an SQLAlchemy ``commit`` connection event armed by that hook).

At the point the child flushes the step's pending writes, counts what its own (still
uncommitted) transaction sees, writes that as JSON to the ``signal`` file, and sleeps. The
parent then kills it with SIGKILL. Reaching the end of the sleep is a failure (exit 3).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection

import ticketflow
from ticketflow import Engine, FixedClock, User

COUNTED = ("tf_ticket", "tf_task", "tf_event", "tf_outbox", "tf_job")


class Freeze:
    """Freezes the step at ``point`` (once), after queueing a notification in it."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.point: str = spec["point"]
        self.element: str | None = spec.get("element")
        self.at_commit: bool = spec.get("at_commit", False)
        self.armed = False
        self.done = False

    def hit(self, ctx: Any, hook: str, element: str | None = None) -> None:
        if self.done or hook != self.point or (self.element and element != self.element):
            return
        self.done = True
        # A side effect of the step: an outbox row, written only if the step commits.
        ctx.notify("sms", "13800000000", f"fault injection at {hook}", key=f"fault-{hook}")
        if self.at_commit:
            self.armed = True
            return
        ctx.session.flush()  # the step's writes so far reach the database, uncommitted
        self.freeze(lambda sql: ctx.session.execute(text(sql)).scalar())

    def on_commit(self, conn: Connection) -> None:
        if self.armed:
            self.armed = False
            self.freeze(lambda sql: conn.exec_driver_sql(sql).scalar())

    def freeze(self, scalar: Callable[[str], Any]) -> None:
        seen: dict[str, Any] = {t: scalar(f"SELECT count(*) FROM {t}") for t in COUNTED}
        number = self.spec.get("number")
        if number:
            seen["status"] = scalar(f"SELECT status FROM tf_ticket WHERE number = '{number}'")
        seen["pid"] = os.getpid()
        signal = Path(self.spec["signal"])
        tmp = signal.with_suffix(".tmp")
        tmp.write_text(json.dumps(seen), encoding="utf-8")
        os.replace(tmp, signal)
        print(f"frozen at {self.point}{' (commit)' if self.at_commit else ''}", flush=True)
        time.sleep(120)
        print("not killed within 120 s", flush=True)
        sys.exit(3)

    @ticketflow.hookimpl
    def ticketflow_ticket_opened(self, ctx, ticket) -> None:  # type: ignore[no-untyped-def]
        self.hit(ctx, "ticket_opened")

    @ticketflow.hookimpl
    def ticketflow_task_completed(self, ctx, ticket, task, data) -> None:  # type: ignore[no-untyped-def]
        self.hit(ctx, "task_completed", task.element_id)

    @ticketflow.hookimpl
    def ticketflow_task_created(self, ctx, ticket, task) -> None:  # type: ignore[no-untyped-def]
        self.hit(ctx, "task_created", task.element_id)

    @ticketflow.hookimpl
    def ticketflow_ticket_suspended(self, ctx, ticket, reason) -> None:  # type: ignore[no-untyped-def]
        self.hit(ctx, "ticket_suspended")


def user(spec: dict[str, Any]) -> User:
    return User.of(spec["user"], groups=spec.get("groups", ()), roles=spec.get("roles", ()))


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    freeze = Freeze(spec)
    clock = FixedClock(datetime.fromisoformat(spec["now"]))
    engine = Engine(
        spec["url"], clock=clock, plugins=[freeze], load_entry_points=False, auto_migrate=True
    )
    event.listen(engine.bind, "commit", freeze.on_commit)
    action = spec["action"]
    kind = action["kind"]
    if kind == "complete":
        engine.complete(action["task_id"], user(action), action.get("data", {}))
    elif kind == "open":
        engine.open_ticket(
            action["process"],
            customer=action["customer"],
            channel="hotline",
            data=action.get("data", {}),
        )
    elif kind == "suspend":
        engine.suspend(action["number"], user(action), reason="fault injection")
    elif kind == "run_due":
        engine.run_due(limit=1)
    else:
        raise SystemExit(f"unknown action {kind!r}")
    print("the step finished without reaching its freeze point", flush=True)
    sys.exit(4)


if __name__ == "__main__":
    main()
