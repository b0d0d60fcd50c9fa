"""Who is behind an e-mail address: the directory of staff who handle tasks by mail.

:class:`StaticDirectory` holds :class:`Handler` entries given in code or read from a JSON or
file (:func:`load_directory`); a host with an LDAP or HR system implements the
:class:`Directory` protocol itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ticketflow.errors import InvalidDataError
from ticketflow.users import User


@dataclass(frozen=True)
class Handler:
    """A member of staff with an e-mail address; ``offline`` ones get their tasks by mail."""

    user: User
    email: str
    offline: bool = True


@runtime_checkable
class Directory(Protocol):
    """Maps e-mail addresses to users and back."""

    def by_email(self, address: str) -> Handler | None: ...

    def by_user(self, user_id: str) -> Handler | None: ...


def normalize_address(address: str) -> str:
    """The bare, lower-case address of ``address`` (``张三 <Zhang@X.cn>`` → ``zhang@x.cn``)."""
    return parseaddr(address)[1].strip().lower()


class StaticDirectory:
    """A fixed list of handlers (addresses compare case-insensitively)."""

    def __init__(self, handlers: Iterable[Handler]) -> None:
        self._by_email: dict[str, Handler] = {}
        self._by_user: dict[str, Handler] = {}
        for handler in handlers:
            address = normalize_address(handler.email)
            if "@" not in address:
                raise InvalidDataError(
                    f"handler {handler.user.id!r}: {handler.email!r} is not an e-mail address"
                )
            for index, key, what in (
                (self._by_email, address, "address"),
                (self._by_user, handler.user.id, "user"),
            ):
                if key in index:
                    raise InvalidDataError(f"directory lists {what} {key!r} twice")
                index[key] = handler

    def by_email(self, address: str) -> Handler | None:
        return self._by_email.get(normalize_address(address))

    def by_user(self, user_id: str) -> Handler | None:
        return self._by_user.get(user_id)

    def __len__(self) -> int:
        return len(self._by_user)


def handlers_from_data(entries: Iterable[Mapping[str, Any]], where: str) -> list[Handler]:
    """Handlers from plain data: ``{"id", "email", "groups", "roles", "region", "offline"}``."""
    found = []
    for n, entry in enumerate(entries, 1):
        if not isinstance(entry, Mapping):
            raise InvalidDataError(f"{where}: handler #{n} is not an object")
        unknown = set(entry) - {"id", "email", "groups", "roles", "region", "offline"}
        if unknown:
            raise InvalidDataError(
                f"{where}: handler #{n}: unknown keys {', '.join(sorted(unknown))}"
            )
        try:
            user = User.of(
                entry["id"],
                entry.get("groups", ()),
                entry.get("roles", ()),
                entry.get("region"),
            )
            found.append(Handler(user, str(entry["email"]), bool(entry.get("offline", True))))
        except (KeyError, ValueError) as exc:
            raise InvalidDataError(f"{where}: handler #{n}: missing or bad {exc}") from None
    return found


def load_directory(path: str | Path) -> StaticDirectory:
    """Read a JSON directory file: ``{"handlers": [{"id": ..., "email": ...}, ...]}``."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, ValueError) as exc:
        raise InvalidDataError(f"{file}: cannot read the handler directory: {exc}") from None
    entries = data.get("handlers") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise InvalidDataError(f"{file}: expected a list under 'handlers'")
    return StaticDirectory(handlers_from_data(entries, str(file)))
