"""Reply tokens: the key that ties an e-mail reply to the task it answers.

A token reads ``tf<id>-<signature>`` (``tf42-kq3v...``): ``id`` is a ``tf_reply_token`` row
(task, user, expiry) and the signature an HMAC-SHA256 of that row under a secret held by the
host, never by the database. Nobody can guess one, a row changed in the database no longer
matches its signature, and old secrets can be kept for verification while rotating.
A token expires, belongs to one user, and completes its task at most once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from ticketflow.channels.errors import ReplyTokenError
from ticketflow.store.channel_models import ReplyTokenRow

#: A token anywhere in a text or an address (lower case: mail systems may fold case).
TOKEN_PATTERN = re.compile(r"(?<![a-z0-9])tf(\d{1,18})-([a-z2-7]{26})(?![a-z0-9])", re.IGNORECASE)
MIN_SECRET_BYTES = 16


@dataclass(frozen=True)
class TokenGrant:
    """A verified token: the task it completes and the user it belongs to."""

    token_id: int
    ticket_number: str
    task_id: int
    user_id: str
    expires_at: datetime
    used_at: datetime | None


def _key(secret: str | bytes) -> bytes:
    key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"the reply-token secret must be at least {MIN_SECRET_BYTES} bytes")
    return key


class ReplyTokens:
    """Issues and verifies reply tokens under ``secret`` (``old_secrets`` still verify)."""

    def __init__(
        self,
        secret: str | bytes,
        ttl: timedelta = timedelta(days=3),
        old_secrets: Sequence[str | bytes] = (),
    ) -> None:
        if ttl <= timedelta(0):
            raise ValueError("the reply-token lifetime must be positive")
        self._keys = [_key(secret), *(_key(s) for s in old_secrets)]
        self.ttl = ttl

    def issue(
        self,
        s: Session,
        *,
        ticket_id: int,
        ticket_number: str,
        task_id: int,
        user_id: str,
        address: str,
        now: datetime,
    ) -> str:
        """Store a token row for ``task_id`` and ``user_id`` in ``s``; return the token."""
        expires = (now + self.ttl).replace(microsecond=0)
        row = ReplyTokenRow(
            ticket_id=ticket_id,
            ticket_number=ticket_number,
            task_id=task_id,
            user_id=user_id,
            address=address,
            issued_at=now,
            expires_at=expires,
        )
        s.add(row)
        s.flush()
        return f"tf{row.id}-{self._sign(self._keys[0], row)}"

    def verify(self, s: Session, token: str, now: datetime, *, lock: bool = False) -> TokenGrant:
        """The grant of ``token``; :class:`ReplyTokenError` if forged, unknown or expired.

        Whether it was already used is the caller's to judge (``used_at``): a used token
        may still add notes, not complete its task again.
        """
        match = TOKEN_PATTERN.fullmatch(token.strip())
        if match is None:
            raise ReplyTokenError(f"{token!r} is not a reply token (tf<number>-<signature>)")
        row = s.get(ReplyTokenRow, int(match.group(1)), with_for_update=lock)
        given = match.group(2).lower()
        if row is None or not any(
            hmac.compare_digest(given, self._sign(key, row)) for key in self._keys
        ):
            raise ReplyTokenError("the reply token is not valid (unknown or altered)")
        if now >= row.expires_at:
            raise ReplyTokenError(
                f"the reply token for ticket {row.ticket_number}, task {row.task_id} expired "
                f"at {row.expires_at:%Y-%m-%d %H:%M} UTC"
            )
        return TokenGrant(
            row.id, row.ticket_number, row.task_id, row.user_id, row.expires_at, row.used_at
        )

    @staticmethod
    def mark_used(s: Session, grant: TokenGrant, now: datetime) -> None:
        row = s.get(ReplyTokenRow, grant.token_id)
        assert row is not None
        row.used_at = now

    @staticmethod
    def _sign(key: bytes, row: ReplyTokenRow) -> str:
        message = (
            f"ticketflow-reply-token:v1:{row.id}:{row.ticket_number}:{row.task_id}:"
            f"{row.user_id}:{int(row.expires_at.timestamp())}"
        )
        digest = hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()[:16]
        return base64.b32encode(digest).decode("ascii").rstrip("=").lower()


def find_tokens(*texts: str | None) -> list[str]:
    """Every token in ``texts`` (addresses, subject, body), in order, without repeats."""
    found: list[str] = []
    for text in texts:
        for m in TOKEN_PATTERN.finditer(text or ""):
            token = f"tf{m.group(1)}-{m.group(2).lower()}"
            if token not in found:
                found.append(token)
    return found
