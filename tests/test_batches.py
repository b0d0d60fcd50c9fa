"""Batch intake: the daily no-upload list and the periodic visit list."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from ticketflow import Engine, FixedClock, InvalidDataError, User
from ticketflow.batches import Site, due_for_visit, import_no_upload, open_visits

CALL_CENTRE = User.of("agent", groups=["call_center"])
DAY = date(2026, 1, 4)


def sites(*ids: str) -> list[dict[str, str]]:
    return [{"site_id": i, "customer": f"owner-{i}", "region": "jinan"} for i in ids]


def test_import_opens_one_ticket_per_new_site(engine: Engine) -> None:
    result = import_no_upload(engine, sites("S1", "S2", "S1", "S3"), DAY)
    assert [t.business_key for t in result.opened] == ["S1", "S2", "S3"]
    assert result.repeated == ("S1",)
    first = result.opened[0]
    assert first.process_id == "no_upload" and first.channel == "monitoring"
    assert first.data["site_id"] == "S1" and first.data["no_data_date"] == "2026-01-04"
    assert [t.element_id for t in first.open_tasks] == ["phone_check"]
    assert first.region == "jinan"


def test_import_skips_sites_in_progress_and_already_handled(
    engine: Engine, clock: FixedClock
) -> None:
    first = import_no_upload(engine, sites("S1", "S2"), DAY)
    s2 = first.opened[1]
    engine.complete(s2.task("phone_check").id, CALL_CENTRE, {"reachable": True, "resolved": True})
    # Same day again (a re-run): S1 is still being worked on, S2 was handled that day.
    again = import_no_upload(engine, sites("S1", "S2", "S4"), DAY)
    assert again.in_progress == {"S1": first.opened[0].number}
    assert again.already_handled == {"S2": s2.number}
    assert [t.business_key for t in again.opened] == ["S4"]
    # The next day S2 is silent again: a new ticket, since the last one was for another day.
    clock.advance(days=1)
    next_day = import_no_upload(engine, sites("S2"), DAY + timedelta(days=1))
    assert [t.business_key for t in next_day.opened] == ["S2"]
    assert engine.tickets(business_key="S2").total == 2


def test_import_is_all_or_nothing(engine: Engine) -> None:
    bad = [*sites("S1", "S2"), {"site_id": "S3"}]
    with pytest.raises(InvalidDataError, match="lacks 'customer'"):
        import_no_upload(engine, bad, DAY)
    assert engine.tickets(process_id="no_upload").total == 0
    ok = import_no_upload(engine, [Site("S1", "C1"), *sites("S2")], DAY)
    assert len(ok.opened) == 2


def test_visits_for_customers_not_visited_within_the_period(
    engine: Engine, clock: FixedClock
) -> None:
    opened = open_visits(engine, ["C1", "C2"], within=timedelta(days=90))
    assert [t.customer_id for t in opened] == ["C1", "C2"]
    assert [t.element_id for t in opened[0].open_tasks] == ["plan_visit"]
    clock.advance(days=30)
    assert due_for_visit(engine, ["C1", "C2", "C3", "C3"], within=timedelta(days=90)) == ["C3"]
    clock.advance(days=61)
    assert due_for_visit(engine, ["C1", "C2", "C3"], within=timedelta(days=90)) == [
        "C1",
        "C2",
        "C3",
    ]
    assert due_for_visit(engine, [], within=timedelta(days=90)) == []


def test_nightly_import_process_opens_no_upload_tickets(make_engine, clock: FixedClock) -> None:  # type: ignore[no-untyped-def]
    from datetime import datetime, timezone

    from ticketflow.batches import NoUploadImporter

    from .conftest import PROCESSES

    asked: list[date] = []

    def fetch(day: date) -> list[dict[str, str]]:
        asked.append(day)
        return sites("S1", "S2")

    importer = NoUploadImporter(fetch)
    engine = make_engine(plugins=[importer], load_entry_points=False)
    importer.engine = engine
    engine.deploy(PROCESSES)
    (job,) = [j for j in engine.jobs() if j.kind == "start"]
    # FixedClock starts 2026-01-05 09:00 UTC; the next 02:00 Beijing is 6 Jan 02:00 = 5 Jan 18:00 UTC.
    assert job.due_at == datetime(2026, 1, 5, 18, 0, tzinfo=timezone.utc)
    clock.set(job.due_at)
    assert engine.run_due().fired == 1
    (run,) = engine.tickets(process_id="no_upload_import").items
    assert run.status == "closed" and run.customer_id == "system"
    assert engine.tickets(process_id="no_upload").total == 0, "the import happens after commit"
    assert engine.deliver_outbox().delivered == 1
    assert asked == [date(2026, 1, 5)], "yesterday's list, in Beijing time"
    opened = engine.tickets(process_id="no_upload").items
    assert sorted(t.business_key for t in opened) == ["S1", "S2"]
    (message,) = engine.outbox_messages(state="delivered")
    assert message.result["opened"] and message.result["day"] == "2026-01-05"  # type: ignore[index]
    # The next night: the same sites are still being worked on, so nothing new opens.
    clock.advance(days=1)
    engine.run_due()
    engine.deliver_outbox()
    assert engine.tickets(process_id="no_upload").total == 2
    assert engine.tickets(process_id="no_upload_import").total == 2
