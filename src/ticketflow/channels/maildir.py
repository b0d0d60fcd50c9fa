"""Replies delivered to a Maildir: :class:`MaildirSource`.

Messages wait in ``new/``; a message handled moves to ``cur/`` marked seen (``:2,S``); one
that cannot be read moves to the ``.quarantine`` folder (Maildir++). Files are moved, never
rewritten, so what arrived is kept byte for byte.
"""

from __future__ import annotations

import logging
import mailbox
import os
from collections.abc import Iterator
from pathlib import Path

from ticketflow.errors import InvalidDataError

log = logging.getLogger("ticketflow.channels.mail")


class MaildirSource:
    """The ``new/`` messages of the Maildir at ``path``; see the module doc."""

    def __init__(self, path: str | Path, quarantine_folder: str = "quarantine") -> None:
        self.path = Path(path)
        if not (self.path / "new").is_dir() or not (self.path / "cur").is_dir():
            raise InvalidDataError(f"{self.path} is not a Maildir (no new/ and cur/ folders)")
        self.box = mailbox.Maildir(self.path, factory=None, create=False)
        self.quarantine_folder = quarantine_folder

    def pending(self) -> Iterator[tuple[str, bytes]]:
        new = self.path / "new"
        for name in sorted(os.listdir(new)):
            if name.startswith("."):
                continue
            try:
                raw = (new / name).read_bytes()
            except FileNotFoundError:
                continue  # another poller took it meanwhile
            yield name, raw

    def done(self, key: str) -> None:
        target = self.path / "cur" / f"{key.split(':', 1)[0]}:2,S"
        self._move(key, target)

    def quarantine(self, key: str, reason: str) -> None:
        self.box.add_folder(self.quarantine_folder)  # Maildir++: ``.quarantine/``
        target = self.path / f".{self.quarantine_folder}" / "new" / key
        self._move(key, target)
        log.warning("mail %s quarantined in %s: %s", key, target, reason)

    def _move(self, key: str, target: Path) -> None:
        try:
            os.replace(self.path / "new" / key, target)
        except FileNotFoundError:
            log.info("mail %s was moved by another poller", key)
