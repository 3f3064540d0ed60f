"""What any client sees of the frame: error bodies, request ids, limits, CORS, health, docs."""

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pydantic import BaseModel

from tessera.app import create_app
from tessera.core.errors import Conflict
from tests.conftest import make_settings


class Item(BaseModel):
    name: str
    quantity: int


def add_probe_routes(app: FastAPI) -> None:
    @app.post("/probe/items")
    async def create_item(item: Item) -> Item:
        return item

    @app.get("/probe/conflict")
    async def conflict() -> None:
        raise Conflict("Already there", code="already_there")

    @app.get("/probe/crash")
    async def crash() -> None:
        raise RuntimeError("SELECT secret FROM /srv/app/db.py line 12")


async def serve(app: FastAPI) -> Any:
    manager = LifespanManager(app)
    await manager.__aenter__()
    transport = httpx2.ASGITransport(app=manager.app, raise_app_exceptions=False)
    return manager, httpx2.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def probe(settings: Any) -> Any:
    app = create_app(settings)
    add_probe_routes(app)
    manager, http = await serve(app)
    yield http
    await http.aclose()
    await manager.__aexit__(None, None, None)


async def test_unknown_route_is_404_with_error_body(probe: httpx2.AsyncClient) -> None:
    response = await probe.get("/nope")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found", "error": "not_found"}


async def test_wrong_method_is_405(probe: httpx2.AsyncClient) -> None:
    response = await probe.delete("/healthz")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


async def test_validation_error_keeps_the_standard_list(probe: httpx2.AsyncClient) -> None:
    response = await probe.post("/probe/items", json={"name": "x", "quantity": "many"})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "validation_error"
    assert body["detail"][0]["loc"] == ["body", "quantity"]


async def test_domain_error_maps_to_its_status_and_code(probe: httpx2.AsyncClient) -> None:
    response = await probe.get("/probe/conflict")
    assert response.status_code == 409
    assert response.json() == {"detail": "Already there", "error": "already_there"}


async def test_500_hides_traces_sql_and_paths(probe: httpx2.AsyncClient) -> None:
    response = await probe.get("/probe/crash")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error", "error": "internal_error"}
    assert "SELECT" not in response.text and "/srv" not in response.text


async def test_request_id_is_echoed_or_minted(probe: httpx2.AsyncClient) -> None:
    given = await probe.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    minted = await probe.get("/healthz")
    assert len(minted.headers["X-Request-ID"]) == 32
    hostile = await probe.get("/healthz", headers={"X-Request-ID": "x\u0000" + "a" * 300})
    assert hostile.headers["X-Request-ID"] != "x\u0000" + "a" * 300


