"""Mass faults and planned outages: linking at intake, notices, bulk closing, spikes."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from ticketflow import Engine, FixedClock, User
from ticketflow.cli import app
from ticketflow.errors import InvalidDataError, NotFoundError, TaskStateError
from ticketflow.hooks import hookimpl
from ticketflow.hooks.types import CustomerInfo
from ticketflow.plugins.sms import LoggingSmsGateway, SmsNotifier
from ticketflow.service import (
    Intake,
    Notices,
    SpikePolicy,
    alerts,
    declare_fault,
    fault,
    faults,
    poisson_threshold,
    resolve_fault,
    timeline,
)

from .conftest import PROCESSES, Staff

PHONES = {f"C-{i}": f"1380013{i:04d}" for i in range(100)}
OPS = User.of("ops.lead", groups=["intake_agent"])


@pytest.fixture
def gateway() -> LoggingSmsGateway:
    return LoggingSmsGateway()


@pytest.fixture
def sms_engine(make_engine: Callable[..., Engine], gateway: LoggingSmsGateway) -> Engine:
    engine = make_engine(plugins=[SmsNotifier(gateway, max_parts=10)])
    engine.deploy(PROCESSES)
    return engine


def intake_for(engine: Engine, **kwargs: object) -> Intake:
    return Intake(engine, notices=Notices(customer_address=PHONES.get), **kwargs)  # type: ignore[arg-type]


def broadband_fault(engine: Engine, **kwargs: object) -> int:
    args: dict[str, object] = {
        "title": "红谷滩光缆中断",
        "description": "光缆被挖断，宽带中断",
        "regions": ["nc-hgt"],
        "categories": ["broadband"],
        "user": "noc",
        **kwargs,
    }
    return declare_fault(engine, **args).id  # type: ignore[arg-type]


# --- linking at intake --------------------------------------------------------------------


def test_matching_complaint_is_linked_to_the_fault_and_the_customer_told(
    sms_engine: Engine, gateway: LoggingSmsGateway
) -> None:
    engine = sms_engine
    fault_id = broadband_fault(engine)
    intake = intake_for(engine)
    result = intake.receive(
        "complaint",
        customer="C-1",
        channel="hotline",
        text="宽带上不了网",
        region="nc-hgt",
        category="broadband",
    )
    assert result.outcome == "fault" and result.ticket is None
    assert result.fault is not None and result.fault.fault.id == fault_id
    assert result.reason == f"linked to fault #{fault_id}: category broadband in region nc-hgt"
    assert result.fault_notice_sent
    assert engine.tickets().total == 0

    # A second call of the same customer is linked again but not told twice.
    again = intake.receive(
        "complaint",
        customer="C-1",
        channel="web",
        text="还是没网",
        region="nc-hgt",
        category="broadband",
    )
    assert again.outcome == "fault" and not again.fault_notice_sent
    assert engine.deliver_outbox().delivered == 1
    [sms] = gateway.messages
    assert sms.to == "+8613800130001"
    assert "红谷滩光缆中断" in sms.text and "光缆被挖断" in sms.text

    [entry, _] = timeline(engine, "C-1")
    assert entry.kind == "fault_contact" and entry.details["fault_id"] == fault_id


class Crm:
    @hookimpl
    def ticketflow_customer_lookup(self, customer_id: str) -> CustomerInfo | None:
        return CustomerInfo(customer_id, region="nc-hgt", phone=PHONES.get(customer_id))


def test_region_and_phone_come_from_the_crm_by_default(
    make_engine: Callable[..., Engine],
) -> None:
    engine = make_engine(plugins=[Crm()])
    engine.deploy(PROCESSES)
    fault_id = broadband_fault(engine)
    result = Intake(engine).receive(
        "complaint", customer="C-7", channel="hotline", text="宽带断网", category="broadband"
    )
    assert result.outcome == "fault" and result.fault_notice_sent
    [notice] = engine.outbox_messages()
    assert (notice.payload["to"], notice.payload["recipient_role"]) == ("13800130007", "customer")
    done = resolve_fault(engine, fault_id, OPS, resolution="已恢复")
    assert done.notified == ("C-7",)


def test_text_matches_the_fault_when_the_category_is_unknown(engine: Engine) -> None:
    fault_id = broadband_fault(engine)
    intake = intake_for(engine)
    by_text = intake.receive(
        "complaint", customer="C-1", channel="hotline", text="宽带上不了网", region="nc-hgt"
    )
    assert by_text.outcome == "fault"
    assert by_text.fault is not None and by_text.fault.score is not None
    assert by_text.reason.startswith(f"linked to fault #{fault_id}: text similar to the fault")
    unrelated = intake.receive(
        "complaint", customer="C-2", channel="hotline", text="话费多扣了30元", region="nc-hgt"
    )
    assert unrelated.outcome == "opened" and unrelated.fault is None
    other_category = intake.receive(
        "complaint",
        customer="C-3",
        channel="hotline",
        text="话费多扣了30元",
        region="nc-hgt",
        category="billing",
    )
    assert other_category.outcome == "opened"


def test_only_contacts_inside_the_area_and_window_are_linked(
    engine: Engine, clock: FixedClock
) -> None:
    start = clock.now() + timedelta(hours=1)
    fault_id = broadband_fault(
        engine, kind="planned", starts_at=start, ends_at=start + timedelta(hours=4)
    )
    intake = intake_for(engine)

    def contact(customer: str, region: str) -> str:
        return intake.receive(
            "complaint",
            customer=customer,
            channel="hotline",
            text="宽带断网",
            region=region,
            category="broadband",
        ).outcome

    assert contact("C-1", "nc-hgt") == "opened"  # before the outage starts
    clock.advance(hours=1)
    assert contact("C-2", "nc-hgt") == "fault"  # at its start
    assert contact("C-3", "jj") == "opened"  # another region
    clock.advance(hours=4)
    assert contact("C-4", "nc-hgt") == "opened"  # at its end
    assert [f.id for f in faults(engine, region="nc-hgt")] == [fault_id]
    assert faults(engine, region="jj") == []


def test_fault_with_tickets_links_new_and_repeat_tickets(engine: Engine) -> None:
    fault_id = broadband_fault(engine, open_tickets=True)
    intake = intake_for(engine)
    first = intake.receive(
        "complaint", customer="C-1", channel="hotline", text="家里宽带断网", region="nc-hgt"
    )
    assert first.outcome == "opened" and first.ticket is not None
    assert first.ticket.data["mass_fault"] == fault_id
    assert "fault_linked" in [e.kind for e in engine.history(first.ticket.number)]
    repeat = intake.receive(
        "complaint",
        customer="C-1",
        channel="web",
        text="宽带又断了，昨天报过还没修好",
        region="nc-hgt",
    )
    assert repeat.outcome == "repeat"
    assert repeat.ticket is not None and repeat.ticket.number == first.ticket.number
    assert engine.tickets().total == 1


def test_resolving_closes_linked_tickets_and_tells_every_customer(
    sms_engine: Engine, gateway: LoggingSmsGateway, clock: FixedClock
) -> None:
    engine = sms_engine
    fault_id = broadband_fault(engine, open_tickets=True)
    intake = intake_for(engine)
    numbers = []
    for i in (1, 2, 3):
        result = intake.receive(
            "complaint",
            customer=f"C-{i}",
            channel="hotline",
            text="宽带断网",
            region="nc-hgt",
            category="broadband",
        )
        assert result.ticket is not None
        numbers.append(result.ticket.number)
    # The third ticket already went past its front desk: handlers own it now.
    engine.complete(
        engine.ticket(numbers[2]).task("front_desk").id, Staff.agent, {"resolved": False}
    )
    # A customer whose complaint was only linked is told of the recovery too.
    linked_only = broadband_fault(engine, regions=["nc-dh"])
    intake.receive(
        "complaint",
        customer="C-4",
        channel="sms",
        text="宽带断网",
        region="nc-dh",
        category="broadband",
    )
    engine.deliver_outbox()
    gateway.clear()
    clock.advance(hours=3)

    notices = Notices(customer_address=PHONES.get)
    done = resolve_fault(engine, fault_id, OPS, resolution="光缆已修复，宽带恢复", notices=notices)
    assert done.fault.status == "resolved" and done.fault.resolved_by == "ops.lead"
    assert done.closed == (numbers[0], numbers[1])
    assert list(done.left_open) == [numbers[2]]
    assert (
        "no closing step for process 'complaint' is open (waiting at: record"
        in (done.left_open[numbers[2]])
    )
    assert done.notified == ("C-1", "C-2", "C-3")
    for number in numbers[:2]:
        ticket = engine.ticket(number)
        assert (ticket.status, ticket.end_element) == ("closed", "end_front_desk")
        front_desk = [e for e in engine.history(number) if e.kind == "task_completed"][-1]
        assert front_desk.actor == "ops.lead"
        assert front_desk.details["form"]["reply"] == "光缆已修复，宽带恢复"
        assert f"mass fault #{fault_id}" in front_desk.details["form"]["note"]
    assert engine.ticket(numbers[2]).status == "open"
    resolved_events = [e for e in engine.history(numbers[2]) if e.kind == "fault_resolved"]
    assert resolved_events[0].details["resolution"] == "光缆已修复，宽带恢复"

    assert engine.deliver_outbox().delivered == 3
    assert sorted(m.to for m in gateway.messages) == [
        "+8613800130001",
        "+8613800130002",
        "+8613800130003",
    ]
    assert all("已恢复" in m.text for m in gateway.messages)
    with pytest.raises(TaskStateError, match=f"fault {fault_id} is resolved"):
        resolve_fault(engine, fault_id, OPS, resolution="again")
    assert [f.id for f in faults(engine)] == [linked_only]
    assert fault(engine, fault_id).resolution == "光缆已修复，宽带恢复"

    other = resolve_fault(engine, linked_only, OPS, resolution="已恢复", notices=notices)
    assert (other.closed, other.notified) == ((), ("C-4",))


def test_a_resolver_without_the_right_leaves_tickets_open(engine: Engine) -> None:
    fault_id = broadband_fault(engine, open_tickets=True)
    result = intake_for(engine).receive(
        "complaint",
        customer="C-1",
        channel="hotline",
        text="宽带断网",
        region="nc-hgt",
        category="broadband",
    )
    assert result.ticket is not None
    done = resolve_fault(engine, fault_id, Staff.billing, resolution="已恢复")
    assert done.closed == () and "may not complete" in done.left_open[result.ticket.number]
    assert engine.ticket(result.ticket.number).status == "open"
    assert done.fault.status == "resolved"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"regions": []}, InvalidDataError, "at least one region"),
        ({"regions": "nc-hgt"}, InvalidDataError, "a list of codes"),
        ({"kind": "storm"}, InvalidDataError, "fault kind must be one of fault, planned"),
        ({"title": ""}, InvalidDataError, "fault title must be 1-200 characters"),
        ({"ends_at": "start"}, InvalidDataError, "is not after starts_at"),
    ],
)
def test_bad_declarations_are_refused(
    engine: Engine, clock: FixedClock, kwargs: dict[str, object], error: type, message: str
) -> None:
    if kwargs.get("ends_at") == "start":
        kwargs["ends_at"] = clock.now()
    with pytest.raises(error, match=message):
        broadband_fault(engine, **kwargs)
    with pytest.raises(NotFoundError, match="fault 99 does not exist"):
        resolve_fault(engine, 99, OPS, resolution="x")


# --- spikes ---------------------------------------------------------------------------------


def test_poisson_threshold_is_the_smallest_count_that_rare() -> None:
    for mean in (0.5, 2.0, 7.3, 40.0):
        k = poisson_threshold(mean, 0.001)

        def tail(n: int, mean: float = mean) -> float:
            return 1 - sum(math.exp(-mean) * mean**i / math.factorial(i) for i in range(n))

        assert tail(k) <= 0.001 < tail(k - 1)
    policy = SpikePolicy()
    assert [policy.threshold(b) for b in (0, 2, 20)] == [5, 9, 36]


def test_spike_is_raised_at_the_threshold_and_not_below(engine: Engine, clock: FixedClock) -> None:
    policy = SpikePolicy(weeks=2, min_count=3)
    notices = Notices(customer_address=PHONES.get, staff_address={"supervisor": "13900139000"}.get)
    intake = Intake(engine, spikes=policy, notices=notices, suggestions=0)
    customers = iter(PHONES)

    def complain(n: int, category: str = "broadband") -> list[object]:
        return [
            intake.receive(
                "complaint",
                customer=next(customers),
                channel="hotline",
                text="宽带断网",
                region="nc-hgt",
                category=category,
            ).alert
            for _ in range(n)
        ]

    # Baseline: 2 and 4 contacts in this hour of the two previous weeks -> mean 3.
    complain(2)
    clock.advance(weeks=1)
    complain(4)
    clock.advance(weeks=1)
    threshold = policy.threshold(3.0)
    assert threshold == 11
    assert complain(threshold - 1) == [None] * (threshold - 1)
    complain(3, category="billing")  # other categories do not count
    [alert] = complain(1)
    assert alert is not None
    assert (alert.count, alert.baseline, alert.threshold) == (threshold, 3.0, threshold)  # type: ignore[attr-defined]
    assert complain(1) == [None]  # announced once per window bucket
    assert [a.id for a in alerts(engine, region="nc-hgt")] == [alert.id]  # type: ignore[attr-defined]
    supervisor = [
        m for m in engine.outbox_messages() if m.payload.get("recipient_role") == "supervisor"
    ]
    assert [m.payload["to"] for m in supervisor] == ["13900139000"]
    assert "nc-hgt / broadband" in supervisor[0].payload["body"]


def test_contacts_explained_by_a_fault_raise_no_spike(engine: Engine) -> None:
    broadband_fault(engine)
    intake = intake_for(engine, spikes=SpikePolicy(min_count=1, alpha=0.5))
    result = intake.receive(
        "complaint",
        customer="C-1",
        channel="hotline",
        text="宽带断网",
        region="nc-hgt",
        category="broadband",
    )
    assert result.outcome == "fault" and result.alert is None
    plain = intake.receive(
        "complaint",
        customer="C-2",
        channel="hotline",
        text="宽带断网",
        region="jj",
        category="broadband",
    )
    assert plain.alert is not None and plain.alert.count == 1


# --- command line -----------------------------------------------------------------------------


def test_faults_commands(engine: Engine, db_url: str) -> None:
    runner = CliRunner()
    env = {"COLUMNS": "200"}
    declared = runner.invoke(
        app,
        [
            "faults",
            "declare",
            "--title",
            "宽带中断",
            "--region",
            "nc-hgt",
            "--region",
            "nc-dh",
            "--category",
            "broadband",
            "--starts",
            "2026-01-05T09:00+00:00",
            "--ends",
            "2026-01-05T18:00+08:00",
            "--open-tickets",
            "--url",
            db_url,
        ],
        env=env,
    )
    assert declared.exit_code == 0, declared.output
    assert "fault #1 declared for nc-hgt, nc-dh from 2026-01-05 09:00 to 2026-01-05 10:00" in (
        declared.output
    )
    ticket = (
        Intake(engine)
        .receive(
            "complaint",
            customer="C-1",
            channel="hotline",
            text="宽带断网",
            region="nc-dh",
            category="broadband",
        )
        .ticket
    )
    assert ticket is not None
    listed = runner.invoke(app, ["faults", "list", "--url", db_url], env=env)
    assert "宽带中断" in listed.output and "active" in listed.output
    resolved = runner.invoke(
        app, ["faults", "resolve", "1", "--resolution", "已恢复", "--url", db_url], env=env
    )
    assert resolved.exit_code == 0, resolved.output
    assert "fault #1 resolved: 1 tickets closed" in resolved.output
    assert engine.ticket(ticket.number).status == "closed"
    bad = runner.invoke(
        app,
        ["faults", "declare", "--title", "x", "--region", "a", "--starts", "soon", "--url", db_url],
        env=env,
    )
    assert bad.exit_code == 1 and "--starts must be an ISO 8601 time" in bad.output
