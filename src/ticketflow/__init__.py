"""ticketflow: an embeddable BPMN engine for customer-service work orders (工单).

Start with :class:`Engine`::

    from ticketflow import Engine, User

    engine = Engine("sqlite:///tickets.db")
    engine.deploy("processes/")
    ticket = engine.open_ticket("complaint", customer="C1001", channel="hotline")
"""

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
