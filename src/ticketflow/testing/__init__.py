"""Testing kit for process tests: fixtures, path drivers, assertions and BPMN coverage.

The fixtures come with the pytest plugin (loaded automatically once ticketflow is
installed); see ``docs/testing.md``. Helpers to import::

    from ticketflow.testing import Path, Timer, drive, assert_waiting_at, assert_passed
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ticketflow.testing.assertions import (
        assert_ended_at,
        assert_not_passed,
        assert_offered_to,
        assert_passed,
        assert_waiting_at,
    )
    from ticketflow.testing.drivers import Complete, Path, Timer, drive
    from ticketflow.testing.history import passed_elements
    from ticketflow.testing.users import Users

#: Imported on first use: the pytest plugin loads this package in every test run.
_LAZY = {
    "Complete": "ticketflow.testing.drivers",
    "Path": "ticketflow.testing.drivers",
    "Timer": "ticketflow.testing.drivers",
    "Users": "ticketflow.testing.users",
    "assert_ended_at": "ticketflow.testing.assertions",
    "assert_not_passed": "ticketflow.testing.assertions",
    "assert_offered_to": "ticketflow.testing.assertions",
    "assert_passed": "ticketflow.testing.assertions",
    "assert_waiting_at": "ticketflow.testing.assertions",
    "drive": "ticketflow.testing.drivers",
    "passed_elements": "ticketflow.testing.history",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ticketflow.testing' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "Complete",
    "Path",
    "Timer",
    "Users",
    "assert_ended_at",
    "assert_not_passed",
    "assert_offered_to",
    "assert_passed",
    "assert_waiting_at",
    "drive",
    "passed_elements",
]
