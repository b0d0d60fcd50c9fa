"""Every hook, exercised through the real engine; the outbox under failure."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import ticketflow
from ticketflow import Engine, FixedClock, ProcessExecutionError, User
from ticketflow.hooks.types import (
    Assignment,
    CallbackPlan,
    ConnectorCall,
    CustomerInfo,
    Notification,
    Score,
)

from .bpmn_samples import HEADER
from .conftest import PROCESSES, Staff
from .journeys import callback, open_complaint, resolve_and_reply, to_handling

hookimpl = ticketflow.hookimpl


class Recorder:
    """Implements every in-transaction hook and records the calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    @hookimpl
    def ticketflow_customer_lookup(self, customer_id: str) -> CustomerInfo | None:
        self.calls.append(("lookup", customer_id))
        if customer_id == "C-VIP":
            return CustomerInfo(
                customer_id,
                name="王总",
                tier="vip",
                region="jinan",
                account_manager="am.liu",
                phone="13800000001",
            )
        if customer_id == "C-DOWN":
            raise ConnectionError("CRM is down")
        return None

    @hookimpl
    def ticketflow_ticket_opened(self, ctx, ticket) -> None:  # type: ignore[no-untyped-def]
        self.calls.append(("opened", ticket.number))
        if ticket.customer_tier == "vip":
            ctx.notify(
                "sms",
                "13800000002",
                f"VIP complaint {ticket.number}",
                recipient_role="account_manager",
                key="vip-alert",
            )

    @hookimpl
    def ticketflow_task_created(self, ctx, ticket, task) -> None:  # type: ignore[no-untyped-def]
        self.calls.append(("created", task.element_id))

    @hookimpl
    def ticketflow_task_completed(self, ctx, ticket, task, data) -> None:  # type: ignore[no-untyped-def]
        self.calls.append(("completed", task.element_id))

    @hookimpl
    def ticketflow_callback_result(self, ctx, ticket, task, satisfied, data) -> None:  # type: ignore[no-untyped-def]
        self.calls.append(("callback_result", satisfied))

    @hookimpl
    def ticketflow_ticket_reopened(self, ctx, ticket, element_id) -> None:  # type: ignore[no-untyped-def]
        self.calls.append(("reopened", element_id))

    @hookimpl
    def ticketflow_ticket_suspended(self, ctx, ticket, reason) -> None:  # type: ignore[no-untyped-def]
        self.calls.append(("suspended", reason))

    @hookimpl
    def ticketflow_ticket_resumed(self, ctx, ticket, reason) -> None:  # type: ignore[no-untyped-def]
        self.calls.append(("resumed", reason))

    @hookimpl
    def ticketflow_ticket_closed(self, ctx, ticket) -> None:  # type: ignore[no-untyped-def]
        self.calls.append(("closed", ticket.end_element))

    @hookimpl
    def ticketflow_score(self, ctx, ticket, task):  # type: ignore[no-untyped-def]
        if task is None:
            return Score("team", 1.0, kind="ticket")
        return [Score(task.completed_by, 0.5, note=task.element_id)]

    @hookimpl
    def ticketflow_dispatch(self, ctx, proposal) -> Assignment | None:  # type: ignore[no-untyped-def]
        if (
            proposal.element_id in ("handle", "reply")
            and proposal.data.get("customer_tier") == "vip"
        ):
            return Assignment(
                candidate_groups=("vip_desk",), reason="VIP complaints go to the VIP desk"
            )
        return None

    @hookimpl
    def ticketflow_plan_callback(self, ctx, ticket, proposal) -> CallbackPlan | None:  # type: ignore[no-untyped-def]
        return CallbackPlan("phone", due_in=timedelta(hours=4), note="call within 4 h")

    def names(self, kind: str) -> list[Any]:
        return [v for k, v in self.calls if k == kind]


class Postman:
    """Delivers notifications; fails while ``down``; counts by idempotency key."""

    def __init__(self) -> None:
        self.down = False
        self.received: dict[str, int] = {}
        self.lock = threading.Lock()

    @hookimpl
    def ticketflow_notify(self, message: Notification) -> bool | None:
        if message.channel not in ("sms", "email"):
            return None
        if self.down:
            raise ConnectionError("gateway unreachable")
        with self.lock:
            self.received[message.idempotency_key] = (
                self.received.get(message.idempotency_key, 0) + 1
            )
        return True


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def postman() -> Postman:
    return Postman()


@pytest.fixture
def hooked(make_engine: Callable[..., Engine], recorder: Recorder, postman: Postman) -> Engine:
    engine = make_engine(plugins=[recorder, postman], load_entry_points=False)
    engine.deploy(PROCESSES)
    return engine


