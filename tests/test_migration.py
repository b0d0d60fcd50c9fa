"""Versioned deployment and migrating running tickets between versions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ticketflow import Engine, MigrationError, PermissionDeniedError, TaskStateError, User

from .bpmn_samples import loop_process

WORKER = User.of("w", groups=["agents"])
REVIEWER = User.of("r", groups=["reviewers"])
ADMIN = User.of("admin", roles=["admin"])


def v1() -> str:
    return loop_process()


def v2_with_review() -> str:
    """count -> review (new user task, lane 'reviewers') -> gw; work renamed."""
    text = loop_process().replace(
        '<bpmn:sequenceFlow id="f4" sourceRef="count" targetRef="gw" />',
        '<bpmn:sequenceFlow id="f4" sourceRef="count" targetRef="review" />\n'
        '    <bpmn:sequenceFlow id="f4b" sourceRef="review" targetRef="gw" />',
    )
    text = text.replace(
        '<bpmn:endEvent id="end">',
        '<bpmn:userTask id="review" name="Review"><bpmn:incoming>f4</bpmn:incoming>'
        "<bpmn:outgoing>f4b</bpmn:outgoing></bpmn:userTask>\n    "
        '<bpmn:endEvent id="end">',
    )
    text = text.replace(
        '<bpmn:lane id="agents"><bpmn:flowNodeRef>work</bpmn:flowNodeRef></bpmn:lane>',
        '<bpmn:lane id="agents"><bpmn:flowNodeRef>work</bpmn:flowNodeRef></bpmn:lane>'
        '<bpmn:lane id="reviewers"><bpmn:flowNodeRef>review</bpmn:flowNodeRef></bpmn:lane>',
    )
    return text.replace(
        '<bpmn:userTask id="work" name="Work">', '<bpmn:userTask id="work" name="Work v2">'
    )


def v3_without_work() -> str:
    """The user task 'work' is gone: merge -> count directly."""
    text = loop_process().replace(
        '<bpmn:sequenceFlow id="f2" sourceRef="merge" targetRef="work" />',
        '<bpmn:sequenceFlow id="f2" sourceRef="merge" targetRef="count" />',
    )
    start = text.index('<bpmn:userTask id="work"')
    end = text.index("</bpmn:userTask>", start) + len("</bpmn:userTask>")
    text = (
        text[:start]
        + '<bpmn:userTask id="decide" name="Decide"><bpmn:extensionElements><camunda:formData><camunda:formField id="again" type="boolean" /></camunda:formData></bpmn:extensionElements></bpmn:userTask>'
        + text[end:]
    )
    text = text.replace('<bpmn:sequenceFlow id="f3" sourceRef="work" targetRef="count" />', "")
    text = text.replace(
        "<bpmn:flowNodeRef>work</bpmn:flowNodeRef>", "<bpmn:flowNodeRef>decide</bpmn:flowNodeRef>"
    )
    return text.replace("again == True", "rounds &lt; 3")


def deploy(engine: Engine, tmp_path: Path, text: str) -> int:
    path = tmp_path / "loop.bpmn"
    path.write_text(text, encoding="utf-8")
    (view,) = engine.deploy(path)
    return view.version


@pytest.fixture
def engine(make_engine: Callable[..., Engine]) -> Engine:
    return make_engine()


def test_running_tickets_stay_on_their_version(engine: Engine, tmp_path: Path) -> None:
    assert deploy(engine, tmp_path, v1()) == 1
    old = engine.open_ticket("loop", customer="A", channel="web")
    assert deploy(engine, tmp_path, v2_with_review()) == 2
    assert deploy(engine, tmp_path, v2_with_review()) == 2, "unchanged file keeps its version"
    new = engine.open_ticket("loop", customer="B", channel="web")
    assert (old.definition_version, new.definition_version) == (1, 2)
    assert engine.complete(old.task("work").id, WORKER, {"again": False}).status == "closed"
    new = engine.complete(new.task("work").id, WORKER, {"again": False})
    assert [t.element_id for t in new.open_tasks] == ["review"]
    assert new.open_tasks[0].candidate_groups == ("reviewers",)


def test_migrate_a_waiting_ticket_to_a_new_version(engine: Engine, tmp_path: Path) -> None:
    deploy(engine, tmp_path, v1())
    ticket = engine.open_ticket("loop", customer="A", channel="web")
    ticket = engine.complete(ticket.task("work").id, WORKER, {"again": True})
    task = ticket.task("work")
    engine.claim(task.id, WORKER)
    deploy(engine, tmp_path, v2_with_review())

    moved = engine.migrate(ticket.number, ADMIN)
    assert moved.definition_version == 2
    (open_task,) = moved.open_tasks
    assert (open_task.id, open_task.assignee, open_task.name) == (task.id, "w", "Work v2")
    assert moved.data["rounds"] == 1
    events = engine.history(ticket.number)
    assert events[-1].kind == "ticket_migrated"
    assert events[-1].details == {"from_version": 1, "to_version": 2}
    assert events[-1].actor == "admin"

    moved = engine.complete(open_task.id, WORKER, {"again": False})
    assert [t.element_id for t in moved.open_tasks] == ["review"], "the new version's path"
    moved = engine.complete(moved.task("review").id, REVIEWER, {})
    assert moved.status == "closed" and moved.data["rounds"] == 2

    # And it survives a restart on the new version.
    restarted = Engine(engine.bind.url.render_as_string(hide_password=False), auto_migrate=True)
    assert restarted.ticket(ticket.number).definition_version == 2
    restarted.close()


def test_migration_is_refused_when_the_waiting_task_is_gone(engine: Engine, tmp_path: Path) -> None:
    deploy(engine, tmp_path, v1())
    ticket = engine.open_ticket("loop", customer="A", channel="web")
    deploy(engine, tmp_path, v3_without_work())
    with pytest.raises(MigrationError) as info:
        engine.migrate(ticket.number, ADMIN)
    assert info.value.reasons == ["waiting at 'work', which version 2 does not have"]
    assert ticket.number in str(info.value)
    unchanged = engine.ticket(ticket.number)
    assert unchanged == ticket
    assert [e.kind for e in engine.history(ticket.number)] == ["ticket_opened", "task_created"]
    # It can still finish on its own version.
    assert engine.complete(ticket.task("work").id, WORKER, {"again": False}).status == "closed"


def test_migrate_all_reports_each_ticket(engine: Engine, tmp_path: Path) -> None:
    deploy(engine, tmp_path, v1())
    waiting = [engine.open_ticket("loop", customer=f"C{i}", channel="web") for i in range(3)]
    closed = engine.complete(waiting[2].task("work").id, WORKER, {"again": False})
    deploy(engine, tmp_path, v2_with_review())
    report = engine.migrate_all("loop", ADMIN, from_version=1)
    assert report.migrated == (waiting[0].number, waiting[1].number)
    assert report.refused == {}
    assert closed.status == "closed" and engine.ticket(closed.number).definition_version == 1
    deploy(engine, tmp_path, v3_without_work())
    report = engine.migrate_all("loop", ADMIN, from_version=2, to_version=3)
    assert report.migrated == ()
    assert set(report.refused) == {waiting[0].number, waiting[1].number}


def test_migration_guards(engine: Engine, tmp_path: Path) -> None:
    deploy(engine, tmp_path, v1())
    ticket = engine.open_ticket("loop", customer="A", channel="web")
    with pytest.raises(MigrationError, match="already on version 1"):
        engine.migrate(ticket.number, ADMIN)
    with pytest.raises(MigrationError, match="process 'loop' has no version 7"):
        engine.migrate(ticket.number, ADMIN, to_version=7)
    deploy(engine, tmp_path, v2_with_review())
    with pytest.raises(PermissionDeniedError, match="this needs the admin role"):
        engine.migrate(ticket.number, User.of("boss", roles=["supervisor"]))
    closed = engine.complete(ticket.task("work").id, WORKER, {"again": False})
    with pytest.raises(TaskStateError, match="only running tickets move"):
        engine.migrate(closed.number, ADMIN)


def test_cli_migrate(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ticketflow.cli import app

    url = f"sqlite:///{tmp_path / 'm.db'}"
    engine = Engine(url)
    deploy(engine, tmp_path, v1())
    ticket = engine.open_ticket("loop", customer="A", channel="web")
    deploy(engine, tmp_path, v2_with_review())
    engine.close()
    result = CliRunner().invoke(app, ["migrate", "loop", "--from", "1", "--url", url])
    assert result.exit_code == 0, result.output
    assert f"migrated 1 tickets: {ticket.number}" in result.output


def test_migration_keeps_timer_jobs_in_step(engine: Engine, tmp_path: Path) -> None:
    from .test_timers import timed_process

    path = tmp_path / "timed.bpmn"
    path.write_text(timed_process(escalate_after="PT2H"), encoding="utf-8")
    engine.deploy(path)
    ticket = engine.open_ticket("timed", customer="C1", channel="web")
    before = {j.element_id: j.due_at for j in engine.jobs(ticket=ticket.number)}
    path.write_text(
        timed_process(escalate_after="PT2H").replace('name="Work"', 'name="Work v2"'),
        encoding="utf-8",
    )
    engine.deploy(path)
    engine.migrate(ticket.number, ADMIN)
    after = {j.element_id: j.due_at for j in engine.jobs(ticket=ticket.number)}
    assert after == before, "the timers the ticket waits on are still scheduled, once each"
