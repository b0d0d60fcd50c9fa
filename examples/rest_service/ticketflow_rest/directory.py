"""The user directory: who may log in, with which groups, roles and region.

A TOML file, one table per user id; passwords are stored only as salted scrypt hashes
(``python -m ticketflow_rest hash-password`` makes one)::

    [users."li.na"]
    name = "李娜 Li Na"
    groups = ["intake_agent", "call_center"]
    roles = []
    region = "north"          # optional: limits the user to tickets of that region
    password = "scrypt$16384$8$1$<salt>$<hash>"

Groups are matched against the candidate groups (lanes) of tasks; roles carry powers
(``supervisor``, ``admin``). What a user may do is decided by ticketflow's authorization,
not here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ticketflow import InvalidDataError, User

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: scrypt cost parameters for new hashes (about 16 MiB and 50 ms per check).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES, KEY_BYTES = 16, 32


def hash_password(password: str) -> str:
    """A new salted scrypt hash of ``password``: ``scrypt$n$r$p$salt$key`` (base64)."""
    if not password:
        raise InvalidDataError("a password must not be empty")
    salt = secrets.token_bytes(SALT_BYTES)
    key = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_BYTES)
    return "$".join(["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(key)])


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches the ``stored`` hash (constant-time comparison)."""
    scheme, n, r, p, salt, key = _parse_hash(stored)
    assert scheme == "scrypt"
    candidate = _scrypt(password, salt, n, r, p, len(key))
    return hmac.compare_digest(candidate, key)


@dataclass(frozen=True)
class Account:
    """One entry of the directory."""

    user: User
    name: str
    password_hash: str

    @property
    def id(self) -> str:
        return self.user.id


class Directory:
    """The accounts of a user directory file, by user id."""

    def __init__(self, accounts: dict[str, Account], source: str = "<memory>") -> None:
        self.accounts = accounts
        self.source = source
        # Checked against when the user id is unknown, so both cases cost the same time.
        self._decoy = hash_password(secrets.token_urlsafe(16))

    @classmethod
    def load(cls, path: Path) -> Directory:
        """Read and check a directory file; errors name the file and the user."""
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InvalidDataError(f"{path}: cannot read the user directory: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise InvalidDataError(f"{path}: not valid TOML: {exc}") from None
        users = raw.get("users")
        if not isinstance(users, dict) or not users:
            raise InvalidDataError(f'{path}: no [users."<id>"] tables')
        accounts = {uid: _account(path, uid, entry) for uid, entry in users.items()}
        return cls(accounts, str(path))

    def authenticate(self, user_id: str, password: str) -> Account | None:
        """The account when ``password`` is right for ``user_id``, else None."""
        account = self.accounts.get(user_id)
        if account is None:
            verify_password(password, self._decoy)
            return None
        return account if verify_password(password, account.password_hash) else None

    def __iter__(self) -> Any:
        return iter(self.accounts.values())


def _account(path: Path, uid: str, entry: Any) -> Account:
    where = f'{path}: [users."{uid}"]'
    if not isinstance(entry, dict):
        raise InvalidDataError(f"{where} must be a table")
    unknown = set(entry) - {"name", "groups", "roles", "region", "password"}
    if unknown:
        raise InvalidDataError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    groups, roles = entry.get("groups", []), entry.get("roles", [])
    for key, value in (("groups", groups), ("roles", roles)):
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise InvalidDataError(f"{where}: {key} must be a list of names")
    region = entry.get("region")
    if region is not None and (not isinstance(region, str) or not region):
        raise InvalidDataError(f"{where}: region must be a non-empty string")
    password = entry.get("password")
    if not isinstance(password, str):
        raise InvalidDataError(f"{where}: password (a scrypt hash) is missing")
    try:
        _parse_hash(password)
    except ValueError as exc:
        raise InvalidDataError(f"{where}: password: {exc}") from None
    name = entry.get("name", uid)
    if not isinstance(name, str):
        raise InvalidDataError(f"{where}: name must be a string")
    return Account(User.of(uid, groups, roles, region), name, password)


def _parse_hash(stored: str) -> tuple[str, int, int, int, bytes, bytes]:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError("not a hash of the form scrypt$n$r$p$salt$key (plain passwords refused)")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, key = (
            base64.b64decode(parts[4], validate=True),
            base64.b64decode(parts[5], validate=True),
        )
    except ValueError:
        raise ValueError("a scrypt hash with malformed numbers or base64") from None
    if n < 2**10 or n & (n - 1) or not 0 < r <= 32 or not 0 < p <= 16 or not salt or not key:
        raise ValueError(f"scrypt parameters n={n} r={r} p={p} out of range")
    return parts[0], n, r, p, salt, key


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    memory = 128 * r * (n + p + 2) + 1024 * 1024
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=memory, dklen=length
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