def test_customer_lookup_fills_the_ticket(hooked: Engine, recorder: Recorder) -> None:
    ticket = open_complaint(hooked, customer="C-VIP")
    assert (ticket.customer_tier, ticket.region, ticket.priority) == ("vip", "jinan", 90)
    assert ticket.data["customer"]["account_manager"] == "am.liu"
    explicit = open_complaint(hooked, customer="C-VIP", customer_tier="gold", region="yantai")
    assert (explicit.customer_tier, explicit.region) == ("gold", "yantai")
    assert recorder.names("lookup") == ["C-VIP", "C-VIP"]


def test_crm_outage_does_not_stop_intake(hooked: Engine) -> None:
    ticket = open_complaint(hooked, customer="C-DOWN")
    assert ticket.status == "open" and ticket.customer_tier is None
    opened = hooked.history(ticket.number)[0]
    assert opened.details["customer_lookup_error"] == "ConnectionError: CRM is down"


def test_lifecycle_dispatch_callback_and_scores(
    hooked: Engine, recorder: Recorder, clock: FixedClock
) -> None:
    vip_desk = User.of("vip.agent", groups=["vip_desk"])
    ticket = to_handling(hooked, open_complaint(hooked, customer="C-VIP"))
    handle = ticket.task("handle")
    assert handle.candidate_groups == ("vip_desk",), "the dispatch plugin overrode ${department}"
    created = [e for e in hooked.history(ticket.number) if e.element_id == "handle"][-1]
    assert created.details["dispatch"] == "VIP complaints go to the VIP desk"

    ticket = resolve_and_reply(hooked, ticket, handler=vip_desk)
    cb = ticket.task("callback")
    assert cb.due_at == clock.now() + timedelta(hours=4)
    assert ticket.data["callback_plan"]["channel"] == "phone"

    ticket = callback(hooked, ticket, satisfied=False)
    hooked.suspend(ticket.number, Staff.supervisor, reason="customer away")
    hooked.resume(ticket.number, Staff.supervisor)
    ticket = callback(hooked, resolve_and_reply(hooked, ticket, handler=vip_desk), satisfied=True)
    assert ticket.status == "closed"

    assert recorder.names("callback_result") == [False, True]
    assert recorder.names("reopened") == ["reopen"]
    assert recorder.names("suspended") == ["customer away"] and recorder.names("resumed") == [None]
    assert recorder.names("closed") == ["end_closed"]
    assert recorder.names("opened") == [ticket.number]
    completed = recorder.names("completed")
    assert completed[:4] == ["front_desk", "record", "classify", "dispatch"]
    assert recorder.names("created")[:2] == ["front_desk", "record"]
    # Order within one step: completed, then reopened, then the new task.
    i = recorder.calls.index(("reopened", "reopen"))
    assert recorder.calls[i - 2 : i + 2] == [
        ("completed", "callback"),
        ("callback_result", False),
        ("reopened", "reopen"),
        ("created", "handle"),
    ]
    points = hooked.points()
    assert points["vip.agent"] == 0.5 * 4 and points["team"] == 1.0
    assert points["li.na"] == 1.0  # front desk + record
    assert [s.kind for s in hooked.scores(ticket=ticket.number)][-1] == "ticket"


def test_hook_failure_rolls_the_step_back(make_engine: Callable[..., Engine]) -> None:
    class Broken:
        @hookimpl
        def ticketflow_task_completed(self, ctx, ticket, task, data) -> None:  # type: ignore[no-untyped-def]
            raise RuntimeError("plugin bug")

    engine = make_engine(plugins=[Broken()], load_entry_points=False)
    engine.deploy(PROCESSES)
    ticket = open_complaint(engine)
    with pytest.raises(RuntimeError, match="plugin bug"):
        engine.complete(ticket.task("front_desk").id, Staff.agent, {"resolved": True})
    assert engine.ticket(ticket.number) == ticket


def test_outbox_delivers_after_commit_exactly_once(hooked: Engine, postman: Postman) -> None:
    ticket = open_complaint(hooked, customer="C-VIP")
    open_complaint(hooked, customer="C-VIP")
    (message, _) = hooked.outbox_messages()
    assert message.state == "pending" and message.ticket_number == ticket.number
    assert message.idempotency_key == f"{ticket.number}:notify:vip-alert"
    assert postman.received == {}, "nothing is sent before delivery runs"
    report = hooked.deliver_outbox()
    assert (report.delivered, report.retried, report.dead) == (2, 0, 0)
    assert hooked.deliver_outbox().attempted == 0
    assert sorted(postman.received.values()) == [1, 1]
    assert {m.state for m in hooked.outbox_messages()} == {"delivered"}