async def test_oversized_body_is_413(database_url: str, tmp_path: Path) -> None:
    app = create_app(make_settings(database_url, tmp_path, max_body_bytes=1024))
    add_probe_routes(app)
    manager, http = await serve(app)
    try:
        response = await http.post(
            "/probe/items",
            content=b'{"name": "' + b"x" * 4096 + b'", "quantity": 1}',
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 413
        assert set(response.json()) == {"detail", "error"}
    finally:
        await http.aclose()
        await manager.__aexit__(None, None, None)


async def test_cors_allows_listed_origin_and_denies_others(
    database_url: str, tmp_path: Path
) -> None:
    app = create_app(make_settings(database_url, tmp_path, cors_origins="https://app.example"))
    manager, http = await serve(app)
    try:
        preflight = {"Access-Control-Request-Method": "POST"}
        allowed = await http.options(
            "/healthz", headers={"Origin": "https://app.example", **preflight}
        )
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        assert allowed.headers["access-control-allow-credentials"] == "true"
        denied = await http.options(
            "/healthz", headers={"Origin": "https://evil.example", **preflight}
        )
        assert denied.status_code == 400
        assert "access-control-allow-origin" not in denied.headers
        simple = await http.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in simple.headers
    finally:
        await http.aclose()
        await manager.__aexit__(None, None, None)


async def test_security_headers(probe: httpx2.AsyncClient) -> None:
    response = await probe.get("/healthz")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


async def test_health_shapes(probe: httpx2.AsyncClient) -> None:
    health = (await probe.get("/health")).json()
    assert health == {"status": "ok", "version": health["version"], "environment": "test"}
    healthz = (await probe.get("/healthz")).json()
    assert healthz["status"] == "healthy" and healthz["timestamp"].endswith("Z")
    ready = await probe.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"


@pytest.fixture
async def without_database(engine: str, tmp_path: Path) -> AsyncIterator[httpx2.AsyncClient]:
    """A client of an app whose database cannot be reached (a missing path, a closed port)."""
    unreachable = {
        "sqlite": f"sqlite+aiosqlite:///{tmp_path}/missing-dir/nothing/x.db",
        "postgresql": "postgresql+asyncpg://postgres@127.0.0.1:1/none",
    }[engine]
    manager, http = await serve(create_app(make_settings(unreachable, tmp_path)))
    try:
        yield http
    finally:
        await http.aclose()
        await manager.__aexit__(None, None, None)
        await _sqlite_connects_settled()


async def _sqlite_connects_settled(deadline_seconds: float = 10.0) -> None:
    """On a busy machine the readiness check can time out while aiosqlite's worker thread is
    still failing to open the file; that thread then reports to this test's event loop. Let it
    finish before the loop closes, so its report does not land in a later test."""
    stop = time.monotonic() + deadline_seconds
    while time.monotonic() < stop and any(
        thread.name.endswith("(_connection_worker_thread)") for thread in threading.enumerate()
    ):
        await asyncio.sleep(0.05)


async def test_readyz_is_503_when_the_database_is_unreachable(
    without_database: httpx2.AsyncClient,
) -> None:
    response = await without_database.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unreachable"
    assert response.json()["error"] == "not_ready"
    assert (await without_database.get("/healthz")).status_code == 200  # liveness does no I/O


async def test_docs_load_every_asset_from_the_service(probe: httpx2.AsyncClient) -> None:
    for page in ("/docs", "/redoc"):
        html = (await probe.get(page)).text
        assert "cdn.jsdelivr.net" not in html and "fonts.googleapis" not in html
        assert "tiangolo.com" not in html
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png"):
        response = await probe.get(f"/static/docs/{asset}")
        assert response.status_code == 200 and len(response.content) > 1000
    assert (await probe.get("/openapi.json")).json()["info"]["title"] == "Tessera"


async def test_metrics_count_requests_by_route_template(probe: httpx2.AsyncClient) -> None:
    await probe.get("/probe/conflict")
    text = (await probe.get("/metrics")).text
    assert 'tessera_http_requests_total{method="GET",route="/probe/conflict",status="409"}' in text
    assert "tessera_http_request_duration_seconds_bucket" in text
    assert "tessera_http_requests_in_flight" in text


async def test_streamed_body_over_the_limit_is_413(database_url: str, tmp_path: Path) -> None:
    app = create_app(make_settings(database_url, tmp_path, max_body_bytes=1024))
    add_probe_routes(app)
    manager, http = await serve(app)

    async def chunks() -> Any:
        yield b'{"name": "'
        for _ in range(10):
            yield b"x" * 512
        yield b'", "quantity": 1}'

    try:
        response = await http.post(
            "/probe/items", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413
        assert response.json()["error"] == "payload_too_large"
    finally:
        await http.aclose()
        await manager.__aexit__(None, None, None)


async def test_every_route_has_its_own_method_and_path(app: Any) -> None:
    """Parts' routers are included in traffic order; that is safe only because no two
    routes answer the same method and path."""
    from fastapi.routing import APIRoute, iter_route_contexts

    seen: dict[tuple[str, str], str] = {}
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        for method in route.methods:
            key = (method, context.path)
            assert key not in seen, f"{key} is served by {seen[key]} and {route.name}"
            seen[key] = route.name
    assert ("POST", "/v1/redeem") in seen and ("POST", "/auth/login") in seen


async def test_path_aliases_serve_only_whole_prefixes(client: httpx2.AsyncClient) -> None:
    assert (await client.post("/api/v1/auth/login", json={})).status_code == 422  # /auth/login
    unknown = await client.post("/api/v1/authx/login", json={})
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"


async def test_an_unreachable_database_is_503_with_retry_after(
    without_database: httpx2.AsyncClient,
) -> None:
    login = {"email": "someone@example.com", "password": "a-long-password"}
    response = await without_database.post("/auth/login", json=login)
    assert response.status_code == 503
    assert response.json() == {
        "detail": "The database is unavailable; try again shortly",
        "error": "database_unavailable",
    }
    assert response.headers["Retry-After"] == "5"
