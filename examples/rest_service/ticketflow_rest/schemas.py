"""Request and response bodies of the API (pydantic models, so the OpenAPI schema is exact)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from ticketflow import DefinitionView, EventView, TaskView, TicketView, User
from ticketflow.definitions.forms import FIELD_TYPES, FormField

SlaColour = Literal["none", "green", "amber", "red"]
FieldType = Literal["string", "long", "double", "boolean", "date", "enum"]
assert set(FIELD_TYPES) == set(FieldType.__args__)  # type: ignore[attr-defined]


def _no_nul(value: Any, where: str = "value") -> Any:
    """Refuse NUL characters anywhere (PostgreSQL cannot store them in text or JSON)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{where} contains a NUL character")
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key, f"{where} key")
            _no_nul(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _no_nul(item, f"{where}[{index}]")
    return value


def _as_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"{value.isoformat()} is out of range in UTC") from None


Text = Annotated[str, AfterValidator(_no_nul)]
Data = Annotated[dict[str, Any], AfterValidator(_no_nul)]
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_as_utc)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- errors and login ---------------------------------------------------------------------


class ErrorOut(Model):
    """Every error: its kind, ticketflow's message, and per-field problems of a form."""

    error: str = Field(examples=["PermissionDeniedError"])
    message: str
    fields: dict[str, str] | None = None


class LoginIn(Model):
    user: Annotated[Text, Field(min_length=1, max_length=100, examples=["li.na"])]
    password: Annotated[Text, Field(min_length=1, max_length=200)]


class UserOut(Model):
    id: str
    name: str
    groups: list[str]
    roles: list[str]
    region: str | None

    @classmethod
    def of(cls, user: User, name: str) -> UserOut:
        return cls(
            id=user.id,
            name=name,
            groups=sorted(user.groups),
            roles=sorted(user.roles),
            region=user.region,
        )


class LoginOut(Model):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    user: UserOut


class HealthOut(Model):
    status: Literal["ok"]
    database: str
    processes: int


# --- definitions --------------------------------------------------------------------------


class DefinitionOut(Model):
    id: int
    process_id: str
    version: int
    name: str
    filename: str
    content_hash: str
    deployed_at: datetime
    latest: bool

    @classmethod
    def of(cls, view: DefinitionView, latest: bool) -> DefinitionOut:
        return cls(
            id=view.id,
            process_id=view.process_id,
            version=view.version,
            name=view.name,
            filename=view.filename,
            content_hash=view.content_hash,
            deployed_at=view.deployed_at,
            latest=latest,
        )


class ChannelsOut(Model):
    channels: list[str]


# --- tasks --------------------------------------------------------------------------------


class ChoiceOut(Model):
    id: str
    name: str


class FormFieldOut(Model):
    """A declared form field of a task (``camunda:formField``)."""

    id: str
    type: FieldType
    label: str | None
    required: bool
    choices: list[ChoiceOut]
    default: str | None
    constraints: dict[str, str]

    @classmethod
    def of(cls, f: FormField) -> FormFieldOut:
        return cls(
            id=f.id,
            type=f.type,  # type: ignore[arg-type]
            label=f.label,
            required=f.required,
            choices=[ChoiceOut(id=c, name=n) for c, n in f.choices],
            default=f.default,
            constraints=dict(f.constraints),
        )


