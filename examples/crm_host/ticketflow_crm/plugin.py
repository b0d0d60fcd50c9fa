"""The ticketflow plugin: customer lookup at intake and two connector operations.

Installed with ``pip install -e examples/crm_host``, this module is registered by every
``Engine()`` through the entry point ``crm`` (group ``ticketflow``) and reads the CRM's
address from the environment on each call:

* ``TICKETFLOW_CRM_URL`` — e.g. ``http://127.0.0.1:8765``; unset, the plugin stays out
  of the way (no lookup; ``crm.*`` operations fail saying so);
* ``TICKETFLOW_CRM_LOOKUP_TIMEOUT`` — seconds for the lookup at intake (default 2).

Operations (BPMN ``camunda:topic``):

* ``crm.customer`` (sync) — parameter ``customer_id``; returns the customer's record
  (``found``, ``customer_id``, ``name``, ``tier``, ``region``, ``account_manager``,
  ``phone``, ``email``); an unknown customer gives ``found: false`` and empty fields,
  so the flow can route it rather than stop;
* ``crm.record_event`` (async) — ``POST /events`` with the call's parameters, its ticket
  number and service task, and the call's idempotency key as ``Idempotency-Key``.

Failures: timeouts, connection errors and 5xx answers raise ``CrmError`` (the outbox
retries them with backoff; a sync task's step fails); a 4xx answer raises
``CrmRejectedError``, a ``ValueError``, which the outbox sends to the dead letters at once.

A host that wants several CRMs, or none from the environment, registers
``CrmPlugin(url)`` itself: ``Engine(plugins=[CrmPlugin(url)], load_entry_points=False)``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ticketflow.hooks.hookspecs import hookimpl
from ticketflow.hooks.types import ConnectorCall, CustomerInfo
from ticketflow_crm.client import CrmClient, CrmError

URL_VARIABLE = "TICKETFLOW_CRM_URL"
LOOKUP_TIMEOUT_VARIABLE = "TICKETFLOW_CRM_LOOKUP_TIMEOUT"
OPERATIONS = ("crm.customer", "crm.record_event")
RECORD_FIELDS = ("name", "tier", "region", "account_manager", "phone", "email")


class CrmNotConfiguredError(CrmError):
    """A ``crm.*`` operation was asked for, but ``TICKETFLOW_CRM_URL`` is not set."""


class CrmPlugin:
    """The CRM at ``base_url`` as a ticketflow plugin (register an instance)."""

    def __init__(self, base_url: str, *, lookup_timeout: float = 2.0) -> None:
        self.client = CrmClient(base_url)
        self.lookup_timeout = lookup_timeout

    @hookimpl
    def ticketflow_customer_lookup(self, customer_id: str) -> CustomerInfo | None:
        record = self.client.customer(customer_id, timeout=self.lookup_timeout)
        if record is None:
            return None
        extra = {k: v for k, v in record.items() if k not in RECORD_FIELDS and k != "customer_id"}
        return CustomerInfo(
            customer_id=customer_id,
            **{field: record.get(field) for field in RECORD_FIELDS},
            extra=extra,
        )

    @hookimpl
    def ticketflow_connector(self, call: ConnectorCall) -> Mapping[str, Any] | None:
        if call.operation == "crm.customer":
            return self._customer(call)
        if call.operation == "crm.record_event":
            return self._record_event(call)
        return None

    def _customer(self, call: ConnectorCall) -> dict[str, Any]:
        customer_id = call.params.get("customer_id")
        if not isinstance(customer_id, str) or not customer_id:
            raise ValueError("crm.customer needs the input parameter customer_id")
        record = self.client.customer(customer_id, timeout=call.timeout)
        found = record is not None
        fields = {field: (record or {}).get(field) for field in RECORD_FIELDS}
        return {"found": found, "customer_id": customer_id, **fields}

    def _record_event(self, call: ConnectorCall) -> dict[str, Any]:
        event = {
            **dict(call.params),
            "ticket_number": call.ticket_number,
            "element_id": call.element_id,
        }
        answer = self.client.record_event(
            event, idempotency_key=call.idempotency_key, timeout=call.timeout
        )
        return {"event_id": answer.get("id"), "duplicate": bool(answer.get("duplicate"))}


def from_environment() -> CrmPlugin | None:
    """The plugin for ``TICKETFLOW_CRM_URL``, or None when it is not set."""
    url = os.environ.get(URL_VARIABLE, "").strip()
    if not url:
        return None
    timeout = float(os.environ.get(LOOKUP_TIMEOUT_VARIABLE) or 2.0)
    return CrmPlugin(url, lookup_timeout=timeout)


# --- the module as a plugin (entry point "crm"), configured from the environment ----------


@hookimpl
def ticketflow_customer_lookup(customer_id: str) -> CustomerInfo | None:
    plugin = from_environment()
    return plugin.ticketflow_customer_lookup(customer_id) if plugin is not None else None


@hookimpl
def ticketflow_connector(call: ConnectorCall) -> Mapping[str, Any] | None:
    if call.operation not in OPERATIONS:
        return None
    plugin = from_environment()
    if plugin is None:
        raise CrmNotConfiguredError(
            f"operation '{call.operation}' needs the CRM: set {URL_VARIABLE} "
            "(e.g. http://127.0.0.1:8765)"
        )
    return plugin.ticketflow_connector(call)
