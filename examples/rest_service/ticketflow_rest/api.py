"""The REST API under ``/api``: login, worklists, task actions, tickets and definitions.

Every engine call gets the logged-in user (groups, roles, region from the directory);
ticketflow's authorization decides and its errors become HTTP statuses (see ``errors``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ticketflow import Engine
from ticketflow_rest.auth import NotAuthenticatedError, Session
from ticketflow_rest.directory import Account
from ticketflow_rest.errors import RESPONSES
from ticketflow_rest.schemas import (
    ChannelsOut,
    CompleteIn,
    DefinitionOut,
    EventOut,
    HealthOut,
    LoginIn,
    LoginOut,
    OpenTicketIn,
    ProgressOut,
    ReasonIn,
    TaskOut,
    TaskPage,
    TicketOut,
    TicketPage,
    UserOut,
    UtcDatetime,
)
from ticketflow_rest.service import Service

bearer = HTTPBearer(auto_error=False, description="a token from POST /api/login")

#: Largest id or offset accepted (the database's integer range).
MAX_INT = 2**31 - 1
TaskId = Annotated[int, Path(ge=1, le=MAX_INT, description="task id")]
TicketNumber = Annotated[str, Path(min_length=1, max_length=100, examples=["TS-20261123-000001"])]
ProcessId = Annotated[str, Path(min_length=1, max_length=100, examples=["complaint"])]
Offset = Annotated[int, Query(ge=0, le=MAX_INT)]
Limit = Annotated[int, Query(ge=1, le=1000)]
Filter = Annotated[str | None, Query(min_length=1, max_length=100)]


def service(request: Request) -> Service:
    svc: Service = request.app.state.service
    return svc


def login_session(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Session:
    """The session of the request's bearer token (401 without a valid one)."""
    if credentials is None:
        raise NotAuthenticatedError("log in first: send 'Authorization: Bearer <token>'")
    return service(request).tokens.resolve(credentials.credentials)


def current(session: Annotated[Session, Depends(login_session)]) -> Account:
    return session.account


Svc = Annotated[Service, Depends(service)]
Me = Annotated[Account, Depends(current)]

public = APIRouter(prefix="/api", tags=["session"])
router = APIRouter(prefix="/api", responses=RESPONSES, dependencies=[Depends(current)])


# --- session ------------------------------------------------------------------------------


@public.post(
    "/login",
    response_model=LoginOut,
    responses={401: RESPONSES[401], 422: RESPONSES[422]},
    summary="Log in with a user id and password; returns a bearer token",
)
def login(body: LoginIn, svc: Svc) -> LoginOut:
    account = svc.directory.authenticate(body.user, body.password)
    if account is None:
        raise NotAuthenticatedError("unknown user or wrong password")
    session = svc.tokens.issue(account)
    return LoginOut(
        access_token=session.token,
        expires_at=session.expires_at,
        user=UserOut.of(account.user, account.name),
    )


@public.post(
    "/logout",
    status_code=204,
    response_class=Response,
    responses={401: RESPONSES[401]},
    summary="End the session of the token sent",
)
def logout(session: Annotated[Session, Depends(login_session)], svc: Svc) -> Response:
    svc.tokens.revoke(session.token)
    return Response(status_code=204)


@public.get("/health", response_model=HealthOut, summary="Liveness and database check")
def health(svc: Svc) -> HealthOut:
    processes = {d.process_id for d in svc.engine.definitions()}
    return HealthOut(status="ok", database=svc.engine.bind.dialect.name, processes=len(processes))


@router.get("/me", response_model=UserOut, tags=["session"], summary="The logged-in user")
def me(account: Me) -> UserOut:
    return UserOut.of(account.user, account.name)


# --- definitions --------------------------------------------------------------------------


@router.get("/definitions", response_model=list[DefinitionOut], tags=["definitions"])
def definitions(
    svc: Svc, process_id: Filter = None, all_versions: bool = False
) -> list[DefinitionOut]:
    """Deployed processes: the latest version of each, or every version."""
    views = svc.engine.definitions(process_id)
    latest = {v.process_id: v.version for v in views}
    return [
        DefinitionOut.of(v, v.version == latest[v.process_id])
        for v in views
        if all_versions or v.version == latest[v.process_id]
    ]


@router.get(
    "/definitions/{process_id}/bpmn",
    tags=["definitions"],
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}, "description": "the BPMN 2.0 XML"}},
)
def definition_bpmn(
    process_id: ProcessId,
    svc: Svc,
    version: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
) -> Response:
    """The BPMN XML of a deployed process (latest version unless ``version``), for a viewer."""
    source = svc.bpmn_source(process_id, version)
    return Response(source, media_type="application/xml; charset=utf-8")


@router.get("/channels", response_model=ChannelsOut, tags=["definitions"])
def channels(svc: Svc) -> ChannelsOut:
    """The intake channels tickets may be opened at."""
    return ChannelsOut(channels=list(svc.engine.channels))


# --- worklists and tasks ------------------------------------------------------------------


