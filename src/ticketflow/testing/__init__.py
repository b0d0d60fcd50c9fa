"""Testing kit for process tests: fixtures, path drivers, assertions and BPMN coverage.

The fixtures come with the pytest plugin (loaded automatically once ticketflow is
installed); see ``docs/testing.md``. Helpers to import::

    from ticketflow.testing import Path, Timer, drive, assert_waiting_at, assert_passed
"""

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
