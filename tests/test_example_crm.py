"""examples/crm_host: the CRM plugin against the example's real HTTP service.

The service (``examples/crm_host/crm_service.py``) runs on an ephemeral port on 127.0.0.1;
the plugin is imported from the example's source folder and registered explicitly, so
these tests run without installing it. The entry-point test and the run of ``app.py``
need ``pip install -e examples/crm_host``: they skip without it, unless
``TICKETFLOW_REQUIRE_EXAMPLES=1`` (set in CI), where they fail instead.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest
from sqlalchemy.orm import Session

from ticketflow import Engine, FixedClock, ProcessExecutionError, TicketView, User
from ticketflow.definitions.validate import validate_paths
from ticketflow.hooks import hookimpl
from ticketflow.hooks.types import ConnectorCall, HookContext

from .bpmn_samples import HEADER
from .conftest import ROOT
from .test_bpmnjs import _require_browser, run_checker

EXAMPLE = ROOT / "examples" / "crm_host"
# Import the example from its folder (installed or not), without leaving the folder on
# sys.path: a build's ticketflow_crm.egg-info there would look like an installed plugin.
sys.path.insert(0, str(EXAMPLE))
try:
    from crm_service import CUSTOMERS, CrmService
    from ticketflow_crm import CrmNotConfiguredError, CrmPlugin, CrmRejectedError
    from ticketflow_crm import plugin as crm_module
finally:
    sys.path.remove(str(EXAMPLE))

ACCOUNT_MANAGER = User.of("zhang.wei", groups=["account_manager"])
OTHER_MANAGER = User.of("liu.yang", groups=["account_manager"])
AGENT = User.of("li.na", groups=["call_center"])

# start -> intake (user task) -> check_crm (sync crm.customer, 0.5 s) -> follow_up -> end
CHECK_PROCESS = (
    HEADER
    + """  <bpmn:process id="crm_check" isExecutable="true">
    <bpmn:laneSet id="ls"><bpmn:lane id="call_center"><bpmn:flowNodeRef>intake</bpmn:flowNodeRef><bpmn:flowNodeRef>follow_up</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="intake" name="Intake">
      <bpmn:extensionElements><camunda:formData><camunda:formField id="note" type="string" /></camunda:formData></bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:serviceTask id="check_crm" name="Check the CRM" camunda:type="external" camunda:topic="crm.customer">
      <bpmn:extensionElements>
        <camunda:inputOutput><camunda:inputParameter name="customer_id">${customer_id}</camunda:inputParameter></camunda:inputOutput>
        <camunda:properties>
          <camunda:property name="ticketflow.mode" value="sync" />
          <camunda:property name="ticketflow.resultVariable" value="crm" />
          <camunda:property name="ticketflow.timeout" value="PT0.5S" />
        </camunda:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:userTask id="follow_up" name="Follow up"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="intake" />
    <bpmn:sequenceFlow id="f2" sourceRef="intake" targetRef="check_crm" />
    <bpmn:sequenceFlow id="f3" sourceRef="check_crm" targetRef="follow_up" />
    <bpmn:sequenceFlow id="f4" sourceRef="follow_up" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""
)


def _installed() -> bool:
    try:
        distribution("ticketflow-crm")
    except PackageNotFoundError:
        return False
    return True


