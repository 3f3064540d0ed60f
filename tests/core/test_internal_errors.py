"""A 500 looks like every other answer (request id, security and CORS headers) and its log
line names the request; no log line ever carries a bound SQL parameter."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import httpx2
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from tessera.app import create_app
from tessera.core.db import DbSession
from tessera.core.identity.models import User
from tests.conftest import make_settings

ORIGIN = "https://app.example"
SECRET_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2VjcmV0LXNhbHQ$leaked-if-you-can-read-this"


def add_failing_routes(app: FastAPI) -> None:
    @app.get("/probe/crash")
    async def crash() -> None:
        raise RuntimeError("something nobody handled")

    @app.post("/probe/duplicate-user")
    async def duplicate_user(session: DbSession) -> None:
        # Two users with one e-mail: the unique index refuses the second, a database error
        # no handler expects, with a password hash among the statement's parameters.
        for _ in range(2):
            session.add(User(email="twice@example.com", hashed_password=SECRET_HASH))
            await session.flush()


class Failing:
    def __init__(self, http: httpx2.AsyncClient, log: io.StringIO) -> None:
        self.http, self.log = http, log

    def lines(self) -> list[dict[str, Any]]:
        """The service's own log output (JSON lines), exactly as it would reach stderr."""
        found = []
        for line in self.log.getvalue().splitlines():
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
        return found


@pytest.fixture
async def failing(database_url: str, tmp_path: Path) -> Any:
    settings = make_settings(database_url, tmp_path, cors_origins=ORIGIN, log_level="INFO")
    app = create_app(settings)
    add_failing_routes(app)
    output = io.StringIO()
    (handler,) = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
    handler.setStream(output)  # the handler configure_logging installed, formatter and all
    async with LifespanManager(app):
        transport = httpx2.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield Failing(http, output)


async def test_a_500_carries_request_id_security_and_cors_headers(
    failing: Failing,
) -> None:
    response = await failing.http.get(
        "/probe/crash", headers={"Origin": ORIGIN, "X-Request-ID": "crash-42"}
    )
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error", "error": "internal_error"}
    assert response.headers["X-Request-ID"] == "crash-42"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    lines = failing.lines()
    error = next(line for line in lines if line.get("event") == "unhandled_error")
    assert error["request_id"] == "crash-42"
    assert error["level"] == "error" and "RuntimeError" in error["exception"]
    access = next(line for line in lines if line.get("logger") == "tessera.access")
    assert access["status"] == 500 and access["request_id"] == "crash-42"


async def test_a_database_error_logs_no_bound_parameter(
    failing: Failing,
) -> None:
    response = await failing.http.post("/probe/duplicate-user", headers={"X-Request-ID": "db-7"})
    assert response.status_code == 500
    err = failing.log.getvalue()  # every line, every field
    error = next(line for line in failing.lines() if line.get("event") == "unhandled_error")
    assert "IntegrityError" in error["exception"]  # the error itself is logged, with the SQL
    assert "INSERT INTO users" in error["exception"]
    assert error["request_id"] == "db-7"
    assert "leaked-if-you-can-read-this" not in err
    assert "twice@example.com" not in err  # neither a parameter list nor the server's DETAIL
