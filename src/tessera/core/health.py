"""Liveness (`/health`, `/healthz`), readiness (`/readyz`) and `/metrics`.

In production `/health` tells only `status` (the version and environment help an attacker
more than a load balancer), and `/metrics` answers only with `TESSERA_METRICS_TOKEN` as a
Bearer token: without one configured it is not served there at all.
"""

from __future__ import annotations

import asyncio
import hmac
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

import tessera
from tessera.core.config import Settings
from tessera.core.errors import NotFound, Unauthorized
from tessera.core.kit.responses import model_response
from tessera.core.metrics import metrics_endpoint

READINESS_TIMEOUT_SECONDS = 2.0

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    version: str | None = None  # not in production
    environment: str | None = None  # not in production


class Healthz(BaseModel):
    status: str
    timestamp: datetime
    version: str


@router.get("/health", response_model=Health, response_model_exclude_none=True)
async def health(request: Request) -> Health:
    """Liveness in the shape of seeds 000 and 001 (in production: `status` only)."""
    settings: Settings = request.app.state.runtime.settings
    if settings.is_production:
        return Health(status="ok")
    return Health(status="ok", version=tessera.__version__, environment=settings.env.value)


@router.get("/healthz", response_model=Healthz)
async def healthz() -> Response:
    """Liveness in the shape of seed 004. No I/O: it answers while the database is down."""
    return model_response(
        Healthz(status="healthy", timestamp=datetime.now(UTC), version=tessera.__version__)
    )


@router.get("/readyz", responses={503: {"description": "A dependency is unreachable"}})
async def readyz(request: Request) -> JSONResponse:
    """Ready when the database (and Redis, if configured) answer within a short timeout."""
    runtime = request.app.state.runtime
    checks: dict[str, str] = {}
    checks["database"] = await _probe(runtime.db.ping())
    if runtime.redis is not None:
        checks["redis"] = await _probe(runtime.redis.ping())
    ready = all(value == "ok" for value in checks.values())
    body: dict[str, Any] = {"status": "ready" if ready else "unavailable", "checks": checks}
    if not ready:
        body |= {"detail": "A dependency is unreachable", "error": "not_ready"}
    return JSONResponse(body, status_code=200 if ready else 503)


async def _probe(awaitable: Any) -> str:
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_SECONDS):
            await awaitable
    except Exception:
        return "unreachable"
    return "ok"


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    settings: Settings = request.app.state.runtime.settings
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        matches = hmac.compare_digest(given.strip().encode(), token.encode())
        if scheme.lower() != "bearer" or not matches:
            raise Unauthorized("A valid metrics token is required", code="metrics_token_required")
    elif settings.is_production:
        raise NotFound()
    return await metrics_endpoint(request)
