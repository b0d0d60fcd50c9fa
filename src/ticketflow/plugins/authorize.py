"""Default authorization: assignee, candidate groups, region scope and roles.

* ``admin`` may do everything.
* A user outside the ticket's region (when both have one) may do nothing.
* ``claim``: the task is unassigned (or already theirs) and the user is in a candidate group.
* ``complete``: the user is the assignee, or the task is unassigned and the user is in a
  candidate group (completing then claims it implicitly).
* ``unclaim``: the assignee, or a ``supervisor`` in one of the task's candidate groups.
* ``suspend`` / ``resume``: a ``supervisor``.
* ``migrate`` (move a ticket to another process version): ``admin`` only.

Anything else is denied.
"""

from __future__ import annotations

from ticketflow.hooks.hookspecs import hookimpl
from ticketflow.users import User
from ticketflow.views import TaskView, TicketView


@hookimpl
def ticketflow_authorize(
    user: User, action: str, ticket: TicketView, task: TaskView | None
) -> bool:
    if "admin" in user.roles:
        return True
    if user.region and ticket.region and user.region != ticket.region:
        return False
    if action in ("suspend", "resume"):
        return "supervisor" in user.roles
    if task is None:
        return False
    in_group = bool(user.groups.intersection(task.candidate_groups))
    if action == "claim":
        return in_group and task.assignee in (None, user.id)
    if action == "complete":
        return task.assignee == user.id or (task.assignee is None and in_group)
    if action == "unclaim":
        return task.assignee == user.id or ("supervisor" in user.roles and in_group)
    return False
