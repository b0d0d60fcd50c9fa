"""The command line: demo, validate, db upgrade, deploy, definitions, ticket, tasks."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ticketflow.cli import app
from ticketflow.store.database import head_revision

from .bpmn_samples import loop_process
from .conftest import PROCESSES

runner = CliRunner()


def test_demo_drives_real_tickets(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    result = runner.invoke(app, ["demo", "--db", str(db)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "7 tickets, 6 closed" in out
    assert "refund of 500 yuan, approved at level 2" in out
    assert "5 SMS delivered after commit" in out
    for phrase in (
        "solved at the front desk",
        "unsatisfied callback reopens handling",
        "suspended",
        "resumed",
        "dept_network",
        "closed at 结案 Closed",
    ):
        assert phrase in out
    assert db.exists()
    # The demo database is a real store: the CLI can read it back.
    number = next(w for w in out.split() if w.startswith("TS-"))
    shown = runner.invoke(
        app, ["ticket", number, "--url", f"sqlite:///{db}"], env={"COLUMNS": "200"}
    )
    assert shown.exit_code == 0 and number in shown.output
    listed = runner.invoke(app, ["tasks", "--url", f"sqlite:///{db}", "--group", "dept_network"])
    assert listed.exit_code == 0 and "1 open tasks" in listed.output


def test_validate(tmp_path: Path) -> None:
    ok = runner.invoke(app, ["validate", str(PROCESSES)])
    assert ok.exit_code == 0
    assert "ok: no errors" in ok.output
    bad = tmp_path / "bad.bpmn"
    bad.write_text(loop_process(condition="__import__('os').getcwd()"), encoding="utf-8")
    result = runner.invoke(app, ["validate", str(bad)], env={"COLUMNS": "300"})
    assert result.exit_code == 1
    assert f"{bad}:" in result.output.replace("\n", "")
    assert "element 'f5'" in result.output


def test_db_upgrade_deploy_and_definitions(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    up = runner.invoke(app, ["db", "upgrade", "--url", url])
    assert up.exit_code == 0 and f"schema at revision {head_revision()}" in up.output
    dep = runner.invoke(app, ["deploy", str(PROCESSES), "--url", url])
    assert dep.exit_code == 0 and "complaint v1" in dep.output
    defs = runner.invoke(app, ["definitions", "--url", url])
    assert defs.exit_code == 0 and "complaint" in defs.output
    missing = runner.invoke(app, ["ticket", "TS-nope", "--url", url])
    assert missing.exit_code == 1 and "does not exist" in missing.output


@pytest.mark.parametrize("args", [["--help"], ["db", "--help"]])
def test_help(args: list[str]) -> None:
    assert runner.invoke(app, args).exit_code == 0


def test_plugins_outbox_and_incidents_commands(tmp_path: Path) -> None:
    from datetime import timedelta

    import ticketflow
    from ticketflow import Engine

    class Alerts:
        @ticketflow.hookimpl
        def ticketflow_ticket_opened(self, ctx, ticket) -> None:  # type: ignore[no-untyped-def]
            ctx.notify("voice", "13800000000", "new ticket")

    url = f"sqlite:///{tmp_path / 'ops.db'}"
    engine = Engine(url, plugins=[Alerts()], outbox_max_attempts=1, outbox_backoff=timedelta(0))
    engine.deploy(PROCESSES)
    engine.open_ticket("complaint", customer="C1", channel="hotline")
    engine.close()
    env = {"COLUMNS": "250"}
    listed = runner.invoke(app, ["plugins", "--url", url], env=env)
    assert listed.exit_code == 0 and "ticketflow.authorize" in listed.output
    pending = runner.invoke(app, ["outbox", "list", "--url", url], env=env)
    assert (
        pending.exit_code == 0
        and "voice 13800000000" in pending.output
        and "pending" in pending.output
    )
    delivered = runner.invoke(
        app, ["outbox", "deliver", "--url", url, "--max-attempts", "1"], env=env
    )
    assert delivered.exit_code == 0 and "dead 1" in delivered.output
    shown = runner.invoke(app, ["incidents", "--url", url], env=env)
    assert shown.exit_code == 0 and "no plugin delivers voice notifications" in shown.output
    retried = runner.invoke(app, ["incidents", "--url", url, "--retry", "1"], env=env)
    assert retried.exit_code == 0 and "queued again" in retried.output
    again = runner.invoke(app, ["incidents", "--url", url, "--retry", "1"], env=env)
    assert again.exit_code == 1 and "already resolved" in again.output


def test_sla_and_worker_commands(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sla.db'}"
    from ticketflow import Engine

    engine = Engine(url)
    engine.deploy(PROCESSES)
    engine.close()
    shown = runner.invoke(app, ["sla", "--url", url, "--by", "region"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0 and "SLA compliance by region" in shown.output
    bad = runner.invoke(app, ["sla", "--url", url, "--by", "colour"])
    assert bad.exit_code == 1 and "report dimension" in bad.output
    idle = runner.invoke(app, ["worker", "--url", url, "--until-idle"])
    assert idle.exit_code == 0 and "0 timers fired, 0 messages delivered" in idle.output