def require_installed() -> None:
    """Skip (or, with TICKETFLOW_REQUIRE_EXAMPLES=1, fail) unless the plugin is installed."""
    if _installed():
        return
    reason = "ticketflow-crm is not installed (pip install -e examples/crm_host)"
    if os.environ.get("TICKETFLOW_REQUIRE_EXAMPLES") == "1":
        pytest.fail(f"TICKETFLOW_REQUIRE_EXAMPLES=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture
def crm() -> Iterator[CrmService]:
    with CrmService() as service:
        yield service


@pytest.fixture
def make_crm_engine(
    make_engine: Callable[..., Engine], crm: CrmService, tmp_path: Path
) -> Callable[..., Engine]:
    """An Engine with the CRM plugin registered explicitly and the example's processes."""

    def factory(url: str | None = None, **kwargs: object) -> Engine:
        plugin = CrmPlugin(url or crm.url, lookup_timeout=0.5)
        engine = make_engine(plugins=[plugin], load_entry_points=False, **kwargs)
        engine.deploy(EXAMPLE / "processes")
        (tmp_path / "crm_check.bpmn").write_text(CHECK_PROCESS, encoding="utf-8")
        engine.deploy(tmp_path / "crm_check.bpmn")
        return engine

    return factory


@pytest.fixture
def engine(make_crm_engine: Callable[..., Engine]) -> Engine:
    return make_crm_engine()


def record(customer_id: str) -> dict[str, object]:
    """What ``crm.customer`` puts in the ticket for a customer the CRM knows."""
    return {"found": True, "customer_id": customer_id, **CUSTOMERS[customer_id]}


def work(engine: Engine, ticket: TicketView, summary: str = "called back") -> TicketView:
    """Complete the ticket's one open task as the person it went to."""
    (task,) = ticket.open_tasks
    if task.assignee is not None:
        assert task.assignee == ACCOUNT_MANAGER.id
        user = ACCOUNT_MANAGER
    else:
        user = OTHER_MANAGER if "account_manager" in task.candidate_groups else AGENT
    return engine.complete(task.id, user, {"summary": summary})


# --- the process file -------------------------------------------------------------------


def test_example_process_passes_strict_validation() -> None:
    assert validate_paths([EXAMPLE / "processes"]) == []


def test_example_process_opens_cleanly_in_bpmn_js() -> None:
    _require_browser()
    path = EXAMPLE / "processes" / "vip_care.bpmn"
    status, results = run_checker([path])
    assert status == 0 and results[str(path)]["warnings"] == [], results


# --- the service itself -----------------------------------------------------------------


def _http(
    method: str, url: str, body: dict[str, object] | None = None, key: str = ""
) -> tuple[int, dict[str, object]]:
    data = json.dumps(body).encode() if body is not None else None
    request = Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    if key:
        request.add_header("Idempotency-Key", key)
    try:
        with urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_service_answers_customers_and_stores_each_key_once(crm: CrmService) -> None:
    assert _http("GET", f"{crm.url}/customers/C1001") == (
        200,
        {"customer_id": "C1001", **CUSTOMERS["C1001"]},
    )
    assert _http("GET", f"{crm.url}/customers/nobody")[0] == 404
    assert _http("POST", f"{crm.url}/events", {"event": "a"}, key="k1") == (
        201,
        {"id": 1, "duplicate": False},
    )
    assert _http("POST", f"{crm.url}/events", {"event": "a"}, key="k1") == (
        200,
        {"id": 1, "duplicate": True},
    )
    assert _http("POST", f"{crm.url}/events", {"event": "b"}, key="k2")[1]["id"] == 2
    status, body = _http("GET", f"{crm.url}/events")
    assert status == 200 and [e["event"] for e in body["events"]] == ["a", "b"]  # type: ignore[index,union-attr]
    assert body["attempts"] == {"k1": 2, "k2": 1}


def test_service_faults_repeat_with_the_seed(crm: CrmService) -> None:
    def outcomes() -> list[int]:
        crm.set_faults(fail_rate=0.5, seed=7)
        return [_http("GET", f"{crm.url}/customers/C1002")[0] for _ in range(20)]

    first = outcomes()
    assert first == outcomes()
    assert set(first) == {200, 503}
    crm.set_faults(fail_rate=0.0, latency=0.3)
    started = time.monotonic()
    assert _http("GET", f"{crm.url}/customers/C1002")[0] == 200
    assert time.monotonic() - started >= 0.3
    assert _http("POST", f"{crm.url}/_admin/faults", {"fail_rate": 2})[0] == 400


# --- customer lookup at intake ----------------------------------------------------------


def test_lookup_fills_tier_region_and_customer_data_at_open(engine: Engine) -> None:
    ticket = engine.open_ticket("vip_care", customer="C1001", channel="hotline")
    assert (ticket.customer_tier, ticket.region, ticket.priority) == ("vip", "hangzhou", 90)
    assert ticket.data["customer"] == CUSTOMERS["C1001"]
    assert ticket.data["customer_tier"] == "vip" and ticket.data["region"] == "hangzhou"
    assert "customer_lookup_error" not in engine.history(ticket.number)[0].details

    explicit = engine.open_ticket(
        "vip_care", customer="C1002", channel="web", customer_tier="gold", region="wenzhou"
    )
    assert (explicit.customer_tier, explicit.region) == ("gold", "wenzhou")  # the caller wins
    assert explicit.data["customer"]["tier"] == "ordinary"


def test_unknown_customer_opens_without_crm_data(engine: Engine) -> None:
    ticket = engine.open_ticket("vip_care", customer="C9999", channel="hotline")
    assert (ticket.customer_tier, ticket.region, ticket.priority) == (None, None, 50)
    assert "customer" not in ticket.data
    assert "customer_lookup_error" not in engine.history(ticket.number)[0].details
    assert ticket.data["crm"]["found"] is False
    assert [t.element_id for t in ticket.open_tasks] == ["handle_request"]


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"fail_next": 1}, "CrmError: CRM GET /customers/C1001 answered 503"),
        ({"latency": 0.8}, "CrmTimeout: CRM GET /customers/C1001 did not answer within 0.5 s"),
    ],
    ids=["503", "timeout"],
)
def test_crm_outage_at_intake_does_not_stop_the_ticket(
    engine: Engine,
    crm: CrmService,
    caplog: pytest.LogCaptureFixture,
    fault: dict[str, object],
    error: str,
) -> None:
    crm.set_faults(**fault)  # the lookup fails; the flow's own call (3 s timeout) gets through
    with caplog.at_level(logging.WARNING, logger="ticketflow.engine"):
        ticket = engine.open_ticket("vip_care", customer="C1001", channel="hotline")
    assert ticket.status == "open"
    assert (ticket.customer_tier, ticket.region, ticket.priority) == (None, None, 50)
    assert "customer" not in ticket.data
    opened = engine.history(ticket.number)[0]
    assert opened.kind == "ticket_opened"
    assert opened.details["customer_lookup_error"].startswith(error)
    assert "customer lookup for C1001 failed" in caplog.text
    assert ticket.data["crm"] == record("C1001")
    assert [(t.element_id, t.assignee) for t in ticket.open_tasks] == [
        ("vip_care_call", "zhang.wei")
    ]


