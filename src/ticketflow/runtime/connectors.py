"""BPMN service tasks performed by connector plugins.

Convention (Camunda Modeler: *Implementation: External*, *Inputs*, *Properties*)::

    <bpmn:serviceTask id="crm_lookup" name="查询客户 CRM lookup"
                      camunda:type="external" camunda:topic="crm.customer">
      <bpmn:extensionElements>
        <camunda:inputOutput>
          <camunda:inputParameter name="customer_id">${customer_id}</camunda:inputParameter>
          <camunda:inputParameter name="fields">tier,region</camunda:inputParameter>
        </camunda:inputOutput>
        <camunda:properties>
          <camunda:property name="ticketflow.mode" value="sync" />          <!-- or async -->
          <camunda:property name="ticketflow.resultVariable" value="crm" />
          <camunda:property name="ticketflow.timeout" value="PT5S" />
        </camunda:properties>
      </bpmn:extensionElements>
    </bpmn:serviceTask>

``topic`` names the operation given to ``ticketflow_connector``. Input parameters are
literal text or ``${expression}`` over the ticket data. A **sync** task calls the
connector while the ticket steps (bounded by the timeout) and puts the result into the
ticket data (under ``resultVariable``, or merged at the top level); if it fails, the step
fails and nothing is stored. An **async** task queues the call in the outbox, delivered
after the commit with retries, and the flow moves on at once.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from SpiffWorkflow.bpmn.parser.TaskParser import TaskParser
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.serializer.helpers.spec import TaskSpecConverter
from SpiffWorkflow.bpmn.specs.defaults import ServiceTask

from ticketflow.errors import TicketflowError
from ticketflow.runtime.expressions import evaluate, strip_el
from ticketflow.time.durations import parse_duration

CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
DEFAULT_TIMEOUT = 10.0


class ConnectorError(TicketflowError):
    """A connector operation failed, timed out, or no plugin performs it."""


class ConnectorRuntime(Protocol):
    """What a step offers service tasks: perform a call now, or queue it."""

    def call_now(
        self, operation: str, params: dict[str, Any], element_id: str, timeout: float
    ) -> Mapping[str, Any]: ...

    def call_later(
        self, operation: str, params: dict[str, Any], key: str, element_id: str, timeout: float
    ) -> None: ...


#: The runtime of the step in progress (set by the Engine around each step).
CURRENT: contextvars.ContextVar[ConnectorRuntime | None] = contextvars.ContextVar(
    "ticketflow_connector_runtime", default=None
)


@dataclass(frozen=True)
class Parameter:
    name: str
    value: str

    def resolve(self, data: Mapping[str, Any]) -> Any:
        text = self.value.strip()
        if text.startswith("${") and text.endswith("}"):
            return evaluate(strip_el(text), data)
        return self.value


class ConnectorTask(ServiceTask):  # type: ignore[misc]
    """A service task whose work is done by a ``ticketflow_connector`` plugin."""

    def __init__(
        self,
        wf_spec: Any,
        bpmn_id: str,
        operation: str = "",
        parameters: tuple[Parameter, ...] = (),
        result_variable: str | None = None,
        mode: str = "sync",
        timeout: float = DEFAULT_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.operation = operation
        self.parameters = parameters
        self.result_variable = result_variable
        self.mode = mode
        self.timeout = timeout

    def _execute(self, task: Any) -> bool:
        runtime = CURRENT.get()
        if runtime is None:
            raise ConnectorError(
                f"service task '{self.bpmn_id}' ran outside an engine step; nothing performs "
                f"operation '{self.operation}'"
            )
        params = {p.name: p.resolve(task.data) for p in self.parameters}
        if self.mode == "async":
            runtime.call_later(
                self.operation, params, f"{self.bpmn_id}:{task.id}", self.bpmn_id, self.timeout
            )
            return True
        result = runtime.call_now(self.operation, params, self.bpmn_id, self.timeout)
        if self.result_variable:
            task.data[self.result_variable] = dict(result)
        else:
            task.data.update(result)
        return True


def run_with_timeout(fn: Any, timeout: float, what: str) -> Any:
    """Run ``fn()`` on a thread of its own; ConnectorError after ``timeout`` seconds.

    A call that does not answer is abandoned (its thread ends when the call returns), so a
    hung external system can never hold up later calls.
    """
    outcome: list[Any] = []
    context = contextvars.copy_context()

    def target() -> None:
        try:
            outcome.append((True, context.run(fn)))
        except BaseException as exc:  # handed to the caller below
            outcome.append((False, exc))

    thread = threading.Thread(target=target, name="ticketflow-connector", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise ConnectorError(f"{what} did not answer within {timeout:g} s")
    ok, value = outcome[0]
    if ok:
        return value
    raise value


class ConnectorTaskParser(TaskParser):  # type: ignore[misc]
    """Reads camunda:topic, camunda:inputOutput and ticketflow.* properties."""

    def create_task(self) -> ConnectorTask:
        node = self.node
        topic = node.get(f"{{{CAMUNDA_NS}}}topic")
        if not topic:
            raise ValidationException(
                "service task needs camunda:topic naming the connector operation "
                "(Implementation: External, Topic)",
                node=node,
                file_name=self.filename,
            )
        parameters = tuple(
            Parameter(p.get("name", ""), p.text or "")
            for p in self._camunda(".//camunda:inputOutput/camunda:inputParameter")
        )
        props = {
            p.get("name"): p.get("value", "")
            for p in self._camunda(".//camunda:properties/camunda:property")
        }
        mode = props.get("ticketflow.mode", "sync")
        if mode not in ("sync", "async"):
            raise ValidationException(
                f"ticketflow.mode must be sync or async, got {mode!r}",
                node=node,
                file_name=self.filename,
            )
        timeout = DEFAULT_TIMEOUT
        if "ticketflow.timeout" in props:
            try:
                timeout = parse_duration(props["ticketflow.timeout"]).total_seconds()
            except ValueError as exc:
                raise ValidationException(
                    f"ticketflow.timeout: {exc}", node=node, file_name=self.filename
                ) from None
        return ConnectorTask(
            self.spec,
            self.bpmn_id,
            operation=topic,
            parameters=parameters,
            result_variable=props.get("ticketflow.resultVariable") or None,
            mode=mode,
            timeout=timeout,
            **self.bpmn_attributes,
        )

    def _camunda(self, path: str) -> Any:
        return self.node.xpath(path, namespaces={"camunda": CAMUNDA_NS})


class ConnectorTaskConverter(TaskSpecConverter):  # type: ignore[misc]
    """Lets SpiffWorkflow's spec diff (version migration) compare connector tasks."""

    def to_dict(self, spec: ConnectorTask) -> dict[str, Any]:
        dct: dict[str, Any] = self.get_default_attributes(spec)
        dct.update(
            operation=spec.operation,
            mode=spec.mode,
            timeout=spec.timeout,
            result_variable=spec.result_variable,
            parameters=[[p.name, p.value] for p in spec.parameters],
        )
        return dct

    def from_dict(self, dct: dict[str, Any]) -> ConnectorTask:
        dct["parameters"] = tuple(Parameter(n, v) for n, v in dct.get("parameters", []))
        return self.task_spec_from_dict(dct)  # type: ignore[no-any-return]
