"""One point of complaint: intake shows the customer's tickets, links repeat complaints to
the ticket they repeat, and the customer timeline spans every ticket and channel."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from ticketflow import Engine, FixedClock
from ticketflow.cli import app
from ticketflow.errors import InvalidDataError, UnknownProcessError
from ticketflow.hooks import hookimpl
from ticketflow.hooks.types import CustomerInfo
from ticketflow.service import Intake, RepeatPolicy, timeline
from ticketflow.service.similarity import similarity, tokenize

from .conftest import PROCESSES, Staff

FIRST = "家里宽带断网"
REPEAT = "宽带又断了，昨天报过还没修好"
BILLING = "话费多扣了30元，请退还"


class Crm:
    """A customer directory answering ``ticketflow_customer_lookup``."""

    def __init__(self, **people: CustomerInfo) -> None:
        self.people = people

    @hookimpl
    def ticketflow_customer_lookup(self, customer_id: str) -> CustomerInfo | None:
        return self.people.get(customer_id)


# --- similarity ------------------------------------------------------------------------


def test_tokens_keep_topic_words_and_drop_particles() -> None:
    assert tokenize(REPEAT) == ["宽带", "断", "昨天", "报", "没", "修好"]
    assert tokenize("Broadband DOWN!") == ["broadband", "down"]
    assert tokenize("，。！") == []


@pytest.mark.parametrize(
    ("text", "earlier", "low", "high"),
    [
        (REPEAT, FIRST, 38, 45),
        ("我家宽带上不了网", FIRST, 45, 55),
        ("彩铃开通失败", "彩铃业务开通不成功", 55, 62),
        ("宽带速度很慢", FIRST, 30, 35),
        (BILLING, FIRST, 0, 0),
        ("手机信号很差，打不出电话", FIRST, 0, 0),
    ],
)
def test_similarity_calibration(text: str, earlier: str, low: float, high: float) -> None:
    score = similarity(tokenize(text), tokenize(earlier))
    assert low <= score <= high
    assert score == similarity(tokenize(earlier), tokenize(text))  # symmetric


# --- repeat complaints -------------------------------------------------------------------


def test_repeat_of_an_open_ticket_is_linked_instead_of_opened(
    engine: Engine, clock: FixedClock
) -> None:
    intake = Intake(engine)
    first = intake.receive("complaint", customer="C-1", channel="hotline", text=FIRST)
    assert first.outcome == "opened" and first.ticket is not None
    assert first.ticket.data["summary"] == FIRST
    assert first.ticket.subject == FIRST
    assert first.history == ()

    clock.advance(hours=20)
    again = intake.receive(
        "complaint", customer="C-1", channel="web", text=REPEAT, user=Staff.agent
    )
    assert again.outcome == "repeat"
    assert again.ticket is not None and again.ticket.number == first.ticket.number
    assert again.repeat is not None and 38 <= again.repeat.score <= 45
    assert again.reason == (
        f"repeat of open ticket {first.ticket.number} (similarity {again.repeat.score:.0f} >= 35)"
    )
    # Before deciding, intake showed the customer's earlier ticket with its text.
    [shown] = again.history
    assert (shown.number, shown.status, shown.text, shown.repeats) == (
        first.ticket.number,
        "open",
        FIRST,
        0,
    )
    assert engine.tickets(customer="C-1").total == 1
    linked = [e for e in engine.history(first.ticket.number) if e.kind == "contact_linked"]
    assert [(e.actor, e.details["channel"], e.details["text"]) for e in linked] == [
        ("li.na", "web", REPEAT)
    ]
    assert intake.history("C-1")[0].repeats == 1


def test_unrelated_complaint_opens_a_new_ticket(engine: Engine) -> None:
    intake = Intake(engine)
    first = intake.receive("complaint", customer="C-1", channel="hotline", text=FIRST)
    other = intake.receive("complaint", customer="C-1", channel="hotline", text=BILLING)
    assert other.outcome == "opened" and other.repeat is None
    assert other.ticket is not None and other.ticket.number != first.ticket.number  # type: ignore[union-attr]
    assert "repeat_of" not in other.ticket.data
    assert other.candidates == ()  # nothing in common with the broadband ticket


def test_same_text_from_another_customer_is_not_a_repeat(engine: Engine) -> None:
    intake = Intake(engine)
    intake.receive("complaint", customer="C-1", channel="hotline", text=FIRST)
    other = intake.receive("complaint", customer="C-2", channel="hotline", text=FIRST)
    assert other.outcome == "opened" and other.repeat is None and other.history == ()


def test_caller_can_force_a_new_ticket(engine: Engine) -> None:
    intake = Intake(engine)
    first = intake.receive("complaint", customer="C-1", channel="hotline", text=FIRST)
    assert first.ticket is not None
    forced = intake.receive("complaint", customer="C-1", channel="sms", text=REPEAT, force_new=True)
    assert forced.outcome == "opened" and forced.forced
    assert forced.ticket is not None and forced.ticket.number != first.ticket.number
    assert forced.ticket.data["repeat_of"] == first.ticket.number
    assert forced.reason.startswith("new ticket; forced by the caller; repeats open ticket")
    assert engine.tickets(customer="C-1").total == 2


def test_repeat_of_a_recently_closed_ticket_opens_a_marked_ticket(
    engine: Engine, clock: FixedClock
) -> None:
    intake = Intake(engine)
    first = intake.receive("complaint", customer="C-1", channel="hotline", text=FIRST)
    assert first.ticket is not None
    closed = engine.complete(
        first.ticket.task("front_desk").id, Staff.agent, {"resolved": True, "reply": "已重启光猫"}
    )
    assert closed.status == "closed"

    clock.advance(days=2)
    again = intake.receive("complaint", customer="C-1", channel="web", text=REPEAT)
    assert again.outcome == "opened" and again.ticket is not None
    assert again.repeat is not None and again.repeat.status == "closed"
    assert again.ticket.data["repeat_of"] == first.ticket.number
    [note] = [e for e in engine.history(first.ticket.number) if e.kind == "repeated_by"]
    assert note.details["ticket_number"] == again.ticket.number

    # Past closed_within (7 days) the old ticket is no longer compared.
    clock.advance(days=8)
    later = intake.receive("complaint", customer="C-1", channel="web", text="宽带断网了")
    assert later.repeat is not None and later.repeat.ticket_number == again.ticket.number
    assert first.ticket.number not in [c.ticket_number for c in later.candidates]


def test_an_open_ticket_wins_over_a_closed_one_scoring_higher(
    engine: Engine, clock: FixedClock
) -> None:
    intake = Intake(engine)
    old = intake.receive("complaint", customer="C-1", channel="hotline", text=FIRST)
    assert old.ticket is not None
    engine.complete(old.ticket.task("front_desk").id, Staff.agent, {"resolved": True})
    clock.advance(hours=1)
    current = intake.receive("complaint", customer="C-1", channel="web", text=REPEAT)
    assert current.outcome == "opened" and current.ticket is not None
    clock.advance(hours=1)
    again = intake.receive("complaint", customer="C-1", channel="sms", text=FIRST)
    assert [(c.ticket_number, c.status) for c in again.candidates] == [
        (old.ticket.number, "closed"),  # the same words: 100
        (current.ticket.number, "open"),
    ]
    assert again.outcome == "repeat"
    assert again.ticket is not None and again.ticket.number == current.ticket.number


def test_two_contacts_arriving_together_open_one_ticket(engine: Engine) -> None:
    """The phone call and the web form of one customer at the same moment."""
    intake = Intake(engine)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def contact(channel: str, words: str) -> None:
        try:
            barrier.wait(timeout=10)
            result = intake.receive("complaint", customer="C-1", channel=channel, text=words)
            outcomes.append(result.outcome)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=contact, args=("hotline", FIRST)),
        threading.Thread(target=contact, args=("web", REPEAT)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(outcomes) == ["opened", "repeat"]
    assert engine.tickets(customer="C-1").total == 1


def test_tickets_opened_without_intake_are_compared_too(engine: Engine) -> None:
    direct = engine.open_ticket(
        "complaint", customer="C-1", channel="email", data={"summary": FIRST}
    )
    again = Intake(engine).receive("complaint", customer="C-1", channel="hotline", text=REPEAT)
    assert again.outcome == "repeat"
    assert again.ticket is not None and again.ticket.number == direct.number


def test_repeat_threshold_is_configurable(engine: Engine) -> None:
    strict = Intake(engine, repeats=RepeatPolicy(threshold=60))
    strict.receive("complaint", customer="C-1", channel="hotline", text=FIRST)
    again = strict.receive("complaint", customer="C-1", channel="web", text=REPEAT)
    assert again.outcome == "opened" and again.repeat is None
    [candidate] = again.candidates
    assert 38 <= candidate.score < 60
    with pytest.raises(ValueError, match="repeat threshold"):
        RepeatPolicy(threshold=0)


def test_repeat_window_and_processes_bound_the_candidates(
    engine: Engine, clock: FixedClock
) -> None:
    intake = Intake(engine, repeats=RepeatPolicy(processes=frozenset({"repair"})))
    intake.receive("complaint", customer="C-1", channel="hotline", text=FIRST)
    other_process = intake.receive("complaint", customer="C-1", channel="web", text=REPEAT)
    assert other_process.outcome == "opened"

    short = Intake(engine, repeats=RepeatPolicy(window=timedelta(days=1)))
    clock.advance(days=2)
    outside = short.receive("complaint", customer="C-1", channel="web", text=REPEAT)
    assert outside.outcome == "opened" and outside.candidates == ()


def test_preview_shows_open_tickets_first_and_writes_nothing(
    engine: Engine, clock: FixedClock
) -> None:
    intake = Intake(engine)
    old = intake.receive("complaint", customer="C-1", channel="hotline", text=BILLING)
    assert old.ticket is not None
    engine.complete(old.ticket.task("front_desk").id, Staff.agent, {"resolved": True})
    clock.advance(hours=1)
    open_one = intake.receive("complaint", customer="C-1", channel="hotline", text=FIRST)
    clock.advance(hours=1)
    preview = intake.preview("C-1", REPEAT)
    assert [t.status for t in preview.history] == ["open", "closed"]
    assert preview.repeat is not None
    assert preview.repeat.ticket_number == open_one.ticket.number  # type: ignore[union-attr]
    assert engine.tickets(customer="C-1").total == 2


def test_region_and_tier_come_from_the_crm(make_engine: Callable[..., Engine]) -> None:
    engine = make_engine(plugins=[Crm(**{"C-1": CustomerInfo("C-1", tier="vip", region="nc")})])
    engine.deploy(PROCESSES)
    result = Intake(engine).receive("complaint", customer="C-1", channel="hotline", text=FIRST)
    assert result.ticket is not None
    assert (result.ticket.region, result.ticket.customer_tier) == ("nc", "vip")


def test_intake_joins_the_host_transaction(engine: Engine) -> None:
    intake = Intake(engine)
    host = Session(engine.bind)
    host.begin()
    result = intake.receive(
        "complaint", customer="C-1", channel="hotline", text=FIRST, session=host
    )
    assert result.ticket is not None
    assert timeline(engine, "C-1", session=host).total == 2
    host.rollback()
    host.close()
    assert engine.tickets().total == 0 and timeline(engine, "C-1").total == 0
    with Session(engine.bind) as host, host.begin():
        intake.receive("complaint", customer="C-1", channel="hotline", text=FIRST, session=host)
    assert intake.history("C-1")[0].text == FIRST


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"text": "  "}, "the contact of customer C-1 has no text"),
        ({"text": "x" * 4001}, "4001 characters; at most 4000"),
        ({"channel": "pigeon"}, "unknown channel 'pigeon'"),
        ({"customer": ""}, "customer must be a non-empty id"),
        ({"region": ""}, "region must be 1-100 characters"),
        ({"data": {"summary": "something else"}}, "data field 'summary' differs"),
    ],
)
def test_bad_contacts_are_refused_with_the_reason(
    engine: Engine, kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {"customer": "C-1", "channel": "hotline", "text": FIRST, **kwargs}
    with pytest.raises(InvalidDataError, match=message):
        Intake(engine).receive("complaint", **args)  # type: ignore[arg-type]
    assert engine.tickets().total == 0


def test_unknown_process_is_refused_even_for_a_repeat(engine: Engine) -> None:
    intake = Intake(engine)
    intake.receive("complaint", customer="C-1", channel="hotline", text=FIRST)
    with pytest.raises(UnknownProcessError, match="complain"):
        intake.receive("complain", customer="C-1", channel="hotline", text=REPEAT)
    assert timeline(engine, "C-1").total == 2


# --- the customer timeline ---------------------------------------------------------------


def test_timeline_spans_tickets_and_channels_in_time_order(
    engine: Engine, clock: FixedClock
) -> None:
    intake = Intake(engine)
    first = intake.receive("complaint", customer="C-1", channel="hotline", text=FIRST)
    assert first.ticket is not None
    clock.advance(hours=1)
    intake.receive("complaint", customer="C-1", channel="web", text=REPEAT)
    clock.advance(hours=1)
    billing = intake.receive("complaint", customer="C-1", channel="sms", text=BILLING)
    clock.advance(hours=1)
    engine.complete(first.ticket.task("front_desk").id, Staff.agent, {"resolved": True})
    intake.receive("complaint", customer="C-2", channel="hotline", text=FIRST)  # not C-1's

    page = timeline(engine, "C-1")
    kinds = [(e.kind, e.channel) for e in page]
    assert kinds == [
        ("ticket_opened", "hotline"),
        ("task_created", "hotline"),
        ("contact_linked", "web"),
        ("ticket_opened", "sms"),
        ("task_created", "sms"),
        ("task_completed", "hotline"),
        ("ticket_closed", "hotline"),
    ]
    assert [e.at for e in page] == sorted(e.at for e in page)
    assert page.items[2].summary == f"contact via web linked as a repeat: {REPEAT}"
    assert page.items[3].ticket_number == billing.ticket.number  # type: ignore[union-attr]
    assert page.total == 7

    second = timeline(engine, "C-1", offset=2, limit=2)
    assert [e.kind for e in second] == ["contact_linked", "ticket_opened"]
    assert second.total == 7
    newest = timeline(engine, "C-1", newest_first=True, limit=1)
    assert newest.items[0].kind == "ticket_closed"
    windowed = timeline(engine, "C-1", since=page.items[3].at, until=page.items[5].at)
    assert [e.kind for e in windowed] == ["ticket_opened", "task_created"]
    with pytest.raises(InvalidDataError, match="limit 1-1000"):
        timeline(engine, "C-1", limit=0)


def test_timeline_command(engine: Engine, db_url: str) -> None:
    Intake(engine).receive("complaint", customer="C-1", channel="hotline", text=FIRST)
    result = CliRunner().invoke(app, ["timeline", "C-1", "--url", db_url], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "C-1: 2 entries" in result.output
    assert f"opened via hotline: {FIRST}" in result.output
