"""A host application using ticketflow with its CRM plugin, end to end.

    python examples/crm_host/app.py [--db PATH]

It starts the stand-in CRM service (or uses the one at ``TICKETFLOW_CRM_URL``), builds an
``Engine`` on SQLite — the ``ticketflow-crm`` plugin is found through its entry point —
deploys ``processes/vip_care.bpmn``, opens tickets for VIP, ordinary and unknown
customers (one while the CRM is down), lets staff work them, delivers the outbox while the
CRM loses one answer, and shows what the CRM received: each event exactly once.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from datetime import timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any
from urllib.error import HTTPError

from crm_service import CrmService, configure_faults
from ticketflow_crm import CrmClient

from ticketflow import Engine, ProcessExecutionError, TicketView, User

HERE = Path(__file__).resolve().parent
URL_VARIABLE = "TICKETFLOW_CRM_URL"

#: Who works here: an account manager with customers of her own, another one, an agent.
STAFF = {
    "zhang.wei": User.of("zhang.wei", groups=["account_manager"]),
    "liu.yang": User.of("liu.yang", groups=["account_manager"]),
    "li.na": User.of("li.na", groups=["call_center"]),
}
BY_GROUP = {"account_manager": STAFF["liu.yang"], "call_center": STAFF["li.na"]}
CALLERS = [
    ("C1001", "VIP with her own account manager"),
    ("C1003", "VIP, no account manager of her own"),
    ("C1002", "ordinary customer"),
    ("C9999", "unknown to the CRM"),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--db", help="SQLite file (default: a new temporary one)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="      [log] %(name)s: %(message)s")

    if not [ep for ep in entry_points(group="ticketflow") if ep.name == "crm"]:
        print(
            "The ticketflow-crm plugin is not installed; from the repository root run:\n"
            "    pip install -e . -e examples/crm_host",
            file=sys.stderr,
        )
        return 2
    service = None
    if not os.environ.get(URL_VARIABLE):
        service = CrmService().start()
        os.environ[URL_VARIABLE] = service.url  # what the plugin reads
    try:
        return run(os.environ[URL_VARIABLE], started=service is not None, db=args.db)
    finally:
        if service is not None:
            service.stop()


def run(crm_url: str, *, started: bool, db: str | None) -> int:
    db = db or str(Path(tempfile.mkdtemp(prefix="crm_host-")) / "crm_host.db")
    engine = Engine(f"sqlite:///{db}", outbox_backoff=timedelta(seconds=1))
    plugin = engine.plugins.get_plugin("crm")
    deployed = engine.deploy(HERE / "processes")
    print("ticketflow CRM host example")
    print(f"  CRM service  {crm_url}" + ("  (started by this app)" if started else ""))
    print(f"  database     {db}")
    print(f"  plugin       crm = {getattr(plugin, '__name__', plugin)}  (entry point)")
    print(f"  deployed     {', '.join(f'{d.process_id} v{d.version}' for d in deployed)}")

    saved = current_faults(crm_url)  # put back at the end, for a CRM that outlives us
    heading("1. Customers call in: tickets opened")
    tickets = [open_ticket(engine, customer, who) for customer, who in CALLERS]
    print()
    print("  The CRM is down while C2001 calls (its first request fails):")
    faults = set_faults(crm_url, fail_next=1, fail_mode="before")
    tickets.append(open_ticket(engine, "C2001", "key account, lookup at intake fails"))
    if faults:
        set_faults(crm_url, fail_next=0)

    heading("2. Staff work the tickets")
    for ticket in tickets:
        task = ticket.open_tasks[0]
        user = STAFF[task.assignee] if task.assignee else BY_GROUP[task.candidate_groups[0]]
        done = engine.complete(task.id, user, {"summary": f"handled for {ticket.customer_id}"})
        queued = engine.outbox_messages(ticket=ticket.number)
        print(
            f"  {ticket.number}  {user.id:<10} completed {task.element_id:<15} -> {done.status}; "
            f"CRM event queued as outbox #{queued[0].id} ({queued[0].state})"
        )

    heading("3. Delivering the outbox (the CRM stores the first event but its answer is lost)")
    set_faults(crm_url, fail_next=1, fail_mode="after")
    for attempt in range(1, 11):
        report = engine.deliver_outbox()
        pending = engine.outbox_messages(state="pending")
        line = f"  pass {attempt}: delivered {report.delivered}, to retry {report.retried}"
        print(line + (f", dead {report.dead}" if report.dead else ""))
        for message in pending:
            print(f"      outbox #{message.id} {message.ticket_number}: {message.last_error}")
            print(f"      retry at {message.next_attempt_at:%H:%M:%S} (backoff)")
        if not pending:
            break
        wait = min(m.next_attempt_at for m in pending) - engine.clock.now()
        time.sleep(max(wait.total_seconds(), 0) + 0.05)

    heading("4. What the CRM received (from this run)")
    received = CrmClient(crm_url).events()
    messages = {m.idempotency_key: m for m in engine.outbox_messages()}
    attempts = received["attempts"]
    ours = [e for e in received["events"] if e["idempotency_key"] in messages]
    for event in ours:
        key = event["idempotency_key"]
        sent = messages.get(key)
        result = sent.result if sent else None
        print(
            f"  #{event['id']} {event['ticket_number']}  {event['customer_id']:<6} "
            f"tier {event['tier'] or '-':<12} POSTs {attempts.get(key, 0)}  "
            f"ack {'duplicate' if result and result['duplicate'] else 'new'}"
        )
        print(f"      Idempotency-Key {key}")
    keys = {e["idempotency_key"] for e in ours}
    once = len(keys) == len(ours) == len(messages)
    delivered = all(m.state == "delivered" for m in messages.values())
    posts = sum(attempts.get(k, 0) for k in keys)
    print()
    print(
        f"  {len(ours)} events for {len(messages)} outbox messages, "
        f"{'each stored exactly once' if once else 'NOT exactly once'}; "
        f"{posts} POST requests (retries carried the same Idempotency-Key)"
    )
    engine.close()
    if saved:
        set_faults(crm_url, **saved)
    return 0 if once and delivered else 1


def open_ticket(engine: Engine, customer: str, who: str) -> TicketView:
    for attempt in range(1, 4):
        try:
            ticket = engine.open_ticket(
                "vip_care", customer=customer, channel="hotline", subject=who
            )
            break
        except ProcessExecutionError as exc:  # the sync CRM call failed: nothing was stored
            print(f"  {customer}: not opened (attempt {attempt}): {exc.reason}")
            if attempt == 3:
                raise
    crm: dict[str, Any] = ticket.data["crm"]
    task = ticket.open_tasks[0]
    goes_to = f"assignee {task.assignee}" if task.assignee else f"group {task.candidate_groups[0]}"
    print(f"  {ticket.number}  {customer}  {who}")
    print(
        f"      intake lookup: tier {ticket.customer_tier or '-'}, "
        f"region {ticket.region or '-'}, priority {ticket.priority}"
    )
    opened = engine.history(ticket.number)[0].details
    if "customer_lookup_error" in opened:
        print(f"      intake lookup failed (recorded): {opened['customer_lookup_error']}")
    found = f"{crm['name']}, tier {crm['tier']}" if crm["found"] else "not found"
    manager = f", account manager {crm['account_manager']}" if crm.get("account_manager") else ""
    print(f"      service task crm.customer -> crm: {found}{manager}")
    print(f"      task {task.element_id} ({task.name}) -> {goes_to}")
    return ticket


def set_faults(url: str, **changes: Any) -> bool:
    """Flip the CRM's fault switch; False when the CRM has none (a real one)."""
    try:
        configure_faults(url, **changes)
        return True
    except HTTPError:
        print(f"      (the CRM at {url} has no fault switch: nothing injected)")
        return False


def current_faults(url: str) -> dict[str, Any]:
    """The CRM's fault settings (without the seed, so restoring them keeps its sequence)."""
    try:
        faults = configure_faults(url)
    except HTTPError:
        return {}
    faults.pop("seed", None)
    return faults


def heading(text: str) -> None:
    print(f"\n{text}")


if __name__ == "__main__":
    sys.exit(main())
