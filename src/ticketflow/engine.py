"""The :class:`Engine`: one method per user action, each one transaction.

Every method opens a unit of work, reads what it needs through SQLAlchemy, steps the
ticket's workflow in memory, writes the new state, task rows and history events, and
commits (or, when the host passes its own ``session``, flushes inside a SAVEPOINT and
leaves the commit to the host). A failure anywhere rolls the whole action back.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine as SAEngine
from sqlalchemy import Table, bindparam, delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from ticketflow.definitions.loader import load_sources, read_sources, scan_references
from ticketflow.definitions.model import ProcessDefinition, UserTaskInfo
from ticketflow.errors import (
    ConcurrencyError,
    DatabaseUnavailableError,
    DataLimitError,
    InvalidDataError,
    MigrationError,
    NotFoundError,
    PermissionDeniedError,
    ProcessExecutionError,
    StoreError,
    TaskNotFoundError,
    TaskStateError,
    TicketflowError,
    TicketNotFoundError,
    UnknownProcessError,
)
from ticketflow.hooks.manager import make_plugin_manager
from ticketflow.hooks.types import (
    ConnectorCall,
    CustomerInfo,
    HookContext,
    Score,
    TaskProposal,
)
from ticketflow.jobs import JobRunner, JobView, RunReport
from ticketflow.outbox import DeliveryReport, IncidentView, Outbox, OutboxView
from ticketflow.runtime import connectors, migration, timers
from ticketflow.runtime.expressions import ExpressionError, evaluate, strip_el
from ticketflow.runtime.instance import Instance, StepResult
from ticketflow.store import database
from ticketflow.store.models import (
    DefinitionRow,
    EventRow,
    JobRow,
    ScoreRow,
    TaskCandidateRow,
    TaskRow,
    TicketRow,
    WorkflowStateRow,
)
from ticketflow.time.clock import Clock, SystemClock
from ticketflow.time.sla import SlaPolicy
from ticketflow.users import User, as_user
from ticketflow.views import (
    DefinitionView,
    EventView,
    MigrationReport,
    Page,
    ScoreView,
    TaskView,
    TicketView,
)

log = logging.getLogger("ticketflow.engine")

#: Intake channels known out of the box (``Engine(channels=...)`` replaces them).
CHANNELS = (
    "hotline",
    "voice_mail",
    "fax",
    "sms",
    "web",
    "email",
    "account_manager",
    "business_hall",
    "social",
    "app",
    "portal",
    "monitoring",  # opened by the system from a list or alarm (no-upload, visits)
)
#: Default ticket priority by customer tier (0-100, higher is more urgent).
TIER_PRIORITY = {"vip": 90, "key_account": 80, "gold": 70, "silver": 60, "ordinary": 50}
DEFAULT_PRIORITY = 50
OPEN_STATES = ("open", "suspended")
TASK_ORDER = {
    "due_at": TaskRow.due_at,
    "priority": TaskRow.priority,
    "created_at": TaskRow.created_at,
    "id": TaskRow.id,
}
MAX_PAGE = 1000

# Statements of every step, built once (construction and cache keys cost more than running).
_LOCK_THROUGH_TASK = (
    select(TicketRow, WorkflowStateRow)
    .join(TaskRow, TaskRow.ticket_id == TicketRow.id)
    .join(WorkflowStateRow, WorkflowStateRow.ticket_id == TicketRow.id)
    .where(TaskRow.id == bindparam("task_id"))
    .with_for_update(of=TicketRow)
    .execution_options(populate_existing=True, autoflush=False)
)
_OPEN_TASKS = (
    select(TaskRow)
    .where(TaskRow.ticket_id == bindparam("ticket_id"), TaskRow.state.in_(OPEN_STATES))
    .order_by(TaskRow.id)
    .execution_options(populate_existing=True)
)

_NO_PARALLEL = text("SET LOCAL max_parallel_workers_per_gather = 0")
_CANCEL_TASK_SLA = (
    update(JobRow)
    .where(
        JobRow.ticket_id == bindparam("of_ticket"),
        JobRow.state == "pending",
        JobRow.kind == "sla",
        JobRow.key.like(bindparam("key_pattern")),
    )
    .values(state="cancelled", done_at=bindparam("cancelled_at"))
    .execution_options(synchronize_session=False, autoflush=False)
)
_CANCEL_TICKET_JOBS = (
    update(JobRow)
    .where(JobRow.ticket_id == bindparam("of_ticket"), JobRow.state == "pending")
    .values(state="cancelled", done_at=bindparam("cancelled_at"))
    .execution_options(synchronize_session=False, autoflush=False)
)
_DROP_CANDIDATES = (
    delete(TaskCandidateRow)
    .where(TaskCandidateRow.task_id == bindparam("task_id"))
    .execution_options(synchronize_session=False, autoflush=False)
)

#: Session.info key of the history events a unit of work has recorded but not written.
_PENDING_EVENTS = "ticketflow_pending_events"
_EVENTS: Table = EventRow.__table__  # type: ignore[assignment]

# Definitions parsed once per process, shared by every Engine: (content hash, process id).
_PARSED: dict[tuple[str, str], ProcessDefinition] = {}


class Engine:
    """An embeddable work-order engine.

    Build it from a database URL (``Engine("sqlite:///tickets.db")``, the default is an
    SQLite file ``ticketflow.db`` in the working directory) or from the host's own
    SQLAlchemy engine (``Engine(bind=host_engine)``). Any method also accepts
    ``session=`` to run inside the host's session and transaction.

    ``auto_migrate`` creates or upgrades ticketflow's tables on start; it defaults to
    True for SQLite and False elsewhere (run ``ticketflow db upgrade`` in production).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        bind: SAEngine | None = None,
        clock: Clock | None = None,
        plugins: Iterable[object] = (),
        load_entry_points: bool = True,
        auto_migrate: bool | None = None,
        channels: Sequence[str] = CHANNELS,
        max_data_bytes: int = 256 * 1024,
        outbox_max_attempts: int = 6,
        outbox_backoff: timedelta = timedelta(seconds=30),
        customer_lookup_timeout: float = 5.0,
        sla: SlaPolicy | None = None,
    ) -> None:
        if url is not None and bind is not None:
            raise InvalidDataError("pass either a database url or bind=, not both")
        self._owns_bind = bind is None
        self.bind: SAEngine = (
            bind if bind is not None else database.make_engine(url or "sqlite:///ticketflow.db")
        )
        if auto_migrate is None:
            auto_migrate = self.bind.dialect.name == "sqlite"
        if auto_migrate:
            database.upgrade(self.bind)
        else:
            database.check_schema(self.bind)
        self.clock: Clock = clock or SystemClock()
        self.plugins = make_plugin_manager(plugins, entry_points=load_entry_points)
        self.channels = tuple(channels)
        self.max_data_bytes = max_data_bytes
        self._sessions = sessionmaker(self.bind, expire_on_commit=False)
        self._read_sessions = sessionmaker(
            self.bind.execution_options(**{database.READ_ONLY: True}), expire_on_commit=False
        )
        self._definitions: dict[int, ProcessDefinition] = {}
        self._deployed: set[str] = set()  # process ids known to have a deployed version
        self.outbox = Outbox(self, max_attempts=outbox_max_attempts, backoff=outbox_backoff)
        self.customer_lookup_timeout = customer_lookup_timeout
        self.job_runner = JobRunner(self)
        self.sla = sla

    def close(self) -> None:
        """Release the connection pool (only when the engine created it)."""
        if self._owns_bind:
            self.bind.dispose()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ units of work

    @contextmanager
    def _unit(self, session: Session | None, *, read_only: bool = False) -> Iterator[Session]:
        try:
            if session is not None and read_only:
                # A read writes nothing, so there is nothing to undo: it runs in the host's
                # transaction as it stands (a SAVEPOINT and its RELEASE would double the
                # statements of a worklist page read inside a step or a host's unit).
                yield session
                return
            if session is not None:
                # Units nest (a hook may call the engine with the step's session): an inner
                # unit writes what is pending at its end, or forgets only its own events.
                pending = session.info.setdefault(_PENDING_EVENTS, [])
                mark = len(pending)
                try:
                    with session.begin_nested():
                        yield session
                        self._write_events(session)
                except BaseException:
                    del pending[mark:]
                    raise
                return
            factory = self._read_sessions if read_only else self._sessions
            with factory() as own, own.begin():
                yield own
                self._write_events(own)
        except StaleDataError:
            raise ConcurrencyError(
                "the ticket or task was changed by another action at the same time; "
                "nothing was saved - reload it and try again"
            ) from None
        except DBAPIError as exc:
            raise _database_error(exc) from exc

    # ------------------------------------------------------------------ definitions

    def deploy(
        self, *paths: str | Path, deployed_by: str | None = None, session: Session | None = None
    ) -> list[DefinitionView]:
        """Deploy the BPMN files at ``paths`` (files or folders).

        Files are parsed together, so call activities resolve across them; a called
        process not among them resolves to its latest deployed version. A process whose
        file (and called processes) are unchanged keeps its current version; otherwise it
        becomes a new version, used by tickets opened from then on, while running
        tickets stay on theirs.
        """
        batch = read_sources(paths)
        defined, called = scan_references(batch)
        views = []
        with self._unit(session) as s:
            extra_rows = {
                pid: row
                for pid in sorted(called - defined)
                if (row := self._latest_row(s, pid)) is not None
            }
            extra = [(r.filename, r.source) for r in extra_rows.values()]
            loaded = load_sources(batch + extra, only={name for name, _ in batch})
            rows: dict[str, DefinitionRow] = dict(extra_rows)
            # Callees first, so a caller can pin the versions it calls.
            for definition in sorted(loaded, key=lambda d: len(d.called)):
                latest = self._latest_row(s, definition.process_id)
                if latest is not None and latest.content_hash == definition.content_hash:
                    row = latest
                else:
                    row = DefinitionRow(
                        process_id=definition.process_id,
                        version=(latest.version + 1) if latest else 1,
                        name=definition.name,
                        filename=definition.filename,
                        content_hash=definition.content_hash,
                        source=definition.source,
                        deployed_at=self.clock.now(),
                        deployed_by=deployed_by,
                        dependencies={},
                    )
                    s.add(row)
                    s.flush()
                rows[definition.process_id] = row
                _PARSED.setdefault((definition.content_hash, definition.process_id), definition)
            for definition in loaded:
                row = rows[definition.process_id]
                if not row.dependencies and definition.called:
                    row.dependencies = {pid: rows[pid].id for pid in definition.called}
                views.append(DefinitionView.from_row(row))
                self._schedule_starts(s, definition, row)
        return sorted(views, key=lambda v: v.process_id)

    def definitions(
        self, process_id: str | None = None, *, session: Session | None = None
    ) -> list[DefinitionView]:
        """Deployed definitions, every version, by process id then version."""
        with self._unit(session, read_only=True) as s:
            q = select(DefinitionRow).order_by(DefinitionRow.process_id, DefinitionRow.version)
            if process_id is not None:
                q = q.where(DefinitionRow.process_id == process_id)
            return [DefinitionView.from_row(r) for r in s.scalars(q)]

    def definition(
        self, process_id: str, version: int | None = None, *, session: Session | None = None
    ) -> ProcessDefinition:
        """A deployed version of ``process_id`` (the latest by default), parsed.

        Raises UnknownProcessError when the process was never deployed, NotFoundError
        when it has no such version.
        """
        with self._unit(session, read_only=True) as s:
            if version is None:
                row = self._latest_row(s, process_id)
            else:
                row = s.scalars(
                    select(DefinitionRow).where(
                        DefinitionRow.process_id == process_id, DefinitionRow.version == version
                    )
                ).first()
                if row is None and self._latest_row(s, process_id) is not None:
                    raise NotFoundError(f"process '{process_id}' has no version {version}")
            if row is None:
                raise UnknownProcessError(process_id, self._known_processes(s))
            return self._definition(s, row.id)

    def _latest_row(self, s: Session, process_id: str) -> DefinitionRow | None:
        return s.scalars(
            select(DefinitionRow)
            .where(DefinitionRow.process_id == process_id)
            .order_by(DefinitionRow.version.desc())
            .limit(1)
        ).first()

    def _known_processes(self, s: Session) -> list[str]:
        return list(s.scalars(select(DefinitionRow.process_id).distinct()))

    def _definition(self, s: Session, definition_id: int) -> ProcessDefinition:
        cached = self._definitions.get(definition_id)
        if cached is not None:
            return cached
        row = s.get(DefinitionRow, definition_id)
        if row is None:  # pragma: no cover - foreign key guarantees it
            raise UnknownProcessError(f"definition #{definition_id}")
        parsed = _PARSED.get((row.content_hash, row.process_id))
        if parsed is None:
            deps = [s.get(DefinitionRow, i) for i in row.dependencies.values()]
            sources = [(row.filename, row.source)]
            sources += [(d.filename, d.source) for d in deps if d is not None]
            for d in load_sources(sources, only={row.filename}):
                _PARSED.setdefault((d.content_hash, d.process_id), d)
            parsed = _PARSED.get((row.content_hash, row.process_id))
            if parsed is None:
                raise StoreError(
                    f"definition {row.process_id} v{row.version} no longer parses to the "
                    "content it was deployed with"
                )
        definition = replace(parsed, definition_id=row.id, version=row.version)
        self._definitions[definition_id] = definition
        return definition

    # ------------------------------------------------------------------ tickets

    def open_ticket(
        self,
        process_id: str,
        *,
        customer: str,
        channel: str,
        data: Mapping[str, Any] | None = None,
        customer_tier: str | None = None,
        priority: int | None = None,
        region: str | None = None,
        subject: str | None = None,
        business_key: str | None = None,
        user: User | str | None = None,
        session: Session | None = None,
    ) -> TicketView:
        """Open a ticket of ``process_id`` for ``customer`` received at ``channel``.

        ``data`` becomes the ticket's initial process data (next to ``customer_id``,
        ``customer_tier``, ``channel``, ``region``, ``priority`` and ``ticket_number``).
        ``business_key`` is the host's own key for the case (an order or site id); tickets
        can be looked up by it with :meth:`tickets`.
        Returns the ticket with its first open tasks and a number such as
        ``TS-20261123-000042``.
        """
        actor = as_user(user).id if user is not None else None
        if not isinstance(customer, str) or not customer.strip() or len(customer) > 100:
            raise InvalidDataError(
                f"customer must be a non-empty id of at most 100 characters, got {customer!r}"
            )
        if channel not in self.channels:
            raise InvalidDataError(
                f"unknown channel {channel!r}; known channels: {', '.join(self.channels)}"
            )
        if business_key is not None and (
            not isinstance(business_key, str) or not 0 < len(business_key) <= 200
        ):
            raise InvalidDataError(
                f"business_key must be a string of 1-200 characters, got {business_key!r}"
            )
        if process_id not in self._deployed:  # before asking the CRM about the customer
            with self._unit(session, read_only=True) as s:
                if self._latest_row(s, process_id) is None:
                    raise UnknownProcessError(process_id, self._known_processes(s))
        customer_info, lookup_error = self._lookup_customer(customer)
        if customer_info is not None:
            customer_tier = customer_tier or customer_info.tier
            region = region or customer_info.region
        if priority is None:
            priority = TIER_PRIORITY.get(customer_tier or "", DEFAULT_PRIORITY)
        if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 100:
            raise InvalidDataError(f"priority must be an integer from 0 to 100, got {priority!r}")
        initial = self._check_data(data or {}, "open_ticket data")
        now = self.clock.now()
        with self._unit(session) as s:
            drow = self._latest_row(s, process_id)
            if drow is None:
                raise UnknownProcessError(process_id, self._known_processes(s))
            self._deployed.add(process_id)  # versions are never removed
            definition = self._definition(s, drow.id)
            ticket = TicketRow(
                definition_id=drow.id,
                process_id=process_id,
                status="open",
                customer_id=customer,
                customer_tier=customer_tier,
                channel=channel,
                priority=priority,
                region=region,
                subject=subject,
                business_key=business_key,
                data={},
                opened_by=actor,
                opened_at=now,
                updated_at=now,
                paused_seconds=0,
            )
            s.add(ticket)
            s.flush()
            ticket.number = f"{definition.number_prefix}-{now:%Y%m%d}-{ticket.id:06d}"
            process_data = {
                **definition.data_defaults,
                "ticket_number": ticket.number,
                "customer_id": customer,
                "customer_tier": customer_tier,
                "channel": channel,
                "region": region,
                "priority": priority,
                "business_key": business_key,
                **({"customer": customer_info.to_data()} if customer_info else {}),
                **initial,
            }
            try:
                ctx = self._context(s, now, actor, ticket, drow.version)
                with self._connectors(ctx):
                    instance, result = Instance.start(definition, process_data, ticket.number)
                self._event(
                    s,
                    ticket,
                    now,
                    actor,
                    "ticket_opened",
                    None,
                    None,
                    {
                        "process_id": process_id,
                        "version": drow.version,
                        "channel": channel,
                        "customer_id": customer,
                        "data": initial,
                        "passed": result.passed,
                        **({"scripts": result.scripted} if result.scripted else {}),
                        **({"customer_lookup_error": lookup_error} if lookup_error else {}),
                    },
                )
                ticket.data = instance.current_data()
                self.plugins.hook.ticketflow_ticket_opened(
                    ctx=ctx, ticket=self._ticket_view(s, ticket, [])
                )
                # A new ticket has no task rows and no timer jobs yet.
                open_rows = self._after_step(
                    s,
                    ticket,
                    definition,
                    instance,
                    result,
                    now,
                    actor,
                    ctx,
                    open_rows=[],
                    timers_before=set(),
                )
                self._flush_context(s, ctx, ticket)
                s.add(
                    WorkflowStateRow(
                        ticket_id=ticket.id, state=instance.dump(), tree_size=instance.tree_size()
                    )
                )
                s.flush()
            except ProcessExecutionError as exc:
                # The ticket was never stored: do not name its (rolled back) number.
                raise ProcessExecutionError(
                    f"{exc.reason} (while opening a {process_id} ticket; nothing was stored)",
                    ticket=None,
                    element_id=exc.element_id,
                ) from None
            return self._ticket_view(s, ticket, open_rows)

    def ticket(self, number: str, *, session: Session | None = None) -> TicketView:
        """The ticket with its current data and open tasks."""
        with self._unit(session, read_only=True) as s:
            return self._ticket_view(s, self._ticket_row(s, number))

    def tickets(
        self,
        *,
        customer: str | Sequence[str] | None = None,
        process_id: str | None = None,
        status: str | Sequence[str] | None = None,
        business_key: str | None = None,
        opened_after: datetime | None = None,
        opened_before: datetime | None = None,
        offset: int = 0,
        limit: int = 50,
        session: Session | None = None,
    ) -> Page[TicketView]:
        """Tickets, newest first, filtered by customer (one or several), process, status,
        business key and opening time (without their tasks)."""
        self._check_page(offset, limit)
        with self._unit(session, read_only=True) as s:
            q = select(TicketRow)
            if isinstance(customer, str):
                q = q.where(TicketRow.customer_id == customer)
            elif customer is not None:
                q = q.where(TicketRow.customer_id.in_(list(customer)))
            if opened_after is not None:
                q = q.where(TicketRow.opened_at >= opened_after)
            if opened_before is not None:
                q = q.where(TicketRow.opened_at < opened_before)
            if process_id is not None:
                q = q.where(TicketRow.process_id == process_id)
            if business_key is not None:
                q = q.where(TicketRow.business_key == business_key)
            if status is not None:
                q = q.where(
                    TicketRow.status.in_([status] if isinstance(status, str) else list(status))
                )
            total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
            rows = s.scalars(q.order_by(TicketRow.id.desc()).offset(offset).limit(limit)).all()
            versions = self._versions(s, {r.definition_id for r in rows})
            items = tuple(TicketView.from_row(r, versions[r.definition_id]) for r in rows)
            return Page(items, total, offset, limit)

    def history(self, number: str, *, session: Session | None = None) -> list[EventView]:
        """Every event of the ticket, oldest first: who did what, when, with which data."""
        with self._unit(session, read_only=True) as s:
            ticket = self._ticket_row(s, number)
            rows = s.scalars(
                select(EventRow).where(EventRow.ticket_id == ticket.id).order_by(EventRow.id)
            )
            return [EventView.from_row(r, number) for r in rows]

    def suspend(
        self,
        number: str,
        user: User | str,
        *,
        reason: str | None = None,
        session: Session | None = None,
    ) -> TicketView:
        """Suspend (挂起) an open ticket: its tasks can be neither claimed nor completed."""
        return self._set_suspended(number, as_user(user), True, reason, session)

    def resume(
        self,
        number: str,
        user: User | str,
        *,
        reason: str | None = None,
        session: Session | None = None,
    ) -> TicketView:
        """Resume a suspended ticket."""
        return self._set_suspended(number, as_user(user), False, reason, session)

    def _set_suspended(
        self, number: str, user: User, suspend: bool, reason: str | None, session: Session | None
    ) -> TicketView:
        action = "suspend" if suspend else "resume"
        want, become = ("open", "suspended") if suspend else ("suspended", "open")
        past = "suspended" if suspend else "resumed"
        now = self.clock.now()
        with self._unit(session) as s:
            ticket = self._ticket_row(s, number, lock=True)
            if ticket.status != want:
                raise TaskStateError(
                    f"ticket {number} is {ticket.status}; "
                    f"only {'an' if want == 'open' else 'a'} {want} ticket can be {past}"
                )
            self._authorize(s, user, action, ticket, None)
            ticket.status = become
            ticket.updated_at = now
            for task in self._open_task_rows(s, ticket.id):
                task.state = become
            if suspend:
                self._pause_clock(s, ticket, now)
            else:
                self._resume_clock(s, ticket, now)
            ctx = self._context(s, now, user.id, ticket, None)
            view = self._ticket_view(s, ticket)
            if suspend:
                self.plugins.hook.ticketflow_ticket_suspended(ctx=ctx, ticket=view, reason=reason)
            else:
                self.plugins.hook.ticketflow_ticket_resumed(ctx=ctx, ticket=view, reason=reason)
            self._flush_context(s, ctx, ticket)
            self._event(
                s,
                ticket,
                now,
                user.id,
                f"ticket_{past}",
                None,
                None,
                {"reason": reason} if reason else {},
            )
            s.flush()
            return self._ticket_view(s, ticket)

    def migrate(
        self,
        number: str,
        user: User | str,
        *,
        to_version: int | None = None,
        session: Session | None = None,
    ) -> TicketView:
        """Move a running ticket to another version of its process (the latest by default).

        Allowed when every element the ticket waits at exists in the target version;
        otherwise :class:`MigrationError` lists what blocks it and nothing changes. Open
        tasks keep their id and assignee and take the target version's name, form and
        candidate groups.
        """
        actor = as_user(user)
        now = self.clock.now()
        with self._unit(session) as s:
            ticket = self._ticket_row(s, number, lock=True)
            if ticket.status not in OPEN_STATES:
                raise TaskStateError(
                    f"ticket {number} is {ticket.status}; only running tickets move"
                )
            self._authorize(s, actor, "migrate", ticket, None)
            target_row = self._version_row(s, ticket.process_id, to_version)
            current = self._definition(s, ticket.definition_id)
            if target_row.id == ticket.definition_id:
                raise MigrationError(f"ticket {number} is already on version {current.version}")
            target = self._definition(s, target_row.id)
            state_row = s.get(WorkflowStateRow, ticket.id)
            assert state_row is not None
            with timers.clock_in_force(self.clock):
                instance = migration.migrate(
                    Instance.load(current, state_row.state, number), target
                )
            ticket.definition_id = target_row.id
            ticket.updated_at = now
            self._event(
                s,
                ticket,
                now,
                actor.id,
                "ticket_migrated",
                None,
                None,
                {"from_version": current.version, "to_version": target.version},
            )
            for row in self._open_task_rows(s, ticket.id):
                info = target.user_tasks.get(row.element_id)
                if info is None:  # pragma: no cover - blockers() refused it already
                    continue
                row.definition_id = target_row.id
                row.name = info.name
                row.lane = info.lane
                if row.details and "dispatch" in row.details:
                    continue  # a dispatch plugin chose the groups; the new version keeps them
                groups, _ = self._assignment(info, instance.current_data(), number)
                if ",".join(groups) != row.candidate_groups:
                    self._task_closed(s, row, now)
                    s.flush()
                    row.candidate_groups = ",".join(groups)
                    for group in groups:
                        s.add(TaskCandidateRow(task_id=row.id, group_name=group))
            ctx = self._context(s, now, actor.id, ticket, target.version)
            self._sync_tasks(s, ticket, target, instance, now, actor.id, ctx)
            self._sync_timers(s, ticket, instance, now)
            self._flush_context(s, ctx, ticket)
            ticket.data = instance.current_data()
            state_row.state = instance.dump()
            state_row.tree_size = instance.tree_size()
            s.flush()
            return self._ticket_view(s, ticket)

    def migrate_all(
        self,
        process_id: str,
        user: User | str,
        *,
        from_version: int,
        to_version: int | None = None,
    ) -> MigrationReport:
        """Migrate every running ticket of ``process_id`` v``from_version``, one transaction
        each; report which moved and why the others could not."""
        with self._unit(None, read_only=True) as s:
            source = self._version_row(s, process_id, from_version)
            numbers = list(
                s.scalars(
                    select(TicketRow.number)
                    .where(TicketRow.definition_id == source.id, TicketRow.status.in_(OPEN_STATES))
                    .order_by(TicketRow.id)
                )
            )
        migrated: list[str] = []
        refused: dict[str, list[str]] = {}
        for number in numbers:
            assert number is not None
            try:
                self.migrate(number, user, to_version=to_version)
                migrated.append(number)
            except MigrationError as exc:
                refused[number] = exc.reasons or [str(exc)]
        return MigrationReport(tuple(migrated), refused)

    def _version_row(self, s: Session, process_id: str, version: int | None) -> DefinitionRow:
        if version is None:
            row = self._latest_row(s, process_id)
        else:
            row = s.scalars(
                select(DefinitionRow).where(
                    DefinitionRow.process_id == process_id, DefinitionRow.version == version
                )
            ).first()
        if row is None:
            if self._latest_row(s, process_id) is None:
                raise UnknownProcessError(process_id, self._known_processes(s))
            raise MigrationError(f"process '{process_id}' has no version {version}")
        return row

    def customer_history(
        self, customer: str, *, limit: int = 50, session: Session | None = None
    ) -> Page[TicketView]:
        """The customer's tickets across every process and channel, newest first
        (一点投诉: at intake, the earlier and open tickets of the caller)."""
        return self.tickets(customer=customer, limit=limit, session=session)

    # ------------------------------------------------------------------ jobs and timers

    def run_due(self, limit: int = 100) -> RunReport:
        """Fire due jobs (BPMN timers). Safe to run in several processes at once."""
        return self.job_runner.run_due(limit)

    def jobs(
        self,
        *,
        state: str | None = "pending",
        ticket: str | None = None,
        limit: int = 100,
        session: Session | None = None,
    ) -> list[JobView]:
        """Jobs by due time: pending timers, done, dead."""
        with self._unit(session, read_only=True) as s:
            ticket_id = self._ticket_row(s, ticket).id if ticket is not None else None
            return self.job_runner.jobs(s, state=state, ticket_id=ticket_id, limit=limit)

    def _schedule_starts(
        self, s: Session, definition: ProcessDefinition, row: DefinitionRow
    ) -> None:
        """Keep one pending ``start`` job per timer start event of the latest version."""
        now = self.clock.now()
        wanted: dict[str, JobRow] = {}
        with timers.clock_in_force(self.clock):
            for element, kind, text in definition.start_timers:
                at = timers.next_occurrence(kind, text, now, row.deployed_at)
                if at is None:
                    continue
                key = f"start:{definition.process_id}:{element}:{at.isoformat()}"
                wanted[key] = JobRow(
                    ticket_id=None,
                    kind="start",
                    key=key,
                    element_id=element,
                    due_at=at,
                    state="pending",
                    attempts=0,
                    created_at=now,
                    payload={
                        "process_id": definition.process_id,
                        "timer": kind,
                        "text": text,
                        "deployed_at": row.deployed_at.isoformat(),
                    },
                )
        pending = s.scalars(
            select(JobRow).where(
                JobRow.kind == "start",
                JobRow.state == "pending",
                JobRow.key.like(f"start:{definition.process_id}:%"),
            )
        )
        for job in pending:
            if job.key in wanted:
                del wanted[job.key]
            else:
                job.state = "cancelled"
                job.done_at = now
        for job in wanted.values():
            s.add(job)

    def _fire_start(self, s: Session, job: JobRow, now: datetime) -> str:
        """Open the ticket a timer start event calls for, and schedule the next one."""
        process_id = job.payload["process_id"]
        latest = self._latest_row(s, process_id)
        if latest is None:
            return "skipped"
        definition = self._definition(s, latest.id)
        timer = next((t for t in definition.start_timers if t[0] == job.element_id), None)
        if timer is None:
            return "skipped"  # the latest version no longer starts on this timer
        self.open_ticket(
            process_id,
            customer="system",
            channel="monitoring",
            session=s,
            subject=f"{definition.name}: {job.element_id} at {job.due_at.isoformat()}",
            data={"scheduled_at": job.due_at.isoformat()},
        )
        deployed = datetime.fromisoformat(job.payload["deployed_at"])
        with timers.clock_in_force(self.clock):
            following = timers.next_occurrence(
                timer[1], timer[2], job.due_at + timedelta(microseconds=1), deployed
            )
        if following is not None:
            key = f"start:{process_id}:{job.element_id}:{following.isoformat()}"
            if s.scalars(select(JobRow.id).where(JobRow.key == key)).first() is None:
                s.add(
                    JobRow(
                        ticket_id=None,
                        kind="start",
                        key=key,
                        element_id=job.element_id,
                        due_at=following,
                        state="pending",
                        attempts=0,
                        created_at=now,
                        payload=dict(job.payload),
                    )
                )
        return "fired"

    @staticmethod
    def _timer_keys(ticket: TicketRow, instance: Instance) -> set[str]:
        """The job keys of the timers ``instance`` waits on."""
        return set(Engine._waiting_timers(ticket, instance))

    @staticmethod
    def _waiting_timers(ticket: TicketRow, instance: Instance) -> dict[str, timers.WaitingTimer]:
        """The timers ``instance`` waits on, by the key of their job."""
        return {
            f"timer:{ticket.id}:{t.spiff_task_id}:{t.due_at.isoformat()}": t
            for t in timers.waiting_timers(instance.workflow)
        }

    def _sync_timers(
        self,
        s: Session,
        ticket: TicketRow,
        instance: Instance,
        now: datetime,
        before: set[str] | None = None,
    ) -> None:
        """One pending job per timer the ticket waits on; jobs of timers gone are cancelled.

        ``before``: the keys the ticket waited on before the step, whose jobs are pending;
        when the step left them as they were there is nothing to do.
        """
        waiting = self._waiting_timers(ticket, instance)
        if before is not None and before == waiting.keys():
            return
        pending = list(
            s.scalars(
                select(JobRow).where(
                    JobRow.ticket_id == ticket.id, JobRow.kind == "timer", JobRow.state == "pending"
                )
            )
        )
        for job in pending:
            if job.key not in waiting:
                job.state = "cancelled"
                job.done_at = now
        known = {job.key for job in pending}
        for key, timer in waiting.items():
            if key in known:
                continue
            s.add(
                JobRow(
                    ticket_id=ticket.id,
                    kind="timer",
                    key=key,
                    element_id=timer.element_id,
                    due_at=timer.due_at,
                    state="pending",
                    attempts=0,
                    payload={"spiff_task_id": timer.spiff_task_id},
                    created_at=now,
                )
            )

    def _fire_job(self, job_id: int, worker: str) -> str:
        """Fire one claimed job in its own transaction; "fired" or "skipped"."""
        now = self.clock.now()
        with self._unit(None) as s:
            job = s.get(JobRow, job_id, with_for_update=True)
            if job is None or job.state != "pending" or job.lease_owner != worker:
                return "skipped"  # done by someone else meanwhile
            job.state = "done"
            job.done_at = now
            job.attempts += 1
            job.lease_owner = job.lease_until = None
            if job.kind == "start":
                return self._fire_start(s, job, now)
            ticket = self._lock_ticket(s, job.ticket_id) if job.ticket_id is not None else None
            if ticket is None or ticket.status != "open":
                job.last_error = f"ticket is {ticket.status if ticket else 'gone'}; not fired"
                if ticket is not None and ticket.status == "suspended":
                    job.state = "pending"  # fires once the ticket is resumed
                    job.due_at = now + timedelta(minutes=5)
                    job.done_at = None
                return "skipped"
            definition = self._definition(s, ticket.definition_id)
            if job.kind == "sla":
                ctx = self._context(s, now, None, ticket, definition.version)
                outcome = self._fire_sla(s, ticket, job, now, ctx)
                self._flush_context(s, ctx, ticket)
                return outcome
            state_row = s.get(WorkflowStateRow, ticket.id)
            assert state_row is not None
            instance = Instance.load(definition, state_row.state, ticket.number)
            before = dict(ticket.data)
            ctx = self._context(s, now, None, ticket, definition.version)
            if job.kind == "continue":
                with self._connectors(ctx):
                    result = instance.continue_at(job.payload["spiff_task_id"])
                if not result.passed:
                    return "skipped"
                self._event(
                    s,
                    ticket,
                    now,
                    None,
                    "continued",
                    job.element_id,
                    None,
                    {
                        "changes": _diff(before, instance.current_data()),
                        "passed": result.passed,
                        **({"scripts": result.scripted} if result.scripted else {}),
                    },
                )
                self._after_step(s, ticket, definition, instance, result, now, None, ctx)
                state_row.state = instance.dump()
                state_row.tree_size = instance.tree_size()
                self._flush_context(s, ctx, ticket)
                return "fired"
            armed = timers.waiting_timers(instance.workflow)
            with self._connectors(ctx):
                result = instance.fire_timers()
            still = set(timers.waiting_timers(instance.workflow))
            # Fired: was due, and is no longer waiting at that instant (done, or a cycle
            # moved on to its next occurrence).
            fired = list(
                dict.fromkeys(t.element_id for t in armed if t.due_at <= now and t not in still)
            )
            if not fired:
                # Not due after all (a timer fires strictly after its due instant): the
                # job waits a moment longer; nothing of this attempt is kept.
                job.state = "pending"
                job.done_at = None
                job.due_at = max(job.due_at, now) + timedelta(milliseconds=1)
                return "skipped"
            details = {
                "changes": _diff(before, instance.current_data()),
                "passed": result.passed,
                **({"scripts": result.scripted} if result.scripted else {}),
            }
            for element in fired:  # every timer due by now fires in this one step
                self._event(s, ticket, now, None, "timer_fired", element, None, details)
            self._after_step(s, ticket, definition, instance, result, now, None, ctx)
            state_row.state = instance.dump()
            state_row.tree_size = instance.tree_size()
            self._flush_context(s, ctx, ticket)
            return "fired"

    # ------------------------------------------------------------------ SLA

    def _sla_ticket(self, s: Session, ticket: TicketRow, now: datetime) -> None:
        """(Re)compute the ticket's due time; keep one breach job at it."""
        policy = self.sla
        assert policy is not None
        limit = policy.ticket_limit(policy.urgency(ticket.data), ticket.customer_tier)
        if limit is None:
            return
        paused = timedelta(seconds=ticket.paused_seconds or 0)
        due = policy.due(ticket.opened_at, limit + paused, ticket.region)
        if ticket.due_at == due:
            return
        had_due = ticket.due_at is not None
        ticket.due_at = due
        # A ticket without a due time had no ticket-scope breach job to cancel.
        for job in self._sla_jobs(s, ticket.id, ("pending",)) if had_due else ():
            if job.payload.get("scope") == "ticket":
                job.state = "cancelled"
                job.done_at = now
        if ticket.sla_breached_at is None:
            s.add(
                JobRow(
                    ticket_id=ticket.id,
                    kind="sla",
                    key=f"sla:ticket:{ticket.id}:{due.isoformat()}",
                    element_id=None,
                    due_at=due,
                    state="pending",
                    attempts=0,
                    payload={"scope": "ticket"},
                    created_at=now,
                )
            )

    def _sla_task(self, s: Session, ticket: TicketRow, row: TaskRow, now: datetime) -> None:
        """The task's reminder and breach jobs, by its due time (the BPMN's, a callback
        plan's or the policy's step limit, set before the INSERT); none without one."""
        policy = self.sla
        assert policy is not None
        if row.due_at is None:
            return  # no step limit (``_sync_tasks`` asked the policy before the INSERT)
        calendar = policy.calendar(ticket.region)
        window = calendar.business_time_between(now, row.due_at)
        marks: list[tuple[float | None, datetime]] = [
            (level, calendar.add(now, window * level)) for level in policy.reminders
        ]
        marks.append((None, row.due_at))
        for level, at in marks:
            s.add(
                JobRow(
                    ticket_id=ticket.id,
                    kind="sla",
                    key=f"sla:task:{row.id}:{'breach' if level is None else level}",
                    element_id=row.element_id,
                    due_at=at,
                    state="pending",
                    attempts=0,
                    payload={"scope": "task", "task_id": row.id, "level": level},
                    created_at=now,
                )
            )

    def _sla_step_due(self, ticket: TicketRow, element_id: str, now: datetime) -> datetime | None:
        """When a task of ``element_id`` created ``now`` is due by the SLA policy."""
        policy = self.sla
        assert policy is not None
        limit = policy.step_limit(element_id, policy.urgency(ticket.data), ticket.customer_tier)
        return None if limit is None else policy.calendar(ticket.region).add(now, limit)

    def _sla_jobs(self, s: Session, ticket_id: int, states: Sequence[str]) -> list[JobRow]:
        return list(
            s.scalars(
                select(JobRow).where(
                    JobRow.ticket_id == ticket_id, JobRow.kind == "sla", JobRow.state.in_(states)
                )
            )
        )

    def _pause_clock(self, s: Session, ticket: TicketRow, now: datetime) -> None:
        ticket.paused_at = now
        for job in self._sla_jobs(s, ticket.id, ("pending",)):
            job.state = "paused"

    def _resume_clock(self, s: Session, ticket: TicketRow, now: datetime) -> None:
        """Move every limit on by the (business) time the ticket spent suspended."""
        if ticket.paused_at is None:
            return
        if self.sla is not None:
            calendar = self.sla.calendar(ticket.region)
            paused = max(calendar.business_time_between(ticket.paused_at, now), timedelta(0))

            def shift(t: datetime) -> datetime:
                return calendar.add(t, paused)
        else:
            paused = now - ticket.paused_at

            def shift(t: datetime) -> datetime:
                return t + paused

        ticket.paused_seconds = (ticket.paused_seconds or 0) + int(paused.total_seconds())
        ticket.paused_at = None
        if ticket.due_at is not None:
            ticket.due_at = shift(ticket.due_at)
        for task in self._open_task_rows(s, ticket.id):
            if task.due_at is not None:
                task.due_at = shift(task.due_at)
        for job in self._sla_jobs(s, ticket.id, ("paused",)):
            job.state = "pending"
            job.due_at = shift(job.due_at)

    def _fire_sla(
        self, s: Session, ticket: TicketRow, job: JobRow, now: datetime, ctx: HookContext
    ) -> str:
        policy = self.sla
        if policy is None:
            return "skipped"
        hook = self.plugins.hook
        manager = (ticket.data.get("customer") or {}).get("account_manager")
        vip = (ticket.customer_tier or "") in policy.vip_tiers
        if job.payload.get("scope") == "ticket":
            if ticket.sla_breached_at is not None:
                return "skipped"
            ticket.sla_breached_at = now
            self._event(
                s,
                ticket,
                now,
                None,
                "ticket_sla_breached",
                None,
                None,
                {"due_at": ticket.due_at.isoformat() if ticket.due_at else None},
            )
            targets = [policy.escalate_to] if policy.escalate_to else []
            if vip and manager:
                targets.append(manager)
            self._sla_notify(
                ctx,
                targets,
                f"超时 Ticket {ticket.number} is overdue",
                "supervisor",
                f"sla-ticket:{ticket.id}",
            )
            hook.ticketflow_sla_event(
                ctx=ctx,
                ticket=self._ticket_view(s, ticket),
                task=None,
                kind="ticket_breach",
                level=None,
            )
            return "fired"
        row = s.get(TaskRow, job.payload.get("task_id"))
        if row is None or row.state != "open":
            return "skipped"
        level = job.payload.get("level")
        due = row.due_at.isoformat() if row.due_at else None
        people = (
            [row.assignee] if row.assignee else [g for g in row.candidate_groups.split(",") if g]
        )
        if level is not None:
            self._event(
                s,
                ticket,
                now,
                None,
                "sla_reminder",
                row.element_id,
                row.id,
                {"level": level, "due_at": due},
            )
            self._sla_notify(
                ctx,
                people,
                f"催办 Reminder: {ticket.number} {row.name} is due at {due}",
                "handler",
                f"sla:{row.id}:{level}",
            )
            kind = "reminder"
        else:
            groups = [g for g in row.candidate_groups.split(",") if g]
            if policy.escalate_to and policy.escalate_to not in groups:
                groups.append(policy.escalate_to)
                row.candidate_groups = ",".join(groups)
                s.add(TaskCandidateRow(task_id=row.id, group_name=policy.escalate_to))
            row.priority = max(row.priority, policy.escalation_priority)
            self._event(
                s,
                ticket,
                now,
                None,
                "sla_breached",
                row.element_id,
                row.id,
                {"due_at": due, "escalated_to": policy.escalate_to, "vip": vip},
            )
            targets = people + ([policy.escalate_to] if policy.escalate_to else [])
            if vip and manager:
                targets.append(manager)
            self._sla_notify(
                ctx,
                targets,
                f"超时升级 Overdue: {ticket.number} {row.name} (due {due})",
                "supervisor",
                f"sla:{row.id}:breach",
            )
            kind = "breach"
        hook.ticketflow_sla_event(
            ctx=ctx,
            ticket=self._ticket_view(s, ticket),
            task=self._task_view(s, row),
            kind=kind,
            level=level,
        )
        return "fired"

    def _sla_notify(
        self, ctx: HookContext, people: Sequence[str], text: str, role: str, key: str
    ) -> None:
        policy = self.sla
        if policy is None or policy.contacts is None:
            return
        for person in dict.fromkeys(people):
            address = policy.contacts(person)
            if address:
                ctx.notify(
                    policy.notify_channel, address, text, recipient_role=role, key=f"{key}:{person}"
                )

    # ------------------------------------------------------------------ side effects

    def deliver_outbox(self, limit: int = 100) -> DeliveryReport:
        """Deliver due notifications and connector calls (see :mod:`ticketflow.outbox`)."""
        return self.outbox.deliver(limit)

    def outbox_messages(
        self,
        *,
        state: str | None = None,
        ticket: str | None = None,
        limit: int = 100,
        session: Session | None = None,
    ) -> list[OutboxView]:
        """Outbox messages, oldest first: pending, delivered or dead."""
        with self._unit(session, read_only=True) as s:
            return self.outbox.messages(s, state=state, ticket=ticket, limit=limit)

    def incidents(
        self, *, open_only: bool = True, limit: int = 100, session: Session | None = None
    ) -> list[IncidentView]:
        """Problems that need a person, such as side effects that failed every retry."""
        with self._unit(session, read_only=True) as s:
            return self.outbox.incidents(s, open_only=open_only, limit=limit)

    def retry_incident(self, incident_id: int, user: User | str) -> IncidentView:
        """Resolve an incident by queueing its failed message again."""
        return self.outbox.retry_incident(incident_id, as_user(user).id)

    def scores(
        self,
        *,
        staff: str | None = None,
        ticket: str | None = None,
        kind: str | None = None,
        since: datetime | None = None,
        session: Session | None = None,
    ) -> list[ScoreView]:
        """Recorded points, oldest first."""
        with self._unit(session, read_only=True) as s:
            q = select(ScoreRow).order_by(ScoreRow.id)
            if staff is not None:
                q = q.where(ScoreRow.staff == staff)
            if ticket is not None:
                q = q.where(ScoreRow.ticket_id == TicketRow.id_of(ticket))
            if kind is not None:
                q = q.where(ScoreRow.kind == kind)
            if since is not None:
                q = q.where(ScoreRow.at >= since)
            return [ScoreView.from_row(r) for r in s.scalars(q)]

    def points(
        self, *, since: datetime | None = None, session: Session | None = None
    ) -> dict[str, float]:
        """Total points per staff member (piece rate, evaluations and deductions)."""
        with self._unit(session, read_only=True) as s:
            q = select(ScoreRow.staff, func.sum(ScoreRow.points)).group_by(ScoreRow.staff)
            if since is not None:
                q = q.where(ScoreRow.at >= since)
            return {staff: round(float(total), 4) for staff, total in s.execute(q).tuples()}

    def _lookup_customer(self, customer: str) -> tuple[CustomerInfo | None, str | None]:
        """Ask the CRM plugins, bounded by ``customer_lookup_timeout``; never fail intake."""
        try:
            info = connectors.run_with_timeout(
                lambda: self.plugins.hook.ticketflow_customer_lookup(customer_id=customer),
                self.customer_lookup_timeout,
                f"customer lookup for {customer}",
            )
            return info, None
        except Exception as exc:
            log.warning("customer lookup for %s failed: %s", customer, exc)
            return None, f"{type(exc).__name__}: {exc}"

    # ------------------------------------------------------------------ tasks

    def task(self, task_id: int, *, session: Session | None = None) -> TaskView:
        """One task, with its form fields and documentation."""
        with self._unit(session, read_only=True) as s:
            row = self._task_row(s, task_id)
            ticket = s.get(TicketRow, row.ticket_id)
            assert ticket is not None
            return self._task_view(s, row)

    def tasks(
        self,
        *,
        assignee: str | None = None,
        candidate_groups: Iterable[str] | None = None,
        unassigned: bool | None = None,
        process_id: str | None = None,
        state: str | Sequence[str] | None = "open",
        region: str | None = None,
        ticket: str | None = None,
        due_before: datetime | None = None,
        min_priority: int | None = None,
        order_by: str = "due_at",
        descending: bool = False,
        offset: int = 0,
        limit: int = 50,
        session: Session | None = None,
    ) -> Page[TaskView]:
        """Worklist query over task rows only (no workflow is loaded).

        ``assignee`` gives a user's own tasks; ``candidate_groups`` a queue of tasks
        offered to any of those groups (combine with ``unassigned=True`` for what is
        still free to claim). Sorted by ``order_by`` (``due_at``, ``priority``,
        ``created_at``, ``id``) with missing due dates last, then by id.
        """
        self._check_page(offset, limit)
        if order_by not in TASK_ORDER:
            raise InvalidDataError(
                f"order_by must be one of {', '.join(TASK_ORDER)}, got {order_by!r}"
            )
        with self._unit(session, read_only=True) as s:
            if s.get_bind().dialect.name == "postgresql":
                # A page of a worklist is a few index lookups; starting parallel workers
                # for it costs more than the query (20 ms at a million tickets).
                s.execute(_NO_PARALLEL)
            q = select(TaskRow)
            if state is not None:
                states = [state] if isinstance(state, str) else list(state)
                q = q.where(TaskRow.state.in_(states))
            if assignee is not None:
                q = q.where(TaskRow.assignee == assignee)
            if unassigned is True:
                q = q.where(TaskRow.assignee.is_(None))
            elif unassigned is False:
                q = q.where(TaskRow.assignee.is_not(None))
            if candidate_groups is not None:
                members = select(TaskCandidateRow.task_id).where(
                    TaskCandidateRow.group_name.in_(list(candidate_groups))
                )
                q = q.where(TaskRow.id.in_(members))
            if process_id is not None:
                q = q.where(TaskRow.process_id == process_id)
            if region is not None:
                q = q.where(TaskRow.region == region)
            if ticket is not None:
                # Through the ticket's id: (ticket_id, state) is indexed, the number is not.
                q = q.where(TaskRow.ticket_id == TicketRow.id_of(ticket))
            if due_before is not None:
                q = q.where(TaskRow.due_at < due_before)
            if min_priority is not None:
                q = q.where(TaskRow.priority >= min_priority)
            column = TASK_ORDER[order_by]
            key = column.desc() if descending else column.asc()
            # The total comes with the page (a window count): the matching rows are read
            # once, not once for the page and again for the count.
            found = s.execute(
                q.add_columns(func.count().over().label("total"))
                .order_by(key.nulls_last(), TaskRow.id)
                .offset(offset)
                .limit(limit)
            ).all()
            if found:
                total = found[0].total
            else:  # an empty page: there may still be rows before the offset
                total = (
                    s.scalar(select(func.count()).select_from(q.subquery())) or 0 if offset else 0
                )
            rows = [r[0] for r in found]
            return Page(tuple(self._task_view(s, r) for r in rows), total, offset, limit)

    def claim(self, task_id: int, user: User | str, *, session: Session | None = None) -> TaskView:
        """Take an open task: it leaves the group queue and becomes the user's."""
        actor = as_user(user)
        now = self.clock.now()
        with self._unit(session) as s:
            row, ticket, _, _ = self._actionable(s, task_id, "claim")
            if row.assignee == actor.id:
                return self._task_view(s, row)
            if row.assignee is not None:
                raise TaskStateError(
                    f"task {task_id} '{row.element_id}' of ticket {row.ticket_number} is already "
                    f"claimed by '{row.assignee}'"
                )
            self._authorize(s, actor, "claim", ticket, row)
            row.assignee = actor.id
            row.claimed_at = now
            self._event(s, ticket, now, actor.id, "task_claimed", row.element_id, row.id, {})
            s.flush()
            return self._task_view(s, row)

    def unclaim(
        self, task_id: int, user: User | str, *, session: Session | None = None
    ) -> TaskView:
        """Give a claimed task back to its candidate groups."""
        actor = as_user(user)
        now = self.clock.now()
        with self._unit(session) as s:
            row, ticket, _, _ = self._actionable(s, task_id, "unclaim")
            if row.assignee is None:
                raise TaskStateError(
                    f"task {task_id} '{row.element_id}' of ticket {row.ticket_number} "
                    "is not claimed"
                )
            self._authorize(s, actor, "unclaim", ticket, row)
            previous = row.assignee
            row.assignee = None
            row.claimed_at = None
            self._event(
                s,
                ticket,
                now,
                actor.id,
                "task_unclaimed",
                row.element_id,
                row.id,
                {"previous_assignee": previous},
            )
            s.flush()
            return self._task_view(s, row)

    def complete(
        self,
        task_id: int,
        user: User | str,
        data: Mapping[str, Any] | None = None,
        *,
        session: Session | None = None,
    ) -> TicketView:
        """Complete a task with form ``data``; the ticket moves on to its next tasks.

        The data is checked against the task's declared form fields first; nothing is
        stored unless the whole step succeeds.
        """
        actor = as_user(user)
        now = self.clock.now()
        with self._unit(session) as s:
            row, ticket, open_rows, state_row = self._actionable(s, task_id, "complete")
            self._authorize(s, actor, "complete", ticket, row)
            definition = self._definition(s, ticket.definition_id)
            info = self._task_info(definition, row.element_id)
            where = f"ticket {ticket.number}, task {row.id} '{row.element_id}' ({row.name})"
            cleaned = info.form.validate(data if data is not None else {}, where, ticket.data)
            instance = Instance.load(definition, state_row.state, ticket.number)
            timers_before = self._timer_keys(ticket, instance)
            before = dict(ticket.data)
            ctx = self._context(s, now, actor.id, ticket, definition.version)
            with self._connectors(ctx):
                result = instance.complete(row.spiff_task_id, cleaned)
            if row.assignee is None:
                row.assignee = actor.id
                row.claimed_at = now
            row.state = "completed"
            row.completed_at = now
            row.completed_by = actor.id
            row.form_data = cleaned
            self._task_closed(s, row, now)
            open_rows = [r for r in open_rows if r is not row]
            after = instance.current_data()
            self._event(
                s,
                ticket,
                now,
                actor.id,
                "task_completed",
                row.element_id,
                row.id,
                {
                    "form": cleaned,
                    "changes": _diff(before, after),
                    "passed": result.passed,
                    **({"scripts": result.scripted} if result.scripted else {}),
                },
            )
            ticket.data = after
            task_view = self._task_view(s, row)
            ticket_view = self._ticket_view(s, ticket, open_rows)
            hook = self.plugins.hook
            hook.ticketflow_task_completed(
                ctx=ctx, ticket=ticket_view, task=task_view, data=cleaned
            )
            callback = info.callback
            if callback is not None:
                satisfied = self._satisfaction(callback, {**after, **cleaned}, ticket.number, info)
                hook.ticketflow_callback_result(
                    ctx=ctx, ticket=ticket_view, task=task_view, satisfied=satisfied, data=cleaned
                )
            self._collect_scores(
                ctx, hook.ticketflow_score(ctx=ctx, ticket=ticket_view, task=task_view), row.id
            )
            open_rows = self._after_step(
                s,
                ticket,
                definition,
                instance,
                result,
                now,
                actor.id,
                ctx,
                open_rows=open_rows,
                timers_before=timers_before,
            )
            state_row.state = instance.dump()
            state_row.tree_size = instance.tree_size()
            self._flush_context(s, ctx, ticket)
            s.flush()
            return self._ticket_view(s, ticket, open_rows)

    # ------------------------------------------------------------------ internals

    def _context(
        self,
        s: Session,
        now: datetime,
        actor: str | None,
        ticket: TicketRow | None,
        version: int | None,
    ) -> HookContext:
        view = TicketView.from_row(ticket, version or 0) if ticket is not None else None
        return HookContext(self, s, now, actor, view)

    @contextmanager
    def _connectors(self, ctx: HookContext) -> Iterator[None]:
        """Around a step: service tasks reach the plugins, timers read the engine's clock."""
        token = connectors.CURRENT.set(_StepConnectors(self, ctx))
        try:
            with timers.clock_in_force(self.clock):
                yield
        finally:
            connectors.CURRENT.reset(token)

    def _flush_context(self, s: Session, ctx: HookContext, ticket: TicketRow | None) -> None:
        """Write what hooks queued in ``ctx``: outbox messages and scores."""
        for kind, payload, key in ctx._outbox:
            self.outbox.enqueue(s, ticket, kind, payload, key, ctx.now)
        ctx._outbox.clear()
        for score, task_id in ctx._scores:
            if ticket is None:  # pragma: no cover - scores always belong to a ticket
                continue
            s.add(
                ScoreRow(
                    ticket_id=ticket.id,
                    ticket_number=ticket.number or "",
                    task_id=task_id,
                    staff=score.staff,
                    points=float(score.points),
                    kind=score.kind,
                    note=score.note,
                    at=ctx.now,
                )
            )
        ctx._scores.clear()

    @staticmethod
    def _collect_scores(ctx: HookContext, results: Iterable[Any], task_id: int | None) -> None:
        for result in results:
            if result is None:
                continue
            for score in [result] if isinstance(result, Score) else list(result):
                ctx.score(score, task_id)

    def _satisfaction(
        self, expression: str, data: Mapping[str, Any], number: str | None, info: UserTaskInfo
    ) -> bool:
        try:
            return bool(evaluate(expression, data))
        except ExpressionError as exc:
            raise ProcessExecutionError(
                f"ticketflow.callback of '{info.element_id}': {exc}",
                ticket=number,
                element_id=info.element_id,
            ) from None

    def _after_step(
        self,
        s: Session,
        ticket: TicketRow,
        definition: ProcessDefinition,
        instance: Instance,
        result: StepResult,
        now: datetime,
        actor: str | None,
        ctx: HookContext,
        open_rows: list[TaskRow] | None = None,
        timers_before: set[str] | None = None,
    ) -> list[TaskRow]:
        """Store what a step did: data, reopen events, task rows, timer jobs, SLA, closing.

        ``open_rows`` are the ticket's open task rows before the step (read when not
        given); ``timers_before`` the timer job keys the ticket waited on before it (the
        job table is only read when they changed). Returns the open task rows after it.
        """
        if open_rows is None:
            open_rows = self._open_task_rows(s, ticket.id) if ticket.id else []
        data = instance.current_data()
        self._check_size(data, f"ticket {ticket.number} data")
        ticket.data = data
        ticket.updated_at = now
        hook = self.plugins.hook
        for element in result.passed:
            if definition.lifecycle.get(element) == "reopened":
                self._event(s, ticket, now, actor, "ticket_reopened", element, None, {})
                hook.ticketflow_ticket_reopened(
                    ctx=ctx, ticket=self._ticket_view(s, ticket, open_rows), element_id=element
                )
        open_rows = self._sync_tasks(s, ticket, definition, instance, now, actor, ctx, open_rows)
        self._sync_timers(s, ticket, instance, now, timers_before)
        if result.continuation is not None:
            spiff_id, element = result.continuation
            key = f"continue:{ticket.id}:{spiff_id}"
            if s.scalars(select(JobRow.id).where(JobRow.key == key)).first() is None:
                s.add(
                    JobRow(
                        ticket_id=ticket.id,
                        kind="continue",
                        key=key,
                        element_id=element,
                        due_at=now,
                        state="pending",
                        attempts=0,
                        payload={"spiff_task_id": spiff_id},
                        created_at=now,
                    )
                )
        if self.sla is not None and ticket.status == "open" and not result.completed:
            self._sla_ticket(s, ticket, now)
        if result.completed:
            ticket.status = "closed"
            ticket.closed_at = now
            ticket.end_element = result.end_element
            # What still waits on the ticket (its SLA limits and reminders) cannot fire on a
            # closed ticket: cancelled now rather than skipped when due. Pending changes
            # first, so the job being fired keeps the state this step gave it.
            s.flush()
            s.execute(_CANCEL_TICKET_JOBS, {"of_ticket": ticket.id, "cancelled_at": now})
            for obj in [o for o in s.identity_map.values() if isinstance(o, JobRow)]:
                if obj.ticket_id == ticket.id and obj.state == "pending":
                    s.expire(obj)  # read again: the statement above changed it
            self._event(s, ticket, now, actor, "ticket_closed", result.end_element, None, {})
            view = self._ticket_view(s, ticket, open_rows)
            hook.ticketflow_ticket_closed(ctx=ctx, ticket=view)
            self._collect_scores(ctx, hook.ticketflow_score(ctx=ctx, ticket=view, task=None), None)
        return open_rows

    def _sync_tasks(
        self,
        s: Session,
        ticket: TicketRow,
        definition: ProcessDefinition,
        instance: Instance,
        now: datetime,
        actor: str | None,
        ctx: HookContext,
        open_rows: list[TaskRow] | None = None,
    ) -> list[TaskRow]:
        """Task rows follow the workflow's ready user tasks; returns the open rows after."""
        ready = {str(t.id): t for t in instance.ready_user_tasks()}
        if open_rows is None:
            open_rows = self._open_task_rows(s, ticket.id) if ticket.id else []
        existing = {r.spiff_task_id: r for r in open_rows}
        kept: list[TaskRow] = []
        for spiff_id, row in existing.items():
            if spiff_id not in ready:
                row.state = "cancelled"
                row.completed_at = now
                self._task_closed(s, row, now)
                self._event(s, ticket, now, actor, "task_cancelled", row.element_id, row.id, {})
            else:
                kept.append(row)
        created: list[tuple[TaskRow, tuple[str, ...], dict[str, Any]]] = []
        for spiff_id, task in ready.items():
            if spiff_id in existing:
                continue
            element = task.task_spec.bpmn_id
            info = self._task_info(definition, element)
            try:
                groups, assignee = self._assignment(info, task.data, ticket.number or "")
                unassigned_because = ""
            except ProcessExecutionError as exc:  # a dispatch plugin may still decide
                groups, assignee, unassigned_because = (), None, f" ({exc.reason})"
            due_at = now + info.due_in if info.due_in else None
            proposal = TaskProposal(
                ticket_number=ticket.number or "",
                process_id=ticket.process_id,
                element_process_id=task.workflow.spec.name,
                element_id=element,
                name=info.name,
                lane=info.lane,
                candidate_groups=groups,
                assignee=assignee,
                region=ticket.region,
                priority=ticket.priority,
                data=dict(task.data),
            )
            details: dict[str, Any] = {}
            decision = self.plugins.hook.ticketflow_dispatch(ctx=ctx, proposal=proposal)
            if decision is not None:
                if decision.candidate_groups is not None:
                    groups = tuple(decision.candidate_groups)
                if decision.assignee is not None:
                    assignee = decision.assignee or None
                details["dispatch"] = decision.reason or "dispatched by a plugin"
            if info.callback is not None:
                plan = self.plugins.hook.ticketflow_plan_callback(
                    ctx=ctx, ticket=self._ticket_view(s, ticket, kept), proposal=proposal
                )
                if plan is not None:
                    if plan.due_in is not None:
                        due_at = now + plan.due_in
                    if plan.candidate_groups is not None:
                        groups = tuple(plan.candidate_groups)
                    details["callback_plan"] = {
                        "channel": plan.channel,
                        "due_at": due_at.isoformat() if due_at else None,
                        "note": plan.note,
                    }
                    # Into the process data too, so it lasts beyond this step.
                    task.data["callback_plan"] = details["callback_plan"]
                    ticket.data = {**ticket.data, "callback_plan": details["callback_plan"]}
            if due_at is None and self.sla is not None:
                # Known before the INSERT, so the row is not updated again after it.
                due_at = self._sla_step_due(ticket, element, now)
            if not groups and not assignee:
                raise ProcessExecutionError(
                    f"task '{element}' would have no candidate group and no assignee "
                    f"(nothing in the BPMN file{unassigned_because}, and no dispatch plugin "
                    "chose one)",
                    ticket=ticket.number,
                    element_id=element,
                )
            row = TaskRow(
                ticket_id=ticket.id,
                ticket_number=ticket.number,
                process_id=ticket.process_id,
                definition_id=ticket.definition_id,
                spiff_task_id=spiff_id,
                element_id=element,
                name=info.name,
                lane=info.lane,
                candidate_groups=",".join(groups),
                assignee=assignee,
                state="suspended" if ticket.status == "suspended" else "open",
                priority=ticket.priority,
                region=ticket.region,
                created_at=now,
                claimed_at=now if assignee else None,
                due_at=due_at,
                details=details or None,
            )
            s.add(row)
            created.append((row, groups, details))
        if not created:
            return kept
        s.flush()  # one flush gives every new row its id
        for row, groups, details in created:
            for group in groups:
                s.add(TaskCandidateRow(task_id=row.id, group_name=group))
            if self.sla is not None:
                self._sla_task(s, ticket, row, now)
            self._event(
                s,
                ticket,
                now,
                actor,
                "task_created",
                row.element_id,
                row.id,
                {
                    "name": row.name,
                    "candidate_groups": list(groups),
                    "assignee": row.assignee,
                    "due_at": row.due_at.isoformat() if row.due_at else None,
                    **details,
                },
            )
        after = sorted([*kept, *(row for row, _, _ in created)], key=lambda r: r.id)
        view = self._ticket_view(s, ticket, after)
        for row, _, _ in created:
            self.plugins.hook.ticketflow_task_created(
                ctx=ctx, ticket=view, task=self._task_view(s, row)
            )
        return after

    def _assignment(
        self, info: UserTaskInfo, data: Mapping[str, Any], number: str
    ) -> tuple[tuple[str, ...], str | None]:
        groups = info.candidate_groups
        try:
            if info.candidate_groups_expression:
                value = evaluate(info.candidate_groups_expression, data)
                items = value.split(",") if isinstance(value, str) else list(value or [])
                groups = tuple(str(g).strip() for g in items if str(g).strip())
                if not groups and info.lane:
                    groups = (info.lane,)
            assignee = info.assignee_expression
            if assignee and assignee.startswith("${"):
                value = evaluate(strip_el(assignee), data)
                assignee = str(value) if value not in (None, "") else None
        except (ExpressionError, TypeError) as exc:
            raise ProcessExecutionError(
                f"cannot work out who task '{info.element_id}' goes to: {exc}",
                ticket=number,
                element_id=info.element_id,
            ) from None
        return groups, assignee

    def _task_info(self, definition: ProcessDefinition, element_id: str) -> UserTaskInfo:
        info = definition.user_tasks.get(element_id)
        if info is None:  # pragma: no cover - loader indexes every user task
            raise ProcessExecutionError(
                f"no user task '{element_id}' in process '{definition.process_id}'",
                ticket=None,
                element_id=element_id,
            )
        return info

    def _actionable(
        self, s: Session, task_id: int, action: str
    ) -> tuple[TaskRow, TicketRow, list[TaskRow], WorkflowStateRow]:
        """The task, its ticket (locked), its open tasks and workflow state, read after the lock.

        One lock order for every action: the ticket row first (found through the task in
        the same statement), then its tasks, read again after the lock so they are what
        the previous action left.
        """
        if isinstance(task_id, bool) or not isinstance(task_id, int):
            raise InvalidDataError(f"a task id is an integer, got {task_id!r}")
        # The workflow state comes in the same statement (later reads of it hit the
        # session's identity map).
        found = s.execute(_LOCK_THROUGH_TASK, {"task_id": task_id}).first()
        if found is None:
            raise TaskNotFoundError(task_id)
        ticket, state_row = found
        open_rows = self._open_task_rows(s, ticket.id)
        row = next((r for r in open_rows if r.id == task_id), None)
        if row is None:
            row = s.get(TaskRow, task_id, populate_existing=True)
            assert row is not None
        if row.state == "suspended" or ticket.status == "suspended":
            raise TaskStateError(
                f"cannot {action} task {task_id} '{row.element_id}': "
                f"ticket {ticket.number} is suspended"
            )
        if row.state != "open":
            by = f" by '{row.completed_by}'" if row.completed_by else ""
            at = f" at {row.completed_at:%Y-%m-%d %H:%M:%S}" if row.completed_at else ""
            raise TaskStateError(
                f"cannot {action} task {task_id} '{row.element_id}' of ticket {ticket.number}: "
                f"it is already {row.state}{by}{at}"
            )
        return row, ticket, open_rows, state_row

    def _authorize(
        self, s: Session, user: User, action: str, ticket: TicketRow, row: TaskRow | None
    ) -> None:
        ticket_view = TicketView.from_row(ticket, 0)
        task_view = TaskView.from_row(row) if row is not None else None
        allowed = self.plugins.hook.ticketflow_authorize(
            user=user, action=action, ticket=ticket_view, task=task_view
        )
        if allowed is True:
            return
        if row is not None:
            target = f"task {row.id} '{row.element_id}' of ticket {ticket.number}"
            groups = ", ".join(task_view.candidate_groups) if task_view else ""
            if row.assignee and row.assignee != user.id:
                reason = f"it is assigned to '{row.assignee}'"
            elif user.region and ticket.region and user.region != ticket.region:
                reason = f"the ticket is in region '{ticket.region}', the user in '{user.region}'"
            else:
                reason = f"the user is in none of its candidate groups ({groups})"
        else:
            target = f"ticket {ticket.number}"
            reason = (
                "this needs the admin role"
                if action == "migrate"
                else "this needs the supervisor role"
            )
        if allowed is False or allowed is None:
            raise PermissionDeniedError(user.id, action, target, reason)

    def _ticket_row(self, s: Session, number: str, *, lock: bool = False) -> TicketRow:
        q = select(TicketRow).where(TicketRow.number == number)
        if lock:
            q = q.with_for_update().execution_options(populate_existing=True)
        row = s.scalars(q).first()
        if row is None:
            raise TicketNotFoundError(number)
        return row

    def _lock_ticket(self, s: Session, ticket_id: int) -> TicketRow:
        """The ticket row, locked until the end of the transaction (``FOR UPDATE``)."""
        row = s.get(TicketRow, ticket_id, with_for_update=True, populate_existing=True)
        if row is None:  # pragma: no cover - foreign keys guarantee it
            raise TicketNotFoundError(ticket_id)
        return row

    def _task_row(self, s: Session, task_id: int) -> TaskRow:
        if isinstance(task_id, bool) or not isinstance(task_id, int):
            raise InvalidDataError(f"a task id is an integer, got {task_id!r}")
        row = s.get(TaskRow, task_id)
        if row is None:
            raise TaskNotFoundError(task_id)
        return row

    def _open_task_rows(self, s: Session, ticket_id: int) -> list[TaskRow]:
        return list(s.scalars(_OPEN_TASKS, {"ticket_id": ticket_id}))

    def _drop_candidates(self, s: Session, task_id: int) -> None:
        s.execute(_DROP_CANDIDATES, {"task_id": task_id})

    def _task_closed(self, s: Session, row: TaskRow, now: datetime) -> None:
        """A task left the open work: out of the group queues, its SLA jobs cancelled."""
        self._drop_candidates(s, row.id)
        # SLA jobs exist only for a task that got a due time when it was created.
        if self.sla is not None and row.due_at is not None:
            s.execute(
                _CANCEL_TASK_SLA,
                {
                    "of_ticket": row.ticket_id,
                    "key_pattern": f"sla:task:{row.id}:%",
                    "cancelled_at": now,
                },
            )

    def _versions(self, s: Session, ids: set[int]) -> dict[int, int]:
        if not ids:
            return {}
        rows = s.execute(
            select(DefinitionRow.id, DefinitionRow.version).where(DefinitionRow.id.in_(ids))
        )
        return {i: v for i, v in rows.tuples()}

    def _task_view(self, s: Session, row: TaskRow) -> TaskView:
        definition = self._definition(s, row.definition_id)
        return TaskView.from_row(row, *self._form_of(definition, row.element_id))

    def _ticket_view(
        self, s: Session, ticket: TicketRow, open_rows: Sequence[TaskRow] | None = None
    ) -> TicketView:
        """The ticket with its open tasks (``open_rows`` when the caller holds them)."""
        definition = self._definition(s, ticket.definition_id)
        if open_rows is None:
            open_rows = self._open_task_rows(s, ticket.id)
        tasks = tuple(self._task_view(s, r) for r in open_rows)
        assert definition.version is not None
        return TicketView.from_row(ticket, definition.version, tasks)

    @staticmethod
    def _form_of(definition: ProcessDefinition, element_id: str) -> tuple[Any, str | None]:
        info = definition.user_tasks.get(element_id)
        return (info.form.fields, info.documentation) if info else ((), None)

    def _event(
        self,
        s: Session,
        ticket: TicketRow,
        at: datetime,
        actor: str | None,
        kind: str,
        element_id: str | None,
        task_id: int | None,
        details: dict[str, Any],
    ) -> None:
        """Record a history event; the unit writes its events in one statement at its end."""
        s.info.setdefault(_PENDING_EVENTS, []).append(
            {
                "ticket_id": ticket.id,
                "at": at,
                "actor": actor,
                "kind": kind,
                "element_id": element_id,
                "task_id": task_id,
                "details": details,
            }
        )

    @staticmethod
    def _write_events(s: Session) -> None:
        pending = s.info.get(_PENDING_EVENTS)
        if pending:
            s.execute(insert(_EVENTS), list(pending), execution_options={"autoflush": False})
            pending.clear()

    def _check_data(self, data: Mapping[str, Any], what: str) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise InvalidDataError(f"{what} must be a mapping, got {type(data).__name__}")
        for key in data:
            if not isinstance(key, str) or not key.isidentifier() or key.startswith("_"):
                raise InvalidDataError(
                    f"{what}: key {key!r} is not a valid name "
                    "(letters, digits, _; not starting with _)"
                )
        clean = dict(data)
        self._check_size(clean, what)
        return clean

    def _check_size(self, data: Mapping[str, Any], what: str) -> None:
        try:
            size = len(json.dumps(data, ensure_ascii=False, default=_no_default).encode())
        except TypeError as exc:
            raise InvalidDataError(
                f"{what} must be JSON data (str, numbers, bools, None, lists, dicts): {exc}"
            ) from None
        if size > self.max_data_bytes:
            raise DataLimitError(f"{what} is {size} bytes; the limit is {self.max_data_bytes}")

    @staticmethod
    def _check_page(offset: int, limit: int) -> None:
        if not isinstance(offset, int) or offset < 0:
            raise InvalidDataError(f"offset must be a non-negative integer, got {offset!r}")
        if not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise InvalidDataError(f"limit must be an integer from 1 to {MAX_PAGE}, got {limit!r}")