def test_outbox_rolls_back_with_the_step(
    make_engine: Callable[..., Engine], postman: Postman
) -> None:
    class NotifyThenFail:
        @hookimpl
        def ticketflow_task_completed(self, ctx, ticket, task, data) -> None:  # type: ignore[no-untyped-def]
            ctx.notify("sms", "13800000000", "done")
            if task.element_id == "front_desk" and data.get("note") == "boom":
                raise RuntimeError("later failure in the same step")

    engine = make_engine(plugins=[NotifyThenFail(), postman], load_entry_points=False)
    engine.deploy(PROCESSES)
    ticket = open_complaint(engine)
    with pytest.raises(RuntimeError):
        engine.complete(
            ticket.task("front_desk").id, Staff.agent, {"resolved": True, "note": "boom"}
        )
    assert engine.outbox_messages() == []
    engine.complete(ticket.task("front_desk").id, Staff.agent, {"resolved": True})
    assert len(engine.outbox_messages()) == 1


def test_retries_backoff_dead_letter_incident_and_retry(
    make_engine: Callable[..., Engine], postman: Postman, recorder: Recorder, clock: FixedClock
) -> None:
    engine = make_engine(
        plugins=[recorder, postman],
        load_entry_points=False,
        outbox_max_attempts=3,
        outbox_backoff=timedelta(seconds=10),
    )
    engine.deploy(PROCESSES)
    ticket = open_complaint(engine, customer="C-VIP")
    postman.down = True
    assert engine.deliver_outbox().retried == 1
    (message,) = engine.outbox_messages()
    assert message.attempts == 1 and message.last_error == "ConnectionError: gateway unreachable"
    assert message.next_attempt_at == clock.now() + timedelta(seconds=10)
    assert engine.deliver_outbox().attempted == 0, "not due yet"
    clock.advance(seconds=10)
    assert engine.deliver_outbox().retried == 1
    assert engine.outbox_messages()[0].next_attempt_at == clock.now() + timedelta(seconds=20)
    clock.advance(seconds=20)
    assert engine.deliver_outbox().dead == 1
    (incident,) = engine.incidents()
    assert incident.ticket_number == ticket.number and incident.kind == "notify_failed"
    assert "failed 3 times" in incident.message and "gateway unreachable" in incident.message
    # A person fixes the gateway and retries: delivered once.
    postman.down = False
    engine.retry_incident(incident.id, Staff.supervisor)
    assert engine.incidents() == []
    assert engine.deliver_outbox().delivered == 1
    assert list(postman.received.values()) == [1]
    with pytest.raises(ticketflow.TicketflowError, match="already resolved"):
        engine.retry_incident(incident.id, Staff.supervisor)


def test_unhandled_channel_becomes_an_incident(make_engine: Callable[..., Engine]) -> None:
    class Faxer:
        @hookimpl
        def ticketflow_ticket_opened(self, ctx, ticket) -> None:  # type: ignore[no-untyped-def]
            ctx.notify("fax", "0531-1234567", "complaint received")

    engine = make_engine(plugins=[Faxer()], load_entry_points=False, outbox_max_attempts=1)
    engine.deploy(PROCESSES)
    open_complaint(engine)
    assert engine.deliver_outbox().dead == 1
    assert "no plugin delivers fax notifications" in engine.incidents()[0].message


def test_concurrent_deliverers_share_without_doubling(
    make_engine: Callable[..., Engine], postman: Postman
) -> None:
    class Chatty:
        @hookimpl
        def ticketflow_task_created(self, ctx, ticket, task) -> None:  # type: ignore[no-untyped-def]
            ctx.notify("email", "ops@example.com", f"{ticket.number} waits at {task.element_id}")

    engine = make_engine(plugins=[Chatty(), postman], load_entry_points=False)
    engine.deploy(PROCESSES)
    for i in range(12):
        to_handling(engine, open_complaint(engine, customer=f"C{i}"))
    total = len(engine.outbox_messages(limit=1000))
    assert total == 12 * 5
    workers = [make_engine(plugins=[postman], load_entry_points=False) for _ in range(4)]
    barrier = threading.Barrier(4)

    def run(e: Engine) -> None:
        barrier.wait()
        while e.deliver_outbox(limit=7).attempted:
            pass

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(postman.received) == total
    assert set(postman.received.values()) == {1}


# --- connectors ------------------------------------------------------------------------

