"""Accounts and credentials for tests of any part: real HTTP registration and login.

user = await register_and_login(client)
await client.get("/auth/me", headers=user.headers)
admin = await make_admin(client, runtime)
kiosk = await make_api_key(runtime, "kiosk")     # {"Authorization": "ApiKey …"}
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx2
from sqlalchemy import update

from tessera.core.identity.api_keys import create_api_key
from tessera.core.identity.models import User

DEFAULT_PASSWORD = "correct-horse-battery-staple-42"


@dataclass
class AuthedUser:
    id: str
    email: str
    password: str
    access_token: str
    refresh_token: str
    headers: dict[str, str] = field(default_factory=dict)


def _in_process_app(client: httpx2.AsyncClient) -> tuple[Any, str] | None:
    """(runtime, client address) of the app behind an in-process client; None for a client
    of a live server."""
    transport = getattr(client, "_transport", None)
    runtime = getattr(getattr(getattr(transport, "app", None), "state", None), "runtime", None)
    address = getattr(transport, "client", None)
    if runtime is None or not address:
        return None
    return runtime, str(address[0])


async def _lift_register_limit(client: httpx2.AsyncClient) -> None:
    """Every in-process test request comes from one address, so a test that registers more
    accounts than the per-IP limit allows would hit it; helpers are not what it tests."""
    found = _in_process_app(client)
    if found is not None:
        runtime, address = found
        await runtime.limiter.reset(runtime.settings.register_ip_limit, "register_ip", address)


async def login(client: httpx2.AsyncClient, email: str, password: str) -> dict[str, Any]:
    response = await client.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def register_and_login(
    client: httpx2.AsyncClient,
    *,
    email: str | None = None,
    password: str = DEFAULT_PASSWORD,
    full_name: str | None = None,
) -> AuthedUser:
    email = email or f"user-{uuid.uuid4().hex[:12]}@example.com"
    await _lift_register_limit(client)
    payload: dict[str, Any] = {"email": email, "password": password}
    if full_name is not None:
        payload["full_name"] = full_name
    response = await client.post("/auth/register", json=payload)
    assert response.status_code == 201, response.text
    user_id = response.json()["id"]
    tokens = await login(client, email, password)
    return AuthedUser(
        id=user_id,
        email=response.json()["email"],
        password=password,
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )


async def make_admin(client: httpx2.AsyncClient, runtime: Any, **kwargs: Any) -> AuthedUser:
    """A registered, logged-in admin (the flag is set in the database, as only an operator
    can). Admin rights are read on every request, so the token works at once."""
    user = await register_and_login(client, **kwargs)
    async with runtime.db.session() as session:
        await session.execute(update(User).where(User.id == user.id).values(is_admin=True))
    return user


async def make_api_key(runtime: Any, role: str, name: str | None = None) -> dict[str, str]:
    async with runtime.db.session() as session:
        _, plaintext = await create_api_key(
            session,
            name=name or f"test-{role}-{uuid.uuid4().hex[:6]}",
            role=role,
            created_by="test",
        )
    return {"Authorization": f"ApiKey {plaintext}"}