def test_unreachable_crm_at_intake_does_not_stop_the_ticket(
    make_crm_engine: Callable[..., Engine],
) -> None:
    with CrmService() as gone:
        url = gone.url  # a port nobody listens on once the service stopped
    engine = make_crm_engine(url)
    ticket = engine.open_ticket("crm_check", customer="C1001", channel="web")
    assert [t.element_id for t in ticket.open_tasks] == ["intake"]
    error = engine.history(ticket.number)[0].details["customer_lookup_error"]
    assert error.startswith("CrmError: CRM GET /customers/C1001: cannot reach the CRM")


# --- the sync service task --------------------------------------------------------------


@pytest.mark.parametrize(
    ("customer", "element", "groups", "assignee"),
    [
        ("C1001", "vip_care_call", ("account_manager",), "zhang.wei"),
        ("C1003", "vip_care_call", ("account_manager",), None),
        ("C1002", "handle_request", ("call_center",), None),
        ("C2001", "handle_request", ("call_center",), None),
    ],
)
def test_sync_service_task_puts_crm_data_in_the_ticket_and_decides_the_lane(
    engine: Engine, customer: str, element: str, groups: tuple[str, ...], assignee: str | None
) -> None:
    ticket = engine.open_ticket("vip_care", customer=customer, channel="hotline")
    assert ticket.data["crm"] == record(customer)
    (task,) = ticket.open_tasks
    assert (task.element_id, task.candidate_groups, task.assignee) == (element, groups, assignee)
    passed = engine.history(ticket.number)[0].details["passed"]
    assert passed == ["start_vip_care", "crm_lookup", "gw_vip"]
    assert [t.id for t in engine.tasks(candidate_groups=list(groups)).items] == [task.id]


def test_sync_call_failing_at_open_stores_no_ticket(engine: Engine, crm: CrmService) -> None:
    crm.set_faults(fail_rate=1.0)  # the lookup fails too (logged), then the service task
    with pytest.raises(ProcessExecutionError) as caught:
        engine.open_ticket("vip_care", customer="C1001", channel="hotline")
    assert caught.value.element_id == "crm_lookup"
    assert (
        "connector operation 'crm.customer' of service task 'crm_lookup' failed: "
        "CrmError: CRM GET /customers/C1001 answered 503"
    ) in str(caught.value)
    assert engine.tickets().total == 0
    assert engine.outbox_messages() == []


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ({"fail_rate": 1.0}, "failed: CrmError: CRM GET /customers/C1001 answered 503"),
        ({"latency": 2.0}, "did not answer within 0.5 s"),
    ],
    ids=["fails", "times-out"],
)
def test_sync_call_that_fails_or_times_out_leaves_the_ticket_unchanged(
    engine: Engine, crm: CrmService, fault: dict[str, object], message: str
) -> None:
    ticket = engine.open_ticket("crm_check", customer="C1001", channel="web")
    intake = ticket.task("intake")
    history = engine.history(ticket.number)
    crm.set_faults(**fault)
    started = time.monotonic()
    with pytest.raises(ProcessExecutionError) as caught:
        engine.complete(intake.id, AGENT, {"note": "wants a callback"})
    assert time.monotonic() - started < 1.5  # bounded by ticketflow.timeout, not the CRM
    assert caught.value.element_id == "check_crm" and caught.value.ticket == ticket.number
    assert "connector operation 'crm.customer' of service task 'check_crm'" in str(caught.value)
    assert message in str(caught.value)
    assert engine.ticket(ticket.number) == ticket
    assert engine.history(ticket.number) == history
    assert engine.task(intake.id).state == "open" and engine.task(intake.id).assignee is None

    crm.set_faults(fail_rate=0.0, latency=0.0)
    moved = engine.complete(intake.id, AGENT, {"note": "wants a callback"})
    assert moved.data["crm"] == record("C1001") and moved.data["note"] == "wants a callback"
    assert [t.element_id for t in moved.open_tasks] == ["follow_up"]


