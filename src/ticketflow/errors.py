"""The exception hierarchy: every error ticketflow raises is a :class:`TicketflowError`.

Each message names what was wrong and where: the file and line of a BPMN element, the
ticket number, the task id and element, the form field.
"""

from __future__ import annotations

from collections.abc import Mapping


class TicketflowError(Exception):
    """Root of every error ticketflow raises on purpose."""


# --- definitions ------------------------------------------------------------------


class DefinitionError(TicketflowError):
    """A BPMN file is malformed, invalid, unsafe or uses something ticketflow refuses.

    ``file``, ``line`` and ``element_id`` say where; ``str(error)`` reads
    ``processes/complaint.bpmn:42: element 'gw_callback': <reason>``.
    """

    def __init__(
        self,
        reason: str,
        *,
        file: str | None = None,
        line: int | None = None,
        element_id: str | None = None,
    ) -> None:
        self.reason = reason
        self.file = file
        self.line = line
        self.element_id = element_id
        where = file or "<bpmn>"
        if line:
            where = f"{where}:{line}"
        element = f" element '{element_id}':" if element_id else ""
        super().__init__(f"{where}:{element} {reason}")


class UnknownProcessError(TicketflowError, LookupError):
    """No definition of that process id has been deployed."""

    def __init__(self, process_id: str, known: list[str] | None = None) -> None:
        self.process_id = process_id
        hint = f" (deployed: {', '.join(sorted(known))})" if known else " (nothing deployed yet)"
        super().__init__(f"unknown process '{process_id}'{hint}")


# --- runtime ----------------------------------------------------------------------


class NotFoundError(TicketflowError, LookupError):
    """A ticket or task that does not exist."""


class TicketNotFoundError(NotFoundError):
    def __init__(self, ticket: str | int) -> None:
        self.ticket = ticket
        super().__init__(f"ticket {ticket!r} does not exist")


class TaskNotFoundError(NotFoundError):
    def __init__(self, task_id: int) -> None:
        self.task_id = task_id
        super().__init__(f"task {task_id} does not exist")


class TaskStateError(TicketflowError):
    """The action does not fit the task's or ticket's state (completed, suspended, claimed...)."""


class FormValidationError(TicketflowError, ValueError):
    """Form data does not match the fields the task declares.

    ``errors`` maps each offending field to what is wrong with it.
    """

    def __init__(self, where: str, errors: Mapping[str, str]) -> None:
        self.where = where
        self.errors = dict(errors)
        details = "; ".join(f"field '{name}': {msg}" for name, msg in self.errors.items())
        super().__init__(f"{where}: invalid form data: {details}")


class PermissionDeniedError(TicketflowError, PermissionError):
    """The acting user may not perform this action."""

    def __init__(self, user: str, action: str, target: str, reason: str) -> None:
        self.user = user
        self.action = action
        self.target = target
        self.reason = reason
        super().__init__(f"user '{user}' may not {action} {target}: {reason}")


class ConcurrencyError(TicketflowError):
    """Someone else changed the ticket or task first; reload and try again."""


class ProcessExecutionError(TicketflowError):
    """The process could not move on: a condition or script failed at run time.

    Nothing of the failed step is stored; the ticket stays where it was.
    """

    def __init__(self, reason: str, *, ticket: str | None, element_id: str | None) -> None:
        self.reason = reason
        self.ticket = ticket
        self.element_id = element_id
        where = f"ticket {ticket}" if ticket else "new ticket"
        element = f", element '{element_id}'" if element_id else ""
        super().__init__(f"{where}{element}: {reason}")


class MigrationError(TicketflowError):
    """A running ticket cannot move to the requested process version; ``reasons`` says why."""

    def __init__(self, message: str, reasons: list[str] | None = None) -> None:
        self.reasons = list(reasons or [])
        super().__init__(message)


class InvalidDataError(TicketflowError, ValueError):
    """Arguments or ticket data that ticketflow cannot accept (wrong type, unknown channel...)."""


class DataLimitError(InvalidDataError):
    """Ticket data is larger than the configured limit."""


class DatabaseUnavailableError(TicketflowError):
    """The database failed during an action (connection lost, I/O error, locked); nothing
    was stored, and the same call can be retried."""


class StoreError(TicketflowError):
    """The database schema is missing or out of date, or the store refused a write."""
