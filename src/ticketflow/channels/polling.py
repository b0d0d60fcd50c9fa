"""Polling a mail source for replies: :func:`poll` over any :class:`MailSource` (a Maildir,
an IMAP folder, or the host's own).

Each pending message is ingested (:func:`~ticketflow.channels.mail_in.ingest_message`); one
that was handled (completed, noted, refused or ignored) is marked done; one that cannot be
read at all is quarantined for a person to look at; a database failure leaves it pending for
the next poll.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.exc import DBAPIError

from ticketflow.channels.errors import MailFormatError
from ticketflow.channels.mail_in import IngestResult, ingest_message
from ticketflow.errors import ConcurrencyError, DatabaseUnavailableError

if TYPE_CHECKING:
    from ticketflow.engine import Engine

log = logging.getLogger("ticketflow.channels.mail")


class MailSource(Protocol):
    """Where replies come from: yields (key, raw bytes); told what became of each."""

    def pending(self) -> Iterator[tuple[str, bytes]]: ...

    def done(self, key: str) -> None: ...

    def quarantine(self, key: str, reason: str) -> None: ...


@dataclass
class PollReport:
    """What one :func:`poll` pass did."""

    results: list[IngestResult] = field(default_factory=list)
    quarantined: dict[str, str] = field(default_factory=dict)
    deferred: dict[str, str] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status and not r.duplicate)


def poll(engine: Engine, source: MailSource, limit: int | None = None) -> PollReport:
    """Ingest up to ``limit`` pending messages of ``source``; see :func:`ingest_message`."""
    report = PollReport()
    for n, (key, raw) in enumerate(source.pending()):
        if limit is not None and n >= limit:
            break
        try:
            result = ingest_message(engine, raw)
        except (DatabaseUnavailableError, ConcurrencyError, DBAPIError) as exc:
            report.deferred[key] = str(exc)  # left in place for the next poll
            log.warning("mail %s deferred: %s", key, exc)
            continue
        except MailFormatError as exc:
            source.quarantine(key, str(exc))
            report.quarantined[key] = str(exc)
            continue
        except Exception as exc:  # a message that breaks ingestion must not block the rest
            log.exception("mail %s could not be ingested", key)
            reason = f"{type(exc).__name__}: {exc}"
            source.quarantine(key, reason)
            report.quarantined[key] = reason
            continue
        source.done(key)
        report.results.append(result)
    return report
