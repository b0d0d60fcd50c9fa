"""Bearer tokens: issued at login against the user directory, kept in memory.

A token is 256 random bits; the service remembers which account it belongs to and until
when. Tokens end at their expiry, at logout, and when the service restarts (log in again).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ticketflow_rest.directory import Account


class NotAuthenticatedError(Exception):
    """No valid bearer token came with the request (HTTP 401)."""


@dataclass(frozen=True)
class Session:
    """A logged-in account and until when its token is good."""

    token: str
    account: Account
    expires_at: datetime


class TokenStore:
    """Issued tokens, thread-safe; expired ones are dropped as they are met."""

    def __init__(self, lifetime: timedelta, now: Callable[[], datetime]) -> None:
        self.lifetime = lifetime
        self._now = now
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def issue(self, account: Account) -> Session:
        session = Session(secrets.token_urlsafe(32), account, self._now() + self.lifetime)
        with self._lock:
            self._drop_expired()
            self._sessions[session.token] = session
        return session

    def resolve(self, token: str | None) -> Session:
        """The session of ``token``; NotAuthenticatedError saying why when there is none."""
        if not token:
            raise NotAuthenticatedError("log in first: send 'Authorization: Bearer <token>'")
        with self._lock:
            session = self._sessions.get(token)
            if session is not None and session.expires_at <= self._now():
                del self._sessions[token]
                raise NotAuthenticatedError("the token has expired; log in again")
        if session is None:
            raise NotAuthenticatedError("unknown token (logged out, or the service restarted)")
        return session

    def revoke(self, token: str) -> None:
        with self._lock:
            self._sessions.pop(token, None)

    def _drop_expired(self) -> None:
        now = self._now()
        for token in [t for t, s in self._sessions.items() if s.expires_at <= now]:
            del self._sessions[token]
