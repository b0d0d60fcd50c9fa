"""ticketflow's errors as HTTP answers: a status and ``{"error", "message", "fields"}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ticketflow import (
    ConcurrencyError,
    DatabaseUnavailableError,
    FormValidationError,
    InvalidDataError,
    MigrationError,
    NotFoundError,
    PermissionDeniedError,
    ProcessExecutionError,
    StoreError,
    TaskStateError,
    TicketflowError,
    UnknownProcessError,
)
from ticketflow_rest.auth import NotAuthenticatedError
from ticketflow_rest.schemas import ErrorOut

log = logging.getLogger("ticketflow_rest")

#: Most specific first: the first class an error is an instance of decides its status.
STATUS: tuple[tuple[type[TicketflowError], int], ...] = (
    (NotFoundError, 404),
    (UnknownProcessError, 404),
    (PermissionDeniedError, 403),
    (FormValidationError, 422),
    (InvalidDataError, 422),
    (ProcessExecutionError, 422),
    (TaskStateError, 409),
    (ConcurrencyError, 409),
    (MigrationError, 409),
    (DatabaseUnavailableError, 503),
    (StoreError, 503),
)

#: The error answers every operation may give, for the OpenAPI schema.
RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "no valid bearer token"},
    403: {"model": ErrorOut, "description": "ticketflow's authorization refused the action"},
    404: {"model": ErrorOut, "description": "no such ticket, task or process"},
    409: {"model": ErrorOut, "description": "the task or ticket is not in a state for this"},
    422: {"model": ErrorOut, "description": "invalid request or form data"},
    503: {"model": ErrorOut, "description": "the database is unavailable; retry"},
}


def status_of(error: TicketflowError) -> int:
    for kind, status in STATUS:
        if isinstance(error, kind):
            return status
    return 500


def error_body(error: str, message: str, fields: dict[str, str] | None = None) -> dict[str, Any]:
    return ErrorOut(error=error, message=message, fields=fields).model_dump()


def install(app: FastAPI) -> None:
    """Register the handlers that turn exceptions into JSON error answers."""

    @app.exception_handler(TicketflowError)
    async def ticketflow_error(request: Request, exc: TicketflowError) -> JSONResponse:
        status = status_of(exc)
        if status >= 500:
            log.error("%s %s: %s", request.method, request.url.path, exc)
        fields = exc.errors if isinstance(exc, FormValidationError) else None
        return JSONResponse(error_body(type(exc).__name__, str(exc), fields), status)

    @app.exception_handler(NotAuthenticatedError)
    async def not_authenticated(request: Request, exc: NotAuthenticatedError) -> JSONResponse:
        return JSONResponse(
            error_body("NotAuthenticated", str(exc)),
            401,
            headers={"WWW-Authenticate": 'Bearer realm="ticketflow"'},
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = {
            ".".join(str(p) for p in e.get("loc", ())): str(e.get("msg", "invalid"))
            for e in exc.errors()
        }
        message = "invalid request: " + "; ".join(f"{k}: {v}" for k, v in fields.items())
        return JSONResponse(
            jsonable_encoder(error_body("RequestValidationError", message, fields)), 422
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            error_body("HTTPException", str(exc.detail)), exc.status_code, headers=exc.headers
        )
