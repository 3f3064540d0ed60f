"""The purge job, the three path prefixes, the login body forms, the OpenAPI schema."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select, update

from tessera.core.db.base import utcnow
from tessera.core.identity.jobs import PURGE_EXPIRED_SESSIONS
from tessera.core.identity.models import AuthSession, RefreshToken
from tests.helpers.identity import DEFAULT_PASSWORD, login, register_and_login

PREFIXES = ["/auth", "/api/auth", "/api/v1/auth"]


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_the_same_handlers_answer_at_every_prefix(
    client: httpx2.AsyncClient, prefix: str
) -> None:
    email = f"prefix-{prefix.count('/')}-{id(client)}@example.com"
    registered = await client.post(
        f"{prefix}/register", json={"email": email, "password": DEFAULT_PASSWORD}
    )
    assert registered.status_code == 201
    form = await client.post(
        f"{prefix}/login", data={"username": email, "password": DEFAULT_PASSWORD}
    )
    assert form.status_code == 200
    headers = {"Authorization": f"Bearer {form.json()['access_token']}"}
    assert (await client.get(f"{prefix}/me", headers=headers)).json()["email"] == email
    refreshed = await client.post(
        f"{prefix}/refresh", json={"refresh_token": form.json()["refresh_token"]}
    )
    headers = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    assert (await client.post(f"{prefix}/logout", headers=headers)).status_code == 200
    assert (await client.get(f"{prefix}/me", headers=headers)).status_code == 401


async def test_openapi_documents_one_copy(app: Any) -> None:
    paths = app.openapi()["paths"]
    assert "/auth/login" in paths and "/auth/sessions/{session_id}" in paths
    assert not [p for p in paths if p.startswith(("/api/auth", "/api/v1/auth"))]
    login_body = paths["/auth/login"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/x-www-form-urlencoded"} <= set(login_body)
    assert "401" in paths["/auth/login"]["post"]["responses"]
    schemes = app.openapi()["components"]["securitySchemes"]
    assert schemes["Bearer"]["flows"]["password"]["tokenUrl"] == "/auth/login"


async def test_login_body_forms(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    as_json = await client.post(
        "/auth/login", json={"email": user.email, "password": user.password}
    )
    as_form = await client.post(
        "/auth/login", data={"username": user.email.upper(), "password": user.password}
    )
    assert (as_json.status_code, as_form.status_code) == (200, 200)
    for bad in (
        {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
        {"json": {"email": user.email}},
        {"data": {"username": user.email}},
        {"content": b"", "headers": {"Content-Type": "text/plain"}},
    ):
        response = await client.post("/auth/login", **bad)  # type: ignore[arg-type]
        assert response.status_code == 422, bad
        assert response.json()["error"] == "validation_error"


async def test_duplicate_email_in_another_case_is_refused(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    again = await client.post(
        "/auth/register", json={"email": f"  {user.email.upper()} ", "password": DEFAULT_PASSWORD}
    )
    assert again.status_code == 400 and again.json()["detail"] == "Email already registered"


async def test_registration_normalises_the_email(client: httpx2.AsyncClient) -> None:
    response = await client.post(
        "/auth/register", json={"email": "  Mixed.Case@Example.COM ", "password": DEFAULT_PASSWORD}
    )
    assert response.json()["email"] == "mixed.case@example.com"
    await login(client, "MIXED.case@example.com", DEFAULT_PASSWORD)


async def test_purge_job_removes_only_dead_sessions(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    alive = await register_and_login(client)
    expired = await register_and_login(client)
    revoked = await register_and_login(client)
    await client.post("/auth/logout", headers=revoked.headers)
    async with runtime.db.session() as session:
        await session.execute(
            update(AuthSession)
            .where(AuthSession.user_id == expired.id)
            .values(expires_at=utcnow() - timedelta(days=2))
        )
        await session.execute(
            update(AuthSession)
            .where(AuthSession.user_id == revoked.id)
            .values(revoked_at=utcnow() - timedelta(days=8))
        )
    assert await runtime.scheduler.run_job(PURGE_EXPIRED_SESSIONS)
    async with runtime.db.session(write=False) as session:
        owners = set(await session.scalars(select(AuthSession.user_id)))
        orphans = await session.scalar(
            select(func.count())
            .select_from(RefreshToken)
            .where(RefreshToken.session_id.not_in(select(AuthSession.id)))
        )
    assert owners == {alive.id} and orphans == 0
    assert (await client.get("/auth/me", headers=alive.headers)).status_code == 200
