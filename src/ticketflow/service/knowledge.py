"""Knowledge base (知识库 / FAQ): resolved problems kept as question and answer.

An entry is written by hand (:func:`add_entry`) or from a closed ticket
(:func:`entry_from_ticket`: the complaint text becomes the question, the reply the
answer), edited with a version check (:func:`edit_entry`), and retired rather than
deleted (:func:`retire_entry`). :func:`search` ranks active entries by the similarity of
their question to a text (jieba tokens scored with rapidfuzz, see
:mod:`ticketflow.service.similarity`); intake shows the best ones as suggestions while
the customer registers a problem.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ticketflow.engine import Engine
from ticketflow.errors import ConcurrencyError, InvalidDataError, NotFoundError, TaskStateError
from ticketflow.service.similarity import similarity, split_tokens, token_string, tokenize
from ticketflow.service.units import unit
from ticketflow.store.models import TicketRow
from ticketflow.store.service_models import ContactRow, KnowledgeRow
from ticketflow.users import User, as_user

#: Ticket data fields tried, in order, for an entry's question and answer.
QUESTION_FIELDS = ("summary", "description", "text")
ANSWER_FIELDS = ("reply", "result", "resolution", "answer")
CATEGORY_FIELDS = ("category_l1", "category_l2", "category_l3", "category_l4")
#: Suggestions scoring below this (0-100) are not shown.
DEFAULT_MIN_SCORE = 20.0


@dataclass(frozen=True)
class KnowledgeEntry:
    """A knowledge-base entry."""

    id: int
    question: str
    answer: str
    categories: tuple[str, ...]
    source_ticket: str | None
    author: str
    created_at: datetime
    updated_at: datetime
    updated_by: str | None
    retired_at: datetime | None
    retired_by: str | None
    version: int

    @property
    def active(self) -> bool:
        return self.retired_at is None

    @classmethod
    def from_row(cls, row: KnowledgeRow) -> KnowledgeEntry:
        return cls(
            row.id,
            row.question,
            row.answer,
            tuple(row.categories),
            row.source_ticket_number,
            row.author,
            row.created_at,
            row.updated_at,
            row.updated_by,
            row.retired_at,
            row.retired_by,
            row.lock_version,
        )


@dataclass(frozen=True)
class KnowledgeHit:
    """An entry found for a text, with its score (0-100)."""

    entry: KnowledgeEntry
    score: float


def _text(value: object, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidDataError(f"knowledge entry {what} must be a non-empty text")
    if len(value) > limit:
        raise InvalidDataError(
            f"knowledge entry {what} has {len(value)} characters; at most {limit} are allowed"
        )
    return value.strip()


def _categories(values: Iterable[str]) -> list[str]:
    if isinstance(values, str):
        raise InvalidDataError(f"categories must be a list, got the string {values!r}")
    out: list[str] = []
    for value in values:
        if not isinstance(value, str) or not value.strip() or len(value) > 200:
            raise InvalidDataError(f"a category must be 1-200 characters, got {value!r}")
        if value.strip() not in out:
            out.append(value.strip())
    return out


def add_entry(
    engine: Engine,
    *,
    question: str,
    answer: str,
    author: User | str,
    categories: Iterable[str] = (),
    source_ticket: str | None = None,
    session: Session | None = None,
) -> KnowledgeEntry:
    """Add an entry; ``source_ticket``, when given, must be a closed ticket."""
    q = _text(question, "question", 2000)
    a = _text(answer, "answer", 10_000)
    cats = _categories(categories)
    now = engine.clock.now()
    with unit(engine, session, write=True) as s:
        source: TicketRow | None = None
        if source_ticket is not None:
            source = _closed_ticket(s, source_ticket)
        row = KnowledgeRow(
            question=q,
            answer=a,
            categories=cats,
            tokens=token_string(q),
            source_ticket_id=source.id if source else None,
            source_ticket_number=source.number if source else None,
            author=as_user(author).id,
            created_at=now,
            updated_at=now,
        )
        s.add(row)
        s.flush()
        return KnowledgeEntry.from_row(row)


def _closed_ticket(s: Session, number: str) -> TicketRow:
    ticket = s.scalars(select(TicketRow).where(TicketRow.number == number)).first()
    if ticket is None:
        raise NotFoundError(f"ticket {number} does not exist")
    if ticket.status != "closed":
        raise TaskStateError(
            f"ticket {number} is {ticket.status}; only a resolved (closed) ticket can become "
            "a knowledge entry"
        )
    return ticket


def _first(data: Mapping[str, Any], fields: Sequence[str]) -> str | None:
    for name in fields:
        value = data.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def entry_from_ticket(
    engine: Engine,
    number: str,
    author: User | str,
    *,
    question: str | None = None,
    answer: str | None = None,
    categories: Iterable[str] | None = None,
    session: Session | None = None,
) -> KnowledgeEntry:
    """Make an entry from a closed ticket. Missing parts are taken from the ticket: the
    question from the text received at intake (or its ``summary``/``description``/subject),
    the answer from its ``reply``/``result``/``resolution``, the categories from its
    ``category_l1``-``category_l4``."""
    with unit(engine, session) as s:
        ticket = _closed_ticket(s, number)
        data = dict(ticket.data)
        if question is None:
            question = s.scalars(
                select(ContactRow.text)
                .where(ContactRow.ticket_id == ticket.id, ContactRow.outcome == "opened")
                .order_by(ContactRow.id)
            ).first()
            question = question or _first(data, QUESTION_FIELDS) or ticket.subject
        if answer is None:
            answer = _first(data, ANSWER_FIELDS)
        if categories is None:
            categories = [c for c in (data.get(f) for f in CATEGORY_FIELDS) if isinstance(c, str)]
    if not question:
        raise InvalidDataError(
            f"ticket {number} has no text to use as the question "
            f"(none of {', '.join(QUESTION_FIELDS)} nor a subject); pass question="
        )
    if not answer:
        raise InvalidDataError(
            f"ticket {number} has no answer in its data (none of {', '.join(ANSWER_FIELDS)}); "
            "pass answer="
        )
    return add_entry(
        engine,
        question=question,
        answer=answer,
        author=author,
        categories=categories,
        source_ticket=number,
        session=session,
    )


def _row(s: Session, entry_id: int) -> KnowledgeRow:
    row = s.get(KnowledgeRow, entry_id)
    if row is None:
        raise NotFoundError(f"knowledge entry {entry_id} does not exist")
    return row


def entry(engine: Engine, entry_id: int, *, session: Session | None = None) -> KnowledgeEntry:
    """One entry (NotFoundError if there is none with that id)."""
    with unit(engine, session) as s:
        return KnowledgeEntry.from_row(_row(s, entry_id))


def entries(
    engine: Engine,
    *,
    include_retired: bool = False,
    offset: int = 0,
    limit: int = 100,
    session: Session | None = None,
) -> list[KnowledgeEntry]:
    """Entries, newest first."""
    with unit(engine, session) as s:
        q = select(KnowledgeRow).order_by(KnowledgeRow.id.desc()).offset(offset).limit(limit)
        if not include_retired:
            q = q.where(KnowledgeRow.retired_at.is_(None))
        return [KnowledgeEntry.from_row(r) for r in s.scalars(q)]


def edit_entry(
    engine: Engine,
    entry_id: int,
    user: User | str,
    *,
    question: str | None = None,
    answer: str | None = None,
    categories: Iterable[str] | None = None,
    expected_version: int | None = None,
    session: Session | None = None,
) -> KnowledgeEntry:
    """Change an entry's question, answer or categories. With ``expected_version`` (the
    ``version`` the editor read) an edit made meanwhile by someone else is refused."""
    now = engine.clock.now()
    with unit(engine, session, write=True) as s:
        row = _row(s, entry_id)
        if expected_version is not None and row.lock_version != expected_version:
            raise ConcurrencyError(
                f"knowledge entry {entry_id} is at version {row.lock_version}, not "
                f"{expected_version}: {row.updated_by} changed it at {row.updated_at}; reload it"
            )
        if question is not None:
            row.question = _text(question, "question", 2000)
            row.tokens = token_string(row.question)
        if answer is not None:
            row.answer = _text(answer, "answer", 10_000)
        if categories is not None:
            row.categories = _categories(categories)
        row.updated_at = now
        row.updated_by = as_user(user).id
        s.flush()
        return KnowledgeEntry.from_row(row)


def retire_entry(
    engine: Engine, entry_id: int, user: User | str, *, session: Session | None = None
) -> KnowledgeEntry:
    """Retire an entry: it is kept, but no longer searched or suggested."""
    now = engine.clock.now()
    with unit(engine, session, write=True) as s:
        row = _row(s, entry_id)
        if row.retired_at is not None:
            raise TaskStateError(
                f"knowledge entry {entry_id} was already retired by {row.retired_by}"
            )
        row.retired_at = now
        row.retired_by = as_user(user).id
        row.updated_at = now
        row.updated_by = row.retired_by
        s.flush()
        return KnowledgeEntry.from_row(row)


@dataclass(frozen=True)
class _Indexed:
    id: int
    tokens: tuple[str, ...]
    chars: frozenset[str]
    categories: frozenset[str]
    retired: bool


class _SearchIndex:
    """The entries' tokens, kept in memory per database and reloaded only when the table
    changed: one aggregate query (count, sum of versions, highest id) tells, since every
    insert, edit and retirement changes one of them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: weakref.WeakKeyDictionary[
            object, tuple[tuple[int, int, int], list[_Indexed]]
        ] = weakref.WeakKeyDictionary()

    def entries(self, s: Session) -> list[_Indexed]:
        count, versions, last = s.execute(
            select(
                func.count(),
                func.coalesce(func.sum(KnowledgeRow.lock_version), 0),
                func.coalesce(func.max(KnowledgeRow.id), 0),
            )
        ).one()
        stamp = (int(count), int(versions), int(last))
        bind = s.get_bind()
        with self._lock:
            cached = self._cache.get(bind)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        rows = s.execute(
            select(
                KnowledgeRow.id,
                KnowledgeRow.tokens,
                KnowledgeRow.categories,
                KnowledgeRow.retired_at,
            ).order_by(KnowledgeRow.id)
        ).tuples()
        loaded = [
            _Indexed(
                entry_id,
                tuple(split_tokens(stored)),
                frozenset(stored.replace(" ", "")),
                frozenset(cats),
                retired is not None,
            )
            for entry_id, stored, cats, retired in rows
        ]
        with self._lock:
            self._cache[bind] = (stamp, loaded)
        return loaded