@router.get("/tasks", response_model=TaskPage, tags=["tasks"])
def tasks(
    svc: Svc,
    account: Me,
    scope: Annotated[
        Literal["mine", "queue", "all"],
        Query(description="mine: assigned to me; queue: unclaimed in my groups; all: any"),
    ] = "mine",
    process_id: Filter = None,
    region: Filter = None,
    ticket: Filter = None,
    due_before: Annotated[UtcDatetime | None, Query(description="ISO 8601 with offset")] = None,
    min_priority: Annotated[int | None, Query(ge=0, le=100)] = None,
    state: Annotated[Literal["open", "suspended", "completed", "cancelled"], Query()] = "open",
    order_by: Literal["due_at", "priority", "created_at", "id"] = "due_at",
    descending: bool = False,
    offset: Offset = 0,
    limit: Limit = 50,
) -> TaskPage:
    """A worklist: my tasks, my groups' queue, or all tasks, with ``Engine.tasks`` filters."""
    user = account.user
    page = svc.engine.tasks(
        assignee=user.id if scope == "mine" else None,
        candidate_groups=sorted(user.groups) if scope == "queue" else None,
        unassigned=True if scope == "queue" else None,
        process_id=process_id,
        state=state,
        region=region,
        ticket=ticket,
        due_before=due_before,
        min_priority=min_priority,
        order_by=order_by,
        descending=descending,
        offset=offset,
        limit=limit,
    )
    return TaskPage(
        items=[svc.task_out(t) for t in page.items],
        total=page.total,
        offset=page.offset,
        limit=page.limit,
    )


@router.get("/tasks/{task_id}", response_model=TaskOut, tags=["tasks"])
def task(task_id: TaskId, svc: Svc) -> TaskOut:
    """One task with its form fields and documentation."""
    return svc.task_out(svc.engine.task(task_id))


@router.post("/tasks/{task_id}/claim", response_model=TaskOut, tags=["tasks"])
def claim(task_id: TaskId, svc: Svc, account: Me) -> TaskOut:
    """Take a task from the group queue."""
    return svc.task_out(svc.engine.claim(task_id, account.user))


@router.post("/tasks/{task_id}/unclaim", response_model=TaskOut, tags=["tasks"])
def unclaim(task_id: TaskId, svc: Svc, account: Me) -> TaskOut:
    """Give a claimed task back to its groups."""
    return svc.task_out(svc.engine.unclaim(task_id, account.user))


@router.post("/tasks/{task_id}/complete", response_model=TicketOut, tags=["tasks"])
def complete(task_id: TaskId, body: CompleteIn, svc: Svc, account: Me) -> TicketOut:
    """Complete a task with its form data; answers the ticket with its next tasks."""
    return svc.ticket_out(svc.engine.complete(task_id, account.user, body.data))


# --- tickets ------------------------------------------------------------------------------


@router.post("/tickets", response_model=TicketOut, status_code=201, tags=["tickets"])
def open_ticket(body: OpenTicketIn, svc: Svc, account: Me) -> TicketOut:
    """Open a ticket; it answers with its first open tasks."""
    ticket = svc.engine.open_ticket(
        body.process_id,
        customer=body.customer,
        channel=body.channel,
        data=body.data,
        customer_tier=body.customer_tier,
        priority=body.priority,
        region=body.region,
        subject=body.subject,
        business_key=body.business_key,
        user=account.user,
    )
    return svc.ticket_out(ticket)


@router.get("/tickets", response_model=TicketPage, tags=["tickets"])
def tickets(
    svc: Svc,
    customer: Filter = None,
    process_id: Filter = None,
    status: Literal["open", "suspended", "closed"] | None = None,
    business_key: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> TicketPage:
    """Tickets, newest first (without their tasks)."""
    page = svc.engine.tickets(
        customer=customer,
        process_id=process_id,
        status=status,
        business_key=business_key,
        offset=offset,
        limit=limit,
    )
    return TicketPage(
        items=[svc.ticket_out(t) for t in page.items],
        total=page.total,
        offset=page.offset,
        limit=page.limit,
    )


@router.get("/tickets/{number}", response_model=TicketOut, tags=["tickets"])
def ticket(number: TicketNumber, svc: Svc) -> TicketOut:
    """A ticket with its data and open tasks."""
    return svc.ticket_out(svc.engine.ticket(number))


@router.get("/tickets/{number}/history", response_model=list[EventOut], tags=["tickets"])
def history(number: TicketNumber, svc: Svc) -> list[EventOut]:
    """Every event of the ticket, oldest first."""
    return [EventOut.of(e) for e in svc.engine.history(number)]


@router.get("/tickets/{number}/progress", response_model=ProgressOut, tags=["tickets"])
def progress(number: TicketNumber, svc: Svc) -> ProgressOut:
    """Where the ticket waits and what it passed: element ids to highlight in its diagram."""
    engine: Engine = svc.engine
    return svc.progress(engine.ticket(number), engine.history(number))


@router.post("/tickets/{number}/suspend", response_model=TicketOut, tags=["tickets"])
def suspend(number: TicketNumber, body: ReasonIn, svc: Svc, account: Me) -> TicketOut:
    """Suspend (挂起) a ticket: its tasks can be neither claimed nor completed."""
    return svc.ticket_out(svc.engine.suspend(number, account.user, reason=body.reason))


@router.post("/tickets/{number}/resume", response_model=TicketOut, tags=["tickets"])
def resume(number: TicketNumber, body: ReasonIn, svc: Svc, account: Me) -> TicketOut:
    """Resume a suspended ticket."""
    return svc.ticket_out(svc.engine.resume(number, account.user, reason=body.reason))