# --- the async service task through the outbox ------------------------------------------


def test_async_call_is_delivered_after_commit(engine: Engine, crm: CrmService) -> None:
    ticket = engine.open_ticket("vip_care", customer="C1001", channel="hotline")
    closed = work(engine, ticket, "offered a free upgrade")
    assert closed.status == "closed" and closed.end_element == "end_recorded"
    assert crm.events == []  # nothing leaves during the step
    (message,) = engine.outbox_messages(ticket=ticket.number)
    assert (message.kind, message.state) == ("connector", "pending")
    assert message.payload["operation"] == "crm.record_event"
    assert message.payload["params"] == {
        "event": "ticket_handled",
        "customer_id": "C1001",
        "tier": "vip",
        "summary": "offered a free upgrade",
    }

    report = engine.deliver_outbox()
    assert (report.delivered, report.retried, report.dead) == (1, 0, 0)
    (event,) = crm.events
    assert event["idempotency_key"] == message.idempotency_key
    assert event["ticket_number"] == ticket.number and event["event"] == "ticket_handled"
    assert event["summary"] == "offered a free upgrade" and event["tier"] == "vip"
    (done,) = engine.outbox_messages(ticket=ticket.number)
    assert done.state == "delivered" and done.result == {"event_id": 1, "duplicate": False}
    assert engine.deliver_outbox().attempted == 0
    assert len(crm.events) == 1


def test_async_call_rolled_back_with_the_host_transaction(engine: Engine, crm: CrmService) -> None:
    ticket = engine.open_ticket("vip_care", customer="C1002", channel="hotline")
    (task,) = ticket.open_tasks
    with Session(engine.bind) as session:
        engine.complete(task.id, AGENT, {"summary": "done"}, session=session)
        session.rollback()
    assert engine.outbox_messages() == []
    assert engine.deliver_outbox().attempted == 0
    assert crm.events == []
    assert engine.ticket(ticket.number).status == "open"


def test_flaky_crm_gets_every_event_exactly_once(
    make_crm_engine: Callable[..., Engine], crm: CrmService, clock: FixedClock
) -> None:
    engine = make_crm_engine(outbox_max_attempts=20)
    customers = ["C1001", "C1002", "C1003", "C2001", "C9999"] * 3
    numbers = [
        work(engine, engine.open_ticket("vip_care", customer=c, channel="web")).number
        for c in customers
    ]
    crm.set_faults(fail_rate=0.5, fail_mode="mixed", seed=2026)

    passes = 0
    while engine.outbox_messages(state="pending"):
        passes += 1
        assert passes < 40, "the outbox did not drain"
        report = engine.deliver_outbox()
        if report.retried:
            assert engine.deliver_outbox().attempted == 0  # nothing is due before its backoff
        clock.advance(hours=2)  # past any backoff (at most an hour)

    messages = engine.outbox_messages()
    assert [m.ticket_number for m in messages] == numbers
    assert all(m.state == "delivered" for m in messages)
    keys = {m.idempotency_key for m in messages}
    assert crm.event_counts() == dict.fromkeys(keys, 1)  # every event, exactly once
    assert sum(crm.attempts.values()) > len(keys)  # ... though some took several requests
    assert any(m.attempts > 1 for m in messages)
    # a request stored but answered 500 was retried and acknowledged as a duplicate
    assert any(m.result and m.result["duplicate"] for m in messages)
    assert engine.incidents() == []


class AuditOpening:
    """A host plugin that tells the CRM of every new ticket with ``ctx.call``."""

    def __init__(self, event: str) -> None:
        self.event = event

    @hookimpl
    def ticketflow_ticket_opened(self, ctx: HookContext, ticket: TicketView) -> None:
        params = {"event": self.event, "customer_id": ticket.customer_id}
        ctx.call("crm.record_event", {k: v for k, v in params.items() if v}, key="opened")