CONNECTOR_PROCESS = (
    HEADER
    + """  <bpmn:process id="crm_flow" isExecutable="true">
    <bpmn:laneSet id="ls"><bpmn:lane id="agents"><bpmn:flowNodeRef>review</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="lookup" camunda:type="external" camunda:topic="crm.customer">
      <bpmn:extensionElements>
        <camunda:inputOutput>
          <camunda:inputParameter name="customer_id">${customer_id}</camunda:inputParameter>
          <camunda:inputParameter name="fields">tier,region</camunda:inputParameter>
        </camunda:inputOutput>
        <camunda:properties>
          <camunda:property name="ticketflow.resultVariable" value="crm" />
          <camunda:property name="ticketflow.timeout" value="PT1S" />
        </camunda:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:userTask id="review" name="Review"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:serviceTask id="record" camunda:type="external" camunda:topic="oa.todo">
      <bpmn:extensionElements>
        <camunda:inputOutput><camunda:inputParameter name="number">${ticket_number}</camunda:inputParameter></camunda:inputOutput>
        <camunda:properties><camunda:property name="ticketflow.mode" value="async" /></camunda:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="lookup" />
    <bpmn:sequenceFlow id="f2" sourceRef="lookup" targetRef="review" />
    <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="record" />
    <bpmn:sequenceFlow id="f4" sourceRef="record" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""
)


class Crm:
    def __init__(self) -> None:
        self.mode = "ok"
        self.calls: list[ConnectorCall] = []
        self.oa: dict[str, int] = {}
        self.flaky = 0

    @hookimpl
    def ticketflow_connector(self, call: ConnectorCall) -> Mapping[str, Any] | None:
        self.calls.append(call)
        if call.operation == "crm.customer":
            if self.mode == "slow":
                threading.Event().wait(3)
            if self.mode == "error":
                raise ConnectionError("CRM refused the connection")
            if self.mode == "none":
                return None
            return {
                "tier": "gold",
                "asked_for": call.params["fields"],
                "id": call.params["customer_id"],
            }
        if call.operation == "oa.todo":
            self.flaky += 1
            if self.flaky % 2:
                raise TimeoutError("OA timed out")
            self.oa[call.idempotency_key] = self.oa.get(call.idempotency_key, 0) + 1
            return {"todo": call.params["number"]}
        return None


@pytest.fixture
def crm_engine(make_engine: Callable[..., Engine], tmp_path: Path) -> tuple[Engine, Crm]:
    crm = Crm()
    engine = make_engine(plugins=[crm], load_entry_points=False, outbox_backoff=timedelta(0))
    (tmp_path / "crm.bpmn").write_text(CONNECTOR_PROCESS, encoding="utf-8")
    engine.deploy(tmp_path / "crm.bpmn")
    return engine, crm


def test_sync_service_task_puts_the_result_in_the_ticket(crm_engine: tuple[Engine, Crm]) -> None:
    engine, crm = crm_engine
    ticket = engine.open_ticket("crm_flow", customer="C7", channel="web")
    assert ticket.data["crm"] == {"tier": "gold", "asked_for": "tier,region", "id": "C7"}
    (call,) = crm.calls
    assert (call.operation, call.element_id, call.synchronous) == ("crm.customer", "lookup", True)
    assert call.ticket_number == ticket.number and call.timeout == 1.0
    assert "lookup" in engine.history(ticket.number)[0].details["passed"]


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        (
            "error",
            "connector operation 'crm.customer' of service task 'lookup' failed: ConnectionError: CRM refused the connection",
        ),
        (
            "slow",
            "connector operation 'crm.customer' of service task 'lookup' did not answer within 1 s",
        ),
        ("none", "no plugin performs connector operation 'crm.customer' of service task 'lookup'"),
    ],
)
def test_sync_connector_failures_store_nothing(
    crm_engine: tuple[Engine, Crm], mode: str, message: str
) -> None:
    engine, crm = crm_engine
    crm.mode = mode
    with pytest.raises(ProcessExecutionError) as info:
        engine.open_ticket("crm_flow", customer="C7", channel="web")
    assert info.value.element_id == "lookup"
    assert message in str(info.value)
    assert info.value.ticket is None, "the rolled-back ticket number is not reported"
    assert "(while opening a crm_flow ticket; nothing was stored)" in str(info.value)
    assert engine.tickets().total == 0


def test_async_service_task_goes_through_the_outbox_once(crm_engine: tuple[Engine, Crm]) -> None:
    engine, crm = crm_engine
    worker = User.of("w", groups=["agents"])
    numbers = []
    for i in range(6):
        ticket = engine.open_ticket("crm_flow", customer=f"C{i}", channel="web")
        ticket = engine.complete(ticket.task("review").id, worker, {})
        assert ticket.status == "closed", "the flow does not wait for the async call"
        numbers.append(ticket.number)
    assert crm.oa == {}
    for _ in range(10):  # the OA system fails every other call; retries until all land
        engine.deliver_outbox()
    assert len(crm.oa) == 6 and set(crm.oa.values()) == {1}
    oa_calls = [c for c in crm.calls if c.operation == "oa.todo"]
    assert {(c.element_id, c.timeout, c.synchronous) for c in oa_calls} == {("record", 10.0, False)}
    delivered = engine.outbox_messages(state="delivered")
    assert sorted(m.result["todo"] for m in delivered) == sorted(numbers)  # type: ignore[index]
    assert max(m.attempts for m in delivered) > 1, "some deliveries needed a retry"


def test_service_task_needs_a_topic(engine: Engine, tmp_path: Path) -> None:
    from ticketflow import DefinitionError

    path = tmp_path / "bad.bpmn"
    path.write_text(
        CONNECTOR_PROCESS.replace(' camunda:topic="crm.customer"', ""), encoding="utf-8"
    )
    with pytest.raises(DefinitionError, match="service task needs camunda:topic") as info:
        engine.deploy(path)
    assert info.value.element_id == "lookup"


def test_attachments_survive_the_outbox(make_engine: Callable[..., Engine]) -> None:
    got: list[Notification] = []

    class Mailer:
        @hookimpl
        def ticketflow_ticket_opened(self, ctx, ticket) -> None:  # type: ignore[no-untyped-def]
            ctx.notify(
                "email",
                "a@b.cn",
                "见附件",
                attachments=[("工单.pdf", b"%PDF\x00\x01", "application/pdf")],
            )

        @hookimpl
        def ticketflow_notify(self, message: Notification) -> bool:
            got.append(message)
            return True

    engine = make_engine(plugins=[Mailer()], load_entry_points=False)
    engine.deploy(PROCESSES)
    open_complaint(engine)
    engine.deliver_outbox()
    assert got[0].attachments == (("工单.pdf", b"%PDF\x00\x01", "application/pdf"),)


def test_a_message_whose_lease_was_taken_over_is_not_sent_twice(
    make_engine: Callable[..., Engine], postman: Postman, recorder: Recorder, clock: FixedClock
) -> None:
    from ticketflow.outbox import LEASE

    first = make_engine(plugins=[recorder, postman], load_entry_points=False)
    first.deploy(PROCESSES)
    open_complaint(first, customer="C-VIP")
    claimed = first.outbox._claim(10)  # worker 1 claims, then stalls past its lease
    assert len(claimed) == 1
    clock.advance(LEASE + timedelta(seconds=1))
    second = make_engine(plugins=[postman], load_entry_points=False)
    assert second.deliver_outbox().delivered == 1
    assert first.outbox._renew(claimed[0][0]) is False, "worker 1 sees it lost the message"
    assert list(postman.received.values()) == [1]


def test_customer_lookup_is_bounded_in_time(make_engine: Callable[..., Engine]) -> None:
    class SlowCrm:
        @hookimpl
        def ticketflow_customer_lookup(self, customer_id: str) -> CustomerInfo | None:
            threading.Event().wait(2)
            return CustomerInfo(customer_id, tier="vip")

    engine = make_engine(plugins=[SlowCrm()], load_entry_points=False, customer_lookup_timeout=0.2)
    engine.deploy(PROCESSES)
    ticket = open_complaint(engine)
    assert ticket.customer_tier is None
    error = engine.history(ticket.number)[0].details["customer_lookup_error"]
    assert error == "ConnectorError: customer lookup for C-10086 did not answer within 0.2 s"


def test_unknown_process_is_refused_before_the_crm_is_asked(
    hooked: Engine, recorder: Recorder
) -> None:
    with pytest.raises(ticketflow.UnknownProcessError):
        hooked.open_ticket("nope", customer="C-VIP", channel="web")
    assert recorder.names("lookup") == []


def test_outbox_reads_inside_the_hosts_transaction(hooked: Engine) -> None:
    from sqlalchemy.orm import Session

    ticket = open_complaint(hooked)
    with Session(hooked.bind) as session:
        hooked.complete(
            ticket.task("front_desk").id, Staff.agent, {"resolved": True}, session=session
        )
        assert hooked.outbox_messages(session=session) == []
        assert hooked.incidents(session=session) == []
        assert hooked.outbox_messages() == [], "a separate read does not wait for the host's lock"
        session.commit()
