"""Domain errors and the one place that turns every failure into `{"detail", "error"}`.

Services raise `AppError` subclasses; handlers map them once. Validation errors keep
FastAPI's standard 422 list in `detail`. An unreachable or overloaded database (refused
connection, lost connection, pool exhausted, SQLite still locked after its busy timeout) is a
503 with `Retry-After`, not a 500. A 500 never carries a trace, SQL or a path.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("tessera.errors")


class AppError(Exception):
    """An expected failure with an HTTP status and a stable snake_case code."""

    status_code: int = 400
    code: str = "bad_request"
    detail: str = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.detail = detail or self.detail
        self.code = code or self.code
        self.status_code = status_code or self.status_code
        self.headers = headers
        super().__init__(self.detail)


class BadRequest(AppError):
    pass


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"
    detail = "Not authenticated"

    def __init__(self, detail: str | None = None, *, code: str | None = None) -> None:
        super().__init__(detail, code=code, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"
    detail = "Not enough permissions"


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    detail = "Not found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    detail = "Conflict"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"
    detail = "Request body too large"


class Unprocessable(AppError):
    status_code = 422
    code = "unprocessable"
    detail = "Unprocessable request"


class TooManyRequests(AppError):
    status_code = 429
    code = "rate_limited"
    detail = "Too many requests"

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = retry_after


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"
    detail = "Service unavailable"


class ShortCircuit(Exception):
    """Raised by a dependency that already knows the whole response (an idempotent replay)."""

    def __init__(self, response: Response) -> None:
        super().__init__("short-circuit response")
        self.response = response


def error_body(detail: Any, code: str) -> dict[str, Any]:
    return {"detail": detail, "error": code}


def _code_for_status(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return JSONResponse(
        error_body(exc.detail, exc.code), status_code=exc.status_code, headers=exc.headers
    )


async def _short_circuit(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ShortCircuit)
    return exc.response


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if exc.detail else HTTPStatus(exc.status_code).phrase
    return JSONResponse(
        error_body(detail, _code_for_status(exc.status_code)),
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {key: value for key, value in error.items() if key in {"type", "loc", "msg"}}
        for error in exc.errors()
    ]
    return JSONResponse(error_body(errors, "validation_error"), status_code=422)


#: What a request meets when the database cannot serve it right now. `ConnectionError` is how
#: asyncpg reports a refused or reset connection before SQLAlchemy can wrap it.
DATABASE_UNAVAILABLE = (
    ConnectionError,
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
)
RETRY_AFTER_SECONDS = 5


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.error("database_unavailable", path=request.url.path, error_type=type(exc).__name__)
    return JSONResponse(
        error_body("The database is unavailable; try again shortly", "database_unavailable"),
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


INTERNAL_ERROR = error_body("Internal server error", "internal_error")


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # Last resort, for a failure in the outer middleware itself; see InternalErrorMiddleware.
    log.exception("unhandled_error", path=request.url.path, error_type=type(exc).__name__)
    return JSONResponse(INTERNAL_ERROR, status_code=500)


class InternalErrorMiddleware:
    """The 500 for an exception no handler took, answered *inside* the middleware stack.

    Starlette answers such an exception from its outermost layer, outside every middleware:
    the response would miss the request id, the security and CORS headers, and the request
    id would already be unbound when the error is logged. Installed inside those middleware,
    this answers it like any other response and logs it with the request's context.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:  # too late for an answer; the server closes the connection
                raise
            log.exception("unhandled_error", path=scope["path"], error_type=type(exc).__name__)
            await JSONResponse(INTERNAL_ERROR, status_code=500)(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(ShortCircuit, _short_circuit)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for unavailable in DATABASE_UNAVAILABLE:
        app.add_exception_handler(unavailable, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected_error)


ERROR_SCHEMA = {
    "type": "object",
    "properties": {"detail": {"type": "string"}, "error": {"type": "string"}},
    "required": ["detail", "error"],
}
VALIDATION_ISSUE_SCHEMA = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
        "msg": {"type": "string"},
    },
    "required": ["type", "loc", "msg"],
}
#: A 422 is either a validation failure (`detail` lists the problems, `error` is
#: "validation_error") or a domain refusal (`Unprocessable`: `detail` is a sentence).
VALIDATION_ERROR_SCHEMA = {
    "title": "ValidationErrorBody",
    "type": "object",
    "properties": {
        "detail": {
            "anyOf": [{"type": "array", "items": VALIDATION_ISSUE_SCHEMA}, {"type": "string"}]
        },
        "error": {"type": "string"},
    },
    "required": ["detail", "error"],
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting the error body for the given statuses."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {
                "application/json": {
                    "schema": VALIDATION_ERROR_SCHEMA if status == 422 else ERROR_SCHEMA
                }
            },
        }
        for status in statuses
    }


def document_validation_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Make FastAPI's generated 422 (`HTTPValidationError`) describe the body we send."""
    components = schema.get("components", {}).get("schemas", {})
    if "HTTPValidationError" in components:
        components["HTTPValidationError"] = VALIDATION_ERROR_SCHEMA
    return schema
