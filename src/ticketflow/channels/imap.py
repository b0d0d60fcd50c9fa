"""Replies read from an IMAP folder: :class:`ImapSource` (standard library ``imaplib``).

Unseen messages of ``folder`` are pending; a handled message is flagged ``\\Seen`` (and
moved to ``processed_folder`` when one is given); one that cannot be read is copied to
``quarantine_folder`` (created when missing) and removed from ``folder``. Give ticketflow a
mailbox of its own: a person reading it in a mail program marks messages seen.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import re
import ssl as _ssl
from collections.abc import Iterator, Sequence
from types import TracebackType

from ticketflow.channels.errors import ChannelError

log = logging.getLogger("ticketflow.channels.mail")


class ImapError(ChannelError):
    """The IMAP server refused a command."""


class ImapSource:
    """A :class:`~ticketflow.channels.polling.MailSource` over one IMAP folder.

    ``ssl`` speaks TLS from the start (port 993), ``starttls`` upgrades a plain connection;
    use it as a context manager (``with ImapSource(...) as source: poll(engine, source)``).
    """

    def __init__(
        self,
        host: str,
        user: str,
        password: str,
        *,
        port: int | None = None,
        ssl: bool = True,
        starttls: bool = False,
        folder: str = "INBOX",
        processed_folder: str | None = None,
        quarantine_folder: str = "Quarantine",
        timeout: float = 30.0,
        ssl_context: _ssl.SSLContext | None = None,
    ) -> None:
        if ssl and starttls:
            raise ValueError("choose ssl (TLS from the start) or starttls, not both")
        self.host = host
        self.port = port or (993 if ssl else 143)
        self.user = user
        self.password = password
        self.ssl = ssl
        self.starttls = starttls
        self.folder = folder
        self.processed_folder = processed_folder
        self.quarantine_folder = quarantine_folder
        self.timeout = timeout
        self.ssl_context = ssl_context
        self._imap: imaplib.IMAP4 | None = None
        self._capabilities: set[str] = set()

    def __enter__(self) -> ImapSource:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def connect(self) -> None:
        """Log in and open the folder (read-write)."""
        context = self.ssl_context or _ssl.create_default_context()
        imap: imaplib.IMAP4
        if self.ssl:
            imap = imaplib.IMAP4_SSL(
                self.host, self.port, ssl_context=context, timeout=self.timeout
            )
        else:
            imap = imaplib.IMAP4(self.host, self.port, timeout=self.timeout)
            if self.starttls:
                imap.starttls(context)
        self._imap = imap
        try:
            self._ok(imap.login(self.user, self.password), "LOGIN")
        except imaplib.IMAP4.error as exc:
            self.close()
            raise ImapError(
                f"IMAP LOGIN as {self.user!r} on {self.host}:{self.port} failed: {exc}"
            ) from None
        typ, data = imap.capability()  # what the server offers once logged in
        words = b" ".join(d for d in data if isinstance(d, bytes)).decode(errors="replace")
        self._capabilities = set(words.upper().split()) if typ == "OK" else set()
        self._ok(imap.select(_quote(self.folder)), f"SELECT {self.folder}")

    def close(self) -> None:
        if self._imap is None:
            return
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            self._imap.logout()
        self._imap = None

    @property
    def imap(self) -> imaplib.IMAP4:
        if self._imap is None:
            raise ImapError("the IMAP source is not connected: use it in a with block")
        return self._imap

    def pending(self) -> Iterator[tuple[str, bytes]]:
        typ, data = self.imap.uid("SEARCH", "UNSEEN", "UNDELETED")
        self._ok((typ, data), "UID SEARCH")
        uids = (data[0] or b"").split() if data else []
        for uid in uids:
            typ, fetched = self.imap.uid("FETCH", uid.decode(), "(BODY.PEEK[])")
            self._ok((typ, fetched), f"UID FETCH {uid.decode()}")
            raw = next((item[1] for item in fetched if isinstance(item, tuple)), None)
            if isinstance(raw, bytes):
                yield uid.decode(), raw

    def done(self, key: str) -> None:
        self._ok(self.imap.uid("STORE", key, "+FLAGS", "(\\Seen)"), f"UID STORE {key}")
        if self.processed_folder:
            self._move(key, self.processed_folder)

    def quarantine(self, key: str, reason: str) -> None:
        self._move(key, self.quarantine_folder)
        log.warning("mail UID %s quarantined in %s: %s", key, self.quarantine_folder, reason)

    def _move(self, key: str, folder: str) -> None:
        self.imap.create(_quote(folder))  # fails harmlessly when it exists
        self._ok(self.imap.uid("COPY", key, _quote(folder)), f"UID COPY {key} {folder}")
        self._ok(self.imap.uid("STORE", key, "+FLAGS", "(\\Deleted)"), f"UID STORE {key}")
        if "UIDPLUS" in self._capabilities:  # expunge this message only
            self._ok(self.imap.uid("EXPUNGE", key), f"UID EXPUNGE {key}")
        else:
            self._ok(self.imap.expunge(), "EXPUNGE")

    @staticmethod
    def _ok(response: tuple[str, Sequence[object]], command: str) -> None:
        typ, data = response
        if typ != "OK":
            detail = b" ".join(d for d in data if isinstance(d, bytes)).decode(errors="replace")
            raise ImapError(f"IMAP {command} failed: {typ} {detail}")


def _quote(name: str) -> str:
    """A mailbox name as an IMAP string (quoted when it has spaces or specials)."""
    if re.fullmatch(r"[A-Za-z0-9_.\-/]+", name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
