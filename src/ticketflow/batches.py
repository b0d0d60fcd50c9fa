"""Batch intake: the daily no-upload list (未上传处理) and the periodic visit list (走访).

Both are what a host runs on a schedule (a cron job today, BPMN timer start events once
the job worker exists): hand over a list, get tickets opened for what needs one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from ticketflow.engine import OPEN_STATES, Engine
from ticketflow.errors import InvalidDataError
from ticketflow.hooks.hookspecs import hookimpl
from ticketflow.hooks.types import ConnectorCall
from ticketflow.users import User
from ticketflow.views import TicketView

NO_UPLOAD_PROCESS = "no_upload"
VISIT_PROCESS = "visit"


@dataclass(frozen=True)
class Site:
    """A monitored site that sent no data: its id (the ticket's business key) and owner."""

    site_id: str
    customer: str
    region: str | None = None
    name: str | None = None

    @classmethod
    def of(cls, item: Site | Mapping[str, Any]) -> Site:
        if isinstance(item, Site):
            return item
        try:
            return cls(
                str(item["site_id"]), str(item["customer"]), item.get("region"), item.get("name")
            )
        except KeyError as exc:
            raise InvalidDataError(f"no-upload list entry {dict(item)!r} lacks {exc}") from None


@dataclass(frozen=True)
class NoUploadImport:
    """What one import did, site by site."""

    day: date
    opened: tuple[TicketView, ...]
    #: site id -> number of the ticket already working on it
    in_progress: dict[str, str] = field(default_factory=dict)
    #: site id -> number of the ticket that already handled this day
    already_handled: dict[str, str] = field(default_factory=dict)
    #: site ids listed more than once in this list
    repeated: tuple[str, ...] = ()


def import_no_upload(
    engine: Engine,
    sites: Iterable[Site | Mapping[str, Any]],
    day: date,
    *,
    user: User | str | None = None,
    process_id: str = NO_UPLOAD_PROCESS,
) -> NoUploadImport:
    """Open a no-upload ticket for each listed site, unless it is a duplicate.

    A site is skipped when a ticket for it (same business key) is still open, or when a
    closed ticket already handled the same day. The whole list is imported in one
    transaction: it lands completely or not at all, and running it again is harmless.
    """
    opened: list[TicketView] = []
    in_progress: dict[str, str] = {}
    handled: dict[str, str] = {}
    seen: set[str] = set()
    repeated: list[str] = []
    with Session(engine.bind) as session, session.begin():
        for item in sites:
            site = Site.of(item)
            if site.site_id in seen:
                repeated.append(site.site_id)
                continue
            seen.add(site.site_id)
            earlier = engine.tickets(
                process_id=process_id, business_key=site.site_id, limit=1000, session=session
            ).items
            running = [t for t in earlier if t.status in OPEN_STATES]
            done = [
                t
                for t in earlier
                if t.status == "closed" and t.data.get("no_data_date") == day.isoformat()
            ]
            if running:
                in_progress[site.site_id] = running[0].number
            elif done:
                handled[site.site_id] = done[0].number
            else:
                opened.append(
                    engine.open_ticket(
                        process_id,
                        customer=site.customer,
                        channel="monitoring",
                        region=site.region,
                        business_key=site.site_id,
                        user=user,
                        subject=f"{site.name or site.site_id}: no data on {day.isoformat()}",
                        data={"site_id": site.site_id, "no_data_date": day.isoformat()},
                        session=session,
                    )
                )
    return NoUploadImport(day, tuple(opened), in_progress, handled, tuple(repeated))


class NoUploadImporter:
    """Performs the ``no_upload.import`` connector operation of the nightly
    ``no_upload_import`` process: ``fetch(day)`` asks the host's monitoring system for the
    sites that sent no data that day (the local day before the scheduled run), and the
    list is imported with :func:`import_no_upload`.

    Register it and give it the engine::

        importer = NoUploadImporter(monitoring.silent_sites)
        engine = Engine(url, plugins=[importer])
        importer.engine = engine
    """

    operation = "no_upload.import"

    def __init__(
        self,
        fetch: Callable[[date], Iterable[Site | Mapping[str, Any]]],
        engine: Engine | None = None,
        timezone: str = "Asia/Shanghai",
    ) -> None:
        self.fetch = fetch
        self.engine = engine
        self.zone = ZoneInfo(timezone)

    @hookimpl
    def ticketflow_connector(self, call: ConnectorCall) -> Mapping[str, Any] | None:
        if call.operation != self.operation:
            return None
        if self.engine is None:
            raise RuntimeError("NoUploadImporter has no engine: set importer.engine")
        scheduled = datetime.fromisoformat(str(call.params["scheduled_at"]))
        day = scheduled.astimezone(self.zone).date() - timedelta(days=1)
        result = import_no_upload(self.engine, self.fetch(day), day)
        return {
            "day": day.isoformat(),
            "opened": [t.number for t in result.opened],
            "in_progress": result.in_progress,
            "already_handled": result.already_handled,
            "repeated": list(result.repeated),
        }


def due_for_visit(
    engine: Engine, customers: Iterable[str], *, within: timedelta, process_id: str = VISIT_PROCESS
) -> list[str]:
    """The customers (in the given order) with no visit ticket opened within ``within``."""
    wanted = list(dict.fromkeys(customers))
    if not wanted:
        return []
    since = engine.clock.now() - within
    visited: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        page = engine.tickets(process_id=process_id, customer=chunk, opened_after=since, limit=1000)
        offset = 0
        while True:
            visited.update(t.customer_id for t in page.items)
            offset += len(page.items)
            if offset >= page.total or not page.items:
                break
            page = engine.tickets(
                process_id=process_id, customer=chunk, opened_after=since, offset=offset, limit=1000
            )
    return [c for c in wanted if c not in visited]


def open_visits(
    engine: Engine,
    customers: Iterable[str],
    *,
    within: timedelta,
    user: User | str | None = None,
    process_id: str = VISIT_PROCESS,
) -> list[TicketView]:
    """Open a visit ticket for every customer not visited within ``within`` (one transaction)."""
    due = due_for_visit(engine, customers, within=within, process_id=process_id)
    days = within.days
    with Session(engine.bind) as session, session.begin():
        return [
            engine.open_ticket(
                process_id,
                customer=c,
                channel="monitoring",
                user=user,
                subject=f"not visited for {days} days",
                session=session,
            )
            for c in due
        ]
