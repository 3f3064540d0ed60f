"""What production shows an outsider: no docs unless enabled, /metrics only with its token,
/health without version or environment, HSTS when the public URL is https."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from asgi_lifespan import LifespanManager

from tessera.app import create_app
from tessera.core.config import Settings
from tessera.modules.tokens.config import TokensSettings
from tests.conftest import make_settings

METRICS_TOKEN = "metrics-token-for-the-scraper-0123456789"
PRODUCTION = {
    "env": "production",
    "password_hash_fast": False,
    "module_settings": [TokensSettings(kek="a-key-encryption-secret-of-enough-bytes-0123456789")],
}

Serve = Callable[..., AbstractAsyncContextManager[httpx2.AsyncClient]]


@pytest.fixture
def serve(sqlite_template: Path, tmp_path: Path) -> Serve:
    database = tmp_path / "tessera.db"
    shutil.copy(sqlite_template, database)

    @asynccontextmanager
    async def serving(**overrides: Any) -> AsyncIterator[httpx2.AsyncClient]:
        settings = make_settings(f"sqlite+aiosqlite:///{database}", tmp_path, **overrides)
        app = create_app(settings)
        async with LifespanManager(app):
            transport = httpx2.ASGITransport(app=app)
            async with httpx2.AsyncClient(transport=transport, base_url="http://t") as http:
                yield http

    return serving


async def test_production_hides_docs_metrics_and_details(serve: Serve) -> None:
    async with serve(**PRODUCTION) as http:
        for path in ("/docs", "/redoc", "/openapi.json", "/metrics"):
            response = await http.get(path)
            assert response.status_code == 404, path
        assert (await http.get("/health")).json() == {"status": "ok"}
        assert (await http.get("/healthz")).status_code == 200
        assert "strict-transport-security" not in (await http.get("/healthz")).headers


async def test_production_metrics_need_the_bearer_token(serve: Serve) -> None:
    async with serve(**PRODUCTION, metrics_token=METRICS_TOKEN, docs_enabled=True) as http:
        assert (await http.get("/metrics")).status_code == 401
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer guess"})
        assert wrong.status_code == 401 and wrong.json()["error"] == "metrics_token_required"
        odd = await http.get(
            "/metrics", headers={"Authorization": "Bearer ünïcode".encode("latin-1")}
        )
        assert odd.status_code == 401
        right = await http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert right.status_code == 200 and "tessera_http_requests_total" in right.text
        # Docs were asked for explicitly.
        assert (await http.get("/openapi.json")).status_code == 200
        assert (await http.get("/docs")).status_code == 200


async def test_development_keeps_docs_metrics_and_details(serve: Serve) -> None:
    async with serve() as http:
        assert (await http.get("/openapi.json")).status_code == 200
        assert (await http.get("/metrics")).status_code == 200
        assert set((await http.get("/health")).json()) == {"status", "version", "environment"}


async def test_hsts_when_the_public_url_is_https(serve: Serve) -> None:
    async with serve(public_url="https://tickets.example") as http:
        response = await http.get("/healthz")
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
        error = await http.get("/nope")
        assert "Strict-Transport-Security" in error.headers


def test_the_public_url_defaults_to_host_and_port() -> None:
    settings = Settings(_env_file=None, host="0.0.0.0", port=8123)  # type: ignore[call-arg]
    assert settings.resolved_public_url == "http://0.0.0.0:8123"
    assert not settings.uses_https
    given = Settings(_env_file=None, public_url="https://api.example/")  # type: ignore[call-arg]
    assert given.resolved_public_url == "https://api.example" and given.uses_https
