"""Hook specifications. A plugin implements any of them with ``@ticketflow.hookimpl``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from ticketflow.users import User
    from ticketflow.views import TaskView, TicketView

hookspec = pluggy.HookspecMarker("ticketflow")
hookimpl = pluggy.HookimplMarker("ticketflow")


@hookspec(firstresult=True)
def ticketflow_authorize(
    user: User, action: str, ticket: TicketView, task: TaskView | None
) -> bool | None:
    """May ``user`` perform ``action`` on ``ticket`` (and ``task``, for task actions)?

    ``action`` is one of ``claim``, ``unclaim``, ``complete``, ``suspend``, ``resume``,
    ``migrate``.
    Return True to allow, False to deny, None to leave the decision to the next plugin.
    The first non-None answer wins; the built-in ``default_authorize`` plugin answers
    last and denies whatever it cannot confirm.
    """
