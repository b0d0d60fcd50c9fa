"""Who is acting: a user with groups, roles and an optional region."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class User:
    """The acting user of an engine call.

    ``groups`` are matched against a task's candidate groups (lanes);
    ``roles`` carry powers such as ``supervisor`` (suspend, resume, unclaim others) or
    ``admin`` (everything); ``region``, when set, limits the user to tickets of that region.
    """

    id: str
    groups: frozenset[str] = field(default_factory=frozenset)
    roles: frozenset[str] = field(default_factory=frozenset)
    region: str | None = None

    @classmethod
    def of(
        cls,
        id: str,
        groups: Iterable[str] = (),
        roles: Iterable[str] = (),
        region: str | None = None,
    ) -> User:
        if not id or not isinstance(id, str):
            raise ValueError(f"a user id must be a non-empty string, got {id!r}")
        return cls(id, frozenset(groups), frozenset(roles), region)

    @classmethod
    def system(cls) -> User:
        """The engine itself or a trusted host job: may do everything."""
        return cls("system", frozenset(), frozenset({"admin"}))


def as_user(user: User | str) -> User:
    """Accept a :class:`User` or a bare user id (a user with no groups or roles)."""
    if isinstance(user, User):
        return user
    return User.of(user)
