"""Knowledge base: entries from resolved tickets, edits, retirement, search and suggestions."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ticketflow import Engine, FixedClock
from ticketflow.cli import app
from ticketflow.errors import ConcurrencyError, InvalidDataError, NotFoundError, TaskStateError
from ticketflow.service import (
    Intake,
    add_entry,
    edit_entry,
    entries,
    entry,
    entry_from_ticket,
    retire_entry,
    search,
)

from .conftest import Staff


def faq(engine: Engine) -> dict[str, int]:
    made = {
        "broadband": add_entry(
            engine,
            question="家里宽带断网怎么办",
            answer="重启光猫和路由器；仍不行请报修。",
            author="kb.editor",
            categories=["broadband"],
        ),
        "ringtone": add_entry(
            engine,
            question="彩铃开通失败",
            answer="检查是否已欠费停机，再发送 KTCL 到 10086。",
            author="kb.editor",
            categories=["value_added"],
        ),
        "billing": add_entry(
            engine,
            question="话费多扣怎么退",
            answer="核实账单后按退费三级授权办理。",
            author="kb.editor",
            categories=["billing"],
        ),
        "slow": add_entry(
            engine,
            question="宽带速度慢",
            answer="测速后若低于签约速率请报修。",
            author="kb.editor",
            categories=["broadband"],
        ),
    }
    return {k: v.id for k, v in made.items()}


def test_search_ranks_the_closest_question_first(engine: Engine) -> None:
    ids = faq(engine)
    hits = search(engine, "宽带又断网了，怎么办")
    assert [h.entry.id for h in hits][:2] == [ids["broadband"], ids["slow"]]
    assert hits[0].score > hits[1].score
    assert [h.entry.id for h in search(engine, "彩铃业务开通不成功")] == [ids["ringtone"]]
    assert search(engine, "手机信号差") == []
    assert [h.entry.id for h in search(engine, "宽带断网", categories=["billing"])] == []
    with pytest.raises(InvalidDataError, match="non-empty text"):
        search(engine, " ")


def test_intake_suggests_entries_while_the_customer_registers(engine: Engine) -> None:
    ids = faq(engine)
    result = Intake(engine).receive(
        "complaint", customer="C-1", channel="web", text="宽带断网了", category="broadband"
    )
    assert [h.entry.id for h in result.suggestions] == [ids["broadband"], ids["slow"]]
    assert result.suggestions[0].entry.answer.startswith("重启光猫")
    none = Intake(engine, suggestions=0).receive(
        "complaint", customer="C-2", channel="web", text="宽带断网了"
    )
    assert none.suggestions == ()


def test_resolved_ticket_becomes_an_entry(engine: Engine) -> None:
    intake = Intake(engine)
    opened = intake.receive("complaint", customer="C-1", channel="hotline", text="彩铃开通不了")
    assert opened.ticket is not None
    with pytest.raises(TaskStateError, match="only a resolved"):
        entry_from_ticket(engine, opened.ticket.number, "kb.editor")
    engine.complete(
        opened.ticket.task("front_desk").id,
        Staff.agent,
        {"resolved": True, "reply": "已为您重新开通彩铃"},
    )
    made = entry_from_ticket(engine, opened.ticket.number, Staff.agent)
    assert (made.question, made.answer, made.source_ticket, made.author) == (
        "彩铃开通不了",
        "已为您重新开通彩铃",
        opened.ticket.number,
        "li.na",
    )
    assert [h.entry.id for h in search(engine, "彩铃开通失败")] == [made.id]

    silent = intake.receive("complaint", customer="C-2", channel="hotline", text="话费不对")
    assert silent.ticket is not None
    engine.complete(silent.ticket.task("front_desk").id, Staff.agent, {"resolved": True})
    with pytest.raises(InvalidDataError, match="has no answer in its data"):
        entry_from_ticket(engine, silent.ticket.number, "kb.editor")
    with pytest.raises(NotFoundError, match="ticket TS-0 does not exist"):
        entry_from_ticket(engine, "TS-0", "kb.editor")


def test_entries_are_edited_with_a_version_check_and_retired(
    engine: Engine, clock: FixedClock
) -> None:
    ids = faq(engine)
    first = entry(engine, ids["slow"])
    clock.advance(hours=1)
    edited = edit_entry(
        engine,
        first.id,
        "kb.lead",
        question="宽带网速很慢",
        expected_version=first.version,
    )
    assert edited.version == first.version + 1
    assert (edited.question, edited.updated_by, edited.updated_at) == (
        "宽带网速很慢",
        "kb.lead",
        clock.now(),
    )
    assert edited.created_at == first.created_at
    with pytest.raises(ConcurrencyError, match="changed it at"):
        edit_entry(engine, first.id, "kb.other", answer="x", expected_version=first.version)
    assert entry(engine, first.id).answer == first.answer
    assert search(engine, "网速很慢")[0].entry.id == first.id

    retired = retire_entry(engine, first.id, "kb.lead")
    assert not retired.active and retired.retired_by == "kb.lead"
    assert first.id not in [h.entry.id for h in search(engine, "网速很慢")]
    assert first.id not in [e.id for e in entries(engine)]
    assert first.id in [e.id for e in entries(engine, include_retired=True)]
    with pytest.raises(TaskStateError, match="already retired"):
        retire_entry(engine, first.id, "kb.lead")
    with pytest.raises(InvalidDataError, match="answer must be a non-empty text"):
        add_entry(engine, question="q", answer="", author="a")
    with pytest.raises(NotFoundError, match="knowledge entry 999 does not exist"):
        entry(engine, 999)


def test_kb_commands(engine: Engine, db_url: str) -> None:
    runner = CliRunner()
    env = {"COLUMNS": "200"}
    added = runner.invoke(
        app,
        [
            "kb",
            "add",
            "--question",
            "家里宽带断网怎么办",
            "--answer",
            "重启光猫",
            "--author",
            "kb.editor",
            "--category",
            "broadband",
            "--url",
            db_url,
        ],
        env=env,
    )
    assert added.exit_code == 0, added.output
    assert "entry 1 added" in added.output
    found = runner.invoke(app, ["kb", "search", "宽带断网", "--url", db_url], env=env)
    assert found.exit_code == 0, found.output
    assert "1 entries" in found.output and "重启光猫" in found.output
    retired = runner.invoke(app, ["kb", "retire", "1", "--by", "kb.lead", "--url", db_url])
    assert retired.exit_code == 0 and "entry 1 retired" in retired.output
    empty = runner.invoke(app, ["kb", "search", "宽带断网", "--url", db_url], env=env)
    assert "0 entries" in empty.output
    again = runner.invoke(app, ["kb", "retire", "1", "--by", "kb.lead", "--url", db_url])
    assert again.exit_code == 1 and "already retired" in again.output
