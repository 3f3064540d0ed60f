"""The seed's own 13 auth tests (Lanterne Rouge, tests/test_backend_auth.py), on UUID ids."""

from __future__ import annotations

import uuid
from typing import Any

import httpx2

from tests.core.identity.conftest import set_user_flags
from tests.helpers.identity import DEFAULT_PASSWORD, make_admin, register_and_login


def new_email() -> str:
    return f"rider-{uuid.uuid4().hex[:8]}@example.com"


async def test_1_health(client: httpx2.AsyncClient) -> None:
    body = (await client.get("/healthz")).json()
    assert body["status"] == "healthy" and body["timestamp"] and body["version"]


async def test_2_register_success(client: httpx2.AsyncClient) -> None:
    email = new_email()
    response = await client.post(
        "/auth/register", json={"email": email, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == email and body["is_active"] is True and body["is_admin"] is False
    assert uuid.UUID(body["id"]) and body["created_at"]


async def test_3_duplicate_email(client: httpx2.AsyncClient) -> None:
    email = new_email()
    payload = {"email": email, "password": DEFAULT_PASSWORD}
    assert (await client.post("/auth/register", json=payload)).status_code == 201
    again = await client.post("/auth/register", json=payload)
    assert again.status_code == 400 and "already registered" in again.json()["detail"]


async def test_4_short_password(client: httpx2.AsyncClient) -> None:
    response = await client.post("/auth/register", json={"email": new_email(), "password": "short"})
    assert response.status_code == 422


async def test_5_login_success(client: httpx2.AsyncClient) -> None:
    email = new_email()
    await client.post("/auth/register", json={"email": email, "password": DEFAULT_PASSWORD})
    response = await client.post("/auth/login", json={"email": email, "password": DEFAULT_PASSWORD})
    body = response.json()
    assert response.status_code == 200
    assert body["access_token"] and body["refresh_token"] and body["token_type"] == "bearer"
    assert 0 < body["expires_in"] <= 30 * 60


async def test_6_unknown_email(client: httpx2.AsyncClient) -> None:
    response = await client.post(
        "/auth/login", json={"email": new_email(), "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 401
    assert response.json()["detail"] == "Incorrect email or password"


async def test_7_wrong_password(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    response = await client.post("/auth/login", json={"email": user.email, "password": "x" * 12})
    assert response.status_code == 401
    assert response.json()["detail"] == "Incorrect email or password"


async def test_8_inactive_user(client: httpx2.AsyncClient, runtime: Any) -> None:
    user = await register_and_login(client)
    await set_user_flags(runtime, user.id, is_active=False)
    response = await client.post(
        "/auth/login", json={"email": user.email, "password": user.password}
    )
    assert response.status_code == 403 and "inactive" in response.json()["detail"]


async def test_9_refresh_success(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    response = await client.post("/auth/refresh", json={"refresh_token": user.refresh_token})
    assert response.status_code == 200
    body = response.json()
    assert body["access_token"] and body["refresh_token"] != user.refresh_token


async def test_10_garbage_refresh_token(client: httpx2.AsyncClient) -> None:
    response = await client.post("/auth/refresh", json={"refresh_token": "not-a-token"})
    assert response.status_code == 401


async def test_11_access_token_as_refresh(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    response = await client.post("/auth/refresh", json={"refresh_token": user.access_token})
    assert response.status_code == 401 and response.json()["detail"] == "Invalid token type"


async def test_12_refresh_reuse(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    first = await client.post("/auth/refresh", json={"refresh_token": user.refresh_token})
    second = await client.post("/auth/refresh", json={"refresh_token": user.refresh_token})
    assert (first.status_code, second.status_code) == (200, 401)


async def test_13_admin_flag(client: httpx2.AsyncClient, runtime: Any) -> None:
    response = await client.post(
        "/auth/register",
        json={"email": new_email(), "password": DEFAULT_PASSWORD, "is_admin": True},
    )
    assert response.status_code == 201 and response.json()["is_admin"] is False
    admin = await make_admin(client, runtime)
    me = await client.get("/auth/me", headers=admin.headers)
    assert me.json()["is_admin"] is True