_INDEX = _SearchIndex()


def ranked(
    s: Session,
    tokens: Sequence[str],
    *,
    categories: Iterable[str] | None = None,
    limit: int = 5,
    min_score: float = DEFAULT_MIN_SCORE,
    include_retired: bool = False,
) -> list[KnowledgeHit]:
    """Entries whose question scores at least ``min_score`` against ``tokens``, best first.
    With ``categories`` only entries sharing one of them (or having none) are ranked."""
    wanted = set(categories or ())
    chars = set("".join(tokens))
    scored: list[tuple[float, int]] = []
    for item in _INDEX.entries(s):
        if item.retired and not include_retired:
            continue
        if wanted and item.categories and item.categories.isdisjoint(wanted):
            continue
        if item.chars.isdisjoint(chars):
            continue  # nothing in common: the score would be 0
        score = similarity(tokens, item.tokens)
        if score >= min_score:
            scored.append((score, item.id))
    scored.sort(key=lambda pair: (-pair[0], -pair[1]))
    top = scored[:limit]
    rows = {
        r.id: r
        for r in s.scalars(
            select(KnowledgeRow).where(KnowledgeRow.id.in_([entry_id for _, entry_id in top]))
        )
    }
    return [KnowledgeHit(KnowledgeEntry.from_row(rows[i]), score) for score, i in top]


def search(
    engine: Engine,
    text: str,
    *,
    categories: Iterable[str] | None = None,
    limit: int = 10,
    min_score: float = DEFAULT_MIN_SCORE,
    include_retired: bool = False,
    session: Session | None = None,
) -> list[KnowledgeHit]:
    """Entries matching ``text``, best first (see :func:`ranked`)."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidDataError("a knowledge search needs a non-empty text")
    if limit < 1:
        raise InvalidDataError(f"limit must be at least 1, got {limit}")
    with unit(engine, session) as s:
        return ranked(
            s,
            tokenize(text),
            categories=categories,
            limit=limit,
            min_score=min_score,
            include_retired=include_retired,
        )
