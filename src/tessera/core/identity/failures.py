"""Failures whose side effects must still commit (a failed-login audit row, a revoked token
family). Services raise `KeepChanges(error)`; endpoints answer with the error *after* the
request's transaction commits instead of rolling it back."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from tessera.core.errors import AppError, Unauthorized, error_body

INCORRECT_CREDENTIALS = "Incorrect email or password"
INVALID_REFRESH = "Invalid or expired refresh token"
INVALID_CREDENTIALS = "Could not validate credentials"


class KeepChanges(Exception):
    def __init__(self, error: AppError) -> None:
        super().__init__(error.detail)
        self.error = error


def incorrect_credentials() -> Unauthorized:
    return Unauthorized(INCORRECT_CREDENTIALS, code="incorrect_credentials")


def invalid_refresh() -> Unauthorized:
    return Unauthorized(INVALID_REFRESH, code="invalid_refresh_token")


def error_response(error: AppError) -> JSONResponse:
    """The same body and headers the app's error handler would produce."""
    return JSONResponse(
        error_body(error.detail, error.code), status_code=error.status_code, headers=error.headers
    )
