"""Users for process tests."""

from __future__ import annotations

from collections.abc import Iterable

from ticketflow.users import User
from ticketflow.views import TaskView


class Users:
    """Make the users a test acts as (the ``tf_users`` fixture is one of these)."""

    #: The system user: an admin, allowed every action.
    system = User.system()

    def member(
        self, user_id: str, *groups: str, roles: Iterable[str] = (), region: str | None = None
    ) -> User:
        """``user_id``, a member of ``groups``."""
        return User.of(user_id, groups=groups, roles=roles, region=region)

    def supervisor(self, user_id: str, *groups: str) -> User:
        """A supervisor (may suspend, resume and unclaim) in ``groups``."""
        return User.of(user_id, groups=groups, roles=["supervisor"])

    def for_task(self, task: TaskView, user_id: str | None = None) -> User:
        """A user allowed to claim ``task``: a member of its candidate groups (or its
        assignee, when it is assigned)."""
        if task.assignee and not task.candidate_groups:
            return User.of(task.assignee)
        groups = task.candidate_groups
        name = user_id or task.assignee or (f"{groups[0]}.member" if groups else "member")
        return User.of(name, groups=groups)