def _no_default(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} value {value!r} is not JSON data")


def _diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Keys whose value changed: ``{key: {"old": ..., "new": ...}}`` (absent reads as None)."""
    changes: dict[str, dict[str, Any]] = {}
    for key in before.keys() | after.keys():
        old, new = before.get(key), after.get(key)
        if old != new:
            changes[key] = {"old": old, "new": new}
    return dict(sorted(changes.items()))


class _StepConnectors:
    """Service tasks of the step in progress: synchronous calls now, async via the outbox."""

    def __init__(self, engine: Engine, ctx: HookContext) -> None:
        self.engine = engine
        self.ctx = ctx

    def call_now(
        self, operation: str, params: dict[str, Any], element_id: str, timeout: float
    ) -> Mapping[str, Any]:
        ticket = self.ctx.ticket.number if self.ctx.ticket else None
        call = ConnectorCall(
            operation=operation,
            params=params,
            ticket_number=ticket,
            element_id=element_id,
            idempotency_key=f"{ticket}:{element_id}:{self.ctx.now.isoformat()}",
            timeout=timeout,
        )
        what = f"connector operation '{operation}' of service task '{element_id}'"
        try:
            result = connectors.run_with_timeout(
                lambda: self.engine.plugins.hook.ticketflow_connector(call=call), timeout, what
            )
        except connectors.ConnectorError:
            raise
        except Exception as exc:
            raise connectors.ConnectorError(f"{what} failed: {type(exc).__name__}: {exc}") from exc
        if result is None:
            raise connectors.ConnectorError(f"no plugin performs {what}")
        if not isinstance(result, Mapping):
            raise connectors.ConnectorError(
                f"{what} returned {type(result).__name__}, not a mapping of data"
            )
        return result

    def call_later(
        self, operation: str, params: dict[str, Any], key: str, element_id: str, timeout: float
    ) -> None:
        self.ctx.call(operation, params, key=key, element_id=element_id, timeout=timeout)


def _database_error(exc: DBAPIError) -> TicketflowError:
    """A failure of the database itself, as a ticketflow error saying nothing was stored."""
    original = exc.orig
    name = type(original).__name__ if original is not None else type(exc).__name__
    detail = str(original).strip().splitlines()[0] if original is not None else str(exc)
    if name in ("DeadlockDetected", "SerializationFailure", "LockNotAvailable"):
        return ConcurrencyError(
            f"another action on the same ticket got in the way ({name}); nothing was saved "
            "- try again"
        )
    return DatabaseUnavailableError(
        f"the database failed during the action ({name}: {detail}); nothing was saved - "
        "try again when it is back"
    )