@pytest.mark.parametrize("event", ["ticket_opened", ""], ids=["accepted", "refused"])
def test_ctx_call_goes_through_the_same_connector(
    make_engine: Callable[..., Engine], crm: CrmService, event: str
) -> None:
    engine = make_engine(plugins=[CrmPlugin(crm.url), AuditOpening(event)], load_entry_points=False)
    engine.deploy(EXAMPLE / "processes")
    ticket = engine.open_ticket("vip_care", customer="C1002", channel="web")
    report = engine.deliver_outbox()
    (message,) = engine.outbox_messages()
    assert message.idempotency_key == f"{ticket.number}:connector:opened"
    if event:
        assert (report.delivered, message.state) == (1, "delivered")
        assert [e["idempotency_key"] for e in crm.events] == [message.idempotency_key]
        return
    # The CRM refuses the request itself (400): no retry, a dead letter and an incident.
    assert (report.dead, message.state, message.attempts) == (1, "dead", 1)
    assert message.last_error is not None
    assert message.last_error.startswith("CrmRejectedError: CRM POST /events answered 400")
    (incident,) = engine.incidents()
    assert incident.outbox_id == message.id and "not retried" in incident.message
    assert crm.events == []


# --- the plugin's edges -----------------------------------------------------------------


def test_plugin_answers_only_its_own_operations(crm: CrmService) -> None:
    plugin = CrmPlugin(crm.url)
    assert plugin.ticketflow_connector(call=ConnectorCall("billing.refund", {})) is None
    with pytest.raises(ValueError, match="customer_id"):
        plugin.ticketflow_connector(call=ConnectorCall("crm.customer", {}))
    with pytest.raises(CrmRejectedError, match="answered 400"):
        plugin.ticketflow_connector(call=ConnectorCall("crm.record_event", {}, idempotency_key="k"))
    assert plugin.ticketflow_customer_lookup(customer_id="nobody") is None
    info = plugin.ticketflow_customer_lookup(customer_id="C2001")
    assert info is not None and info.account_manager == "zhang.wei" and info.tier == "key_account"


def test_module_plugin_stays_out_of_the_way_without_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(crm_module.URL_VARIABLE, raising=False)
    assert crm_module.ticketflow_customer_lookup(customer_id="C1001") is None
    assert crm_module.ticketflow_connector(call=ConnectorCall("oa.todo", {})) is None
    with pytest.raises(CrmNotConfiguredError, match="set TICKETFLOW_CRM_URL"):
        crm_module.ticketflow_connector(call=ConnectorCall("crm.customer", {"customer_id": "C1"}))


def test_module_plugin_reads_the_url_from_the_environment(
    crm: CrmService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(crm_module.URL_VARIABLE, crm.url)
    info = crm_module.ticketflow_customer_lookup(customer_id="C1001")
    assert info is not None and info.tier == "vip"
    answer = crm_module.ticketflow_connector(
        call=ConnectorCall("crm.record_event", {"event": "x"}, idempotency_key="k")
    )
    assert answer == {"event_id": 1, "duplicate": False}


# --- installed: the entry point and the host application --------------------------------


def test_engine_finds_the_plugin_through_its_entry_point(
    make_engine: Callable[..., Engine], crm: CrmService, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_installed()
    monkeypatch.setenv("TICKETFLOW_CRM_URL", crm.url)
    engine = make_engine()  # no plugins passed: entry points only
    assert getattr(engine.plugins.get_plugin("crm"), "__name__", None) == "ticketflow_crm.plugin"
    engine.deploy(EXAMPLE / "processes")
    ticket = engine.open_ticket("vip_care", customer="C1001", channel="hotline")
    assert ticket.customer_tier == "vip" and ticket.data["crm"] == record("C1001")
    work(engine, ticket)
    assert engine.deliver_outbox().delivered == 1 and len(crm.events) == 1


def test_app_runs_end_to_end(tmp_path: Path) -> None:
    require_installed()
    env = {k: v for k, v in os.environ.items() if k != "TICKETFLOW_CRM_URL"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLE / "app.py"), "--db", str(tmp_path / "app.db")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "(entry point)" in out
    assert "task vip_care_call (客户经理关怀 Account manager care) -> assignee zhang.wei" in out
    assert "task handle_request (坐席处理 Handle the request) -> group call_center" in out
    assert "service task crm.customer -> crm: not found" in out
    assert "intake lookup failed (recorded): CrmError" in out
    assert "pass 1: delivered 4, to retry 1" in out and "ack duplicate" in out
    assert "5 events for 5 outbox messages, each stored exactly once; 6 POST requests" in out