class TaskOut(Model):
    id: int
    ticket_number: str
    process_id: str
    element_id: str
    name: str
    state: str
    candidate_groups: list[str]
    assignee: str | None
    priority: int
    region: str | None
    created_at: datetime
    due_at: datetime | None
    claimed_at: datetime | None
    completed_at: datetime | None
    completed_by: str | None
    form_data: dict[str, Any] | None
    form: list[FormFieldOut]
    documentation: str | None
    details: dict[str, Any]
    sla: SlaColour = Field(
        description="none (no due time), green, amber (past the last reminder level), "
        "red (past due)"
    )

    @classmethod
    def of(cls, view: TaskView, sla: SlaColour) -> TaskOut:
        return cls(
            id=view.id,
            ticket_number=view.ticket_number,
            process_id=view.process_id,
            element_id=view.element_id,
            name=view.name,
            state=view.state,
            candidate_groups=list(view.candidate_groups),
            assignee=view.assignee,
            priority=view.priority,
            region=view.region,
            created_at=view.created_at,
            due_at=view.due_at,
            claimed_at=view.claimed_at,
            completed_at=view.completed_at,
            completed_by=view.completed_by,
            form_data=view.form_data,
            form=[FormFieldOut.of(f) for f in view.form],
            documentation=view.documentation,
            details=view.details,
            sla=sla,
        )


class TaskPage(Model):
    items: list[TaskOut]
    total: int
    offset: int
    limit: int


class CompleteIn(Model):
    """The task's form values, by field id (see the task's ``form``)."""

    data: Data = Field(default_factory=dict, examples=[{"resolved": False}])


# --- tickets ------------------------------------------------------------------------------


class OpenTicketIn(Model):
    process_id: Annotated[Text, Field(min_length=1, max_length=100, examples=["complaint"])]
    customer: Annotated[Text, Field(min_length=1, max_length=100, examples=["C-10086"])]
    channel: Annotated[Text, Field(min_length=1, max_length=50, examples=["hotline"])]
    data: Data = Field(default_factory=dict, examples=[{"summary": "话费多扣 charged twice"}])
    customer_tier: Annotated[Text, Field(min_length=1, max_length=50)] | None = None
    priority: Annotated[int, Field(ge=0, le=100)] | None = None
    region: Annotated[Text, Field(min_length=1, max_length=100)] | None = None
    subject: Annotated[Text, Field(max_length=500)] | None = None
    business_key: Annotated[Text, Field(min_length=1, max_length=200)] | None = None


class ReasonIn(Model):
    reason: Annotated[Text, Field(max_length=2000)] | None = None


class TicketOut(Model):
    number: str
    process_id: str
    definition_version: int
    status: str
    customer_id: str
    customer_tier: str | None
    channel: str
    priority: int
    region: str | None
    subject: str | None
    business_key: str | None
    data: dict[str, Any]
    opened_by: str | None
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    end_element: str | None
    due_at: datetime | None
    sla_breached_at: datetime | None
    open_tasks: list[TaskOut] = Field(description="empty in ticket lists")

    @classmethod
    def of(cls, view: TicketView, tasks: list[TaskOut]) -> TicketOut:
        return cls(
            number=view.number,
            process_id=view.process_id,
            definition_version=view.definition_version,
            status=view.status,
            customer_id=view.customer_id,
            customer_tier=view.customer_tier,
            channel=view.channel,
            priority=view.priority,
            region=view.region,
            subject=view.subject,
            business_key=view.business_key,
            data=view.data,
            opened_by=view.opened_by,
            opened_at=view.opened_at,
            updated_at=view.updated_at,
            closed_at=view.closed_at,
            end_element=view.end_element,
            due_at=view.due_at,
            sla_breached_at=view.sla_breached_at,
            open_tasks=tasks,
        )


class TicketPage(Model):
    items: list[TicketOut]
    total: int
    offset: int
    limit: int


class EventOut(Model):
    id: int
    ticket_number: str
    at: datetime
    actor: str | None
    kind: str
    element_id: str | None
    task_id: int | None
    details: dict[str, Any]

    @classmethod
    def of(cls, view: EventView) -> EventOut:
        return cls(**view.to_dict())


class ProgressOut(Model):
    """Where a ticket stands in its diagram: for highlighting it in a BPMN viewer."""

    number: str
    process_id: str
    version: int
    status: str
    waiting: list[str] = Field(description="element ids with an open task")
    passed: list[str] = Field(description="element ids the ticket has gone through, in order")
    end_element: str | None
