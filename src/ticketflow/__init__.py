"""ticketflow: an embeddable BPMN engine for customer-service work orders (工单).

Start with :class:`Engine`::

    from ticketflow import Engine, User

    engine = Engine("sqlite:///tickets.db")
    engine.deploy("processes/")
    ticket = engine.open_ticket("complaint", customer="C1001", channel="hotline")
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ticketflow.engine import Engine
    from ticketflow.errors import (
        ConcurrencyError,
        DatabaseUnavailableError,
        DataLimitError,
        DefinitionError,
        FormValidationError,
        InvalidDataError,
        MigrationError,
        NotFoundError,
        PermissionDeniedError,
        ProcessExecutionError,
        StoreError,
        TaskNotFoundError,
        TaskStateError,
        TicketflowError,
        TicketNotFoundError,
        UnknownProcessError,
    )
    from ticketflow.hooks.hookspecs import hookimpl
    from ticketflow.time.clock import Clock, FixedClock, SystemClock
    from ticketflow.users import User
    from ticketflow.views import (
        DefinitionView,
        EventView,
        MigrationReport,
        Page,
        TaskView,
        TicketView,
    )

#: Public names, imported on first use so `import ticketflow` (and the pytest plugin) stays cheap.
_LAZY = {
    "Clock": "ticketflow.time.clock",
    "ConcurrencyError": "ticketflow.errors",
    "DataLimitError": "ticketflow.errors",
    "DatabaseUnavailableError": "ticketflow.errors",
    "DefinitionError": "ticketflow.errors",
    "DefinitionView": "ticketflow.views",
    "Engine": "ticketflow.engine",
    "EventView": "ticketflow.views",
    "FixedClock": "ticketflow.time.clock",
    "FormValidationError": "ticketflow.errors",
    "InvalidDataError": "ticketflow.errors",
    "MigrationError": "ticketflow.errors",
    "MigrationReport": "ticketflow.views",
    "NotFoundError": "ticketflow.errors",
    "Page": "ticketflow.views",
    "PermissionDeniedError": "ticketflow.errors",
    "ProcessExecutionError": "ticketflow.errors",
    "StoreError": "ticketflow.errors",
    "SystemClock": "ticketflow.time.clock",
    "TaskNotFoundError": "ticketflow.errors",
    "TaskStateError": "ticketflow.errors",
    "TaskView": "ticketflow.views",
    "TicketNotFoundError": "ticketflow.errors",
    "TicketView": "ticketflow.views",
    "TicketflowError": "ticketflow.errors",
    "UnknownProcessError": "ticketflow.errors",
    "User": "ticketflow.users",
    "hookimpl": "ticketflow.hooks.hookspecs",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ticketflow' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__version__ = "0.1.0"

__all__ = [
    "Clock",
    "ConcurrencyError",
    "DataLimitError",
    "DatabaseUnavailableError",
    "DefinitionError",
    "DefinitionView",
    "Engine",
    "EventView",
    "FixedClock",
    "FormValidationError",
    "InvalidDataError",
    "MigrationError",
    "MigrationReport",
    "NotFoundError",
    "Page",
    "PermissionDeniedError",
    "ProcessExecutionError",
    "StoreError",
    "SystemClock",
    "TaskNotFoundError",
    "TaskStateError",
    "TaskView",
    "TicketNotFoundError",
    "TicketView",
    "TicketflowError",
    "UnknownProcessError",
    "User",
    "__version__",
    "hookimpl",
]
