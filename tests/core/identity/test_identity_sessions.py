"""Sessions end when they should, on the very next request."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx2
import pytest

from tests.core.identity.conftest import AppFactory, audit_rows, set_user_flags
from tests.helpers.identity import AuthedUser, login, register_and_login


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def second_session(client: httpx2.AsyncClient, user: AuthedUser) -> dict[str, Any]:
    return await login(client, user.email, user.password)


async def test_me_returns_the_profile(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client, full_name="Ada Lovelace")
    body = (await client.get("/auth/me", headers=user.headers)).json()
    core = {"id", "email", "full_name", "is_active", "is_admin", "created_at"}
    core |= {"email_verified", "two_fa_enabled", "two_fa_method"}
    # The enabled modules may add their fields (SPEC §12: one union); the core's are these.
    assert {key: body[key] for key in core} == {
        "id": user.id,
        "email": user.email,
        "full_name": "Ada Lovelace",
        "is_active": True,
        "is_admin": False,
        "created_at": body["created_at"],
        "email_verified": False,
        "two_fa_enabled": False,
        "two_fa_method": None,
    }


async def test_me_without_a_token_is_401(client: httpx2.AsyncClient) -> None:
    response = await client.get("/auth/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_patch_me_changes_only_the_name(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    response = await client.patch(
        "/auth/me",
        headers=user.headers,
        json={"full_name": "Grace Hopper", "is_admin": True, "email": "x@example.com"},
    )
    assert response.status_code == 200
    me = (await client.get("/auth/me", headers=user.headers)).json()
    assert (me["full_name"], me["is_admin"], me["email"]) == ("Grace Hopper", False, user.email)


async def test_logout_kills_the_access_and_refresh_tokens(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    assert (await client.post("/auth/logout", headers=user.headers)).status_code == 200
    assert (await client.get("/auth/me", headers=user.headers)).status_code == 401
    refresh = await client.post("/auth/refresh", json={"refresh_token": user.refresh_token})
    assert refresh.status_code == 401


async def test_refresh_makes_the_previous_access_token_stale(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    new = (await client.post("/auth/refresh", json={"refresh_token": user.refresh_token})).json()
    assert (await client.get("/auth/me", headers=user.headers)).status_code == 401
    assert (await client.get("/auth/me", headers=bearer(new["access_token"]))).status_code == 200


async def test_refresh_reuse_revokes_the_whole_family(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    user = await register_and_login(client)
    first = (await client.post("/auth/refresh", json={"refresh_token": user.refresh_token})).json()
    second = (
        await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).json()
    # The thief replays the first refresh token: refused, and the family dies.
    replay = await client.post("/auth/refresh", json={"refresh_token": user.refresh_token})
    assert replay.status_code == 401
    newest = await client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert newest.status_code == 401
    assert (await client.get("/auth/me", headers=bearer(second["access_token"]))).status_code == 401
    rows = await audit_rows(runtime, "auth.refresh_reuse_detected")
    assert len(rows) == 1 and rows[0].user_id == user.id


async def test_reuse_in_one_session_leaves_other_sessions_alone(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    other = await second_session(client, user)
    await client.post("/auth/refresh", json={"refresh_token": user.refresh_token})
    await client.post("/auth/refresh", json={"refresh_token": user.refresh_token})
    assert (await client.get("/auth/me", headers=bearer(other["access_token"]))).status_code == 200


async def _live_tokens(client: httpx2.AsyncClient, candidates: list[str]) -> int:
    """How many of the candidate refresh tokens still work (each is spent by the probe, so a
    family with one live token is probed through that token only)."""
    live = 0
    for token in candidates:
        response = await client.post("/auth/refresh", json={"refresh_token": token})
        live += response.status_code == 200
    return live


async def refresh_race(client: httpx2.AsyncClient, trials: int) -> None:
    # A few accounts, logged in again for each trial: within the per-IP registration and
    # per-account login limits even against a live server.
    users = [await register_and_login(client) for _ in range(4)]
    for trial in range(trials):
        owner = users[trial % len(users)]
        refresh_token = (await login(client, owner.email, owner.password))["refresh_token"]
        responses = await asyncio.gather(
            *(
                client.post("/auth/refresh", json={"refresh_token": refresh_token})
                for _ in range(20)
            )
        )
        statuses = [r.status_code for r in responses]
        assert set(statuses) <= {200, 401} and statuses.count(200) <= 1
        minted = [r.json()["refresh_token"] for r in responses if r.status_code == 200]
        assert await _live_tokens(client, minted) <= 1
        if statuses.count(401) > 0:  # reuse fired: nothing of the family survives
            assert await _live_tokens(client, minted) == 0


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
async def test_parallel_refreshes_leave_at_most_one_live_token(client: httpx2.AsyncClient) -> None:
    await refresh_race(client, trials=10)


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
async def test_parallel_refreshes_over_real_http_leave_at_most_one_live_token(
    live_server: str,
) -> None:
    """20 connections at once against a real server on PostgreSQL, 20 times over."""
    limits = httpx2.Limits(max_connections=20)
    async with httpx2.AsyncClient(base_url=live_server, limits=limits, timeout=30) as client:
        await refresh_race(client, trials=20)


async def test_password_change_ends_the_other_sessions(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    y, z = await second_session(client, user), await second_session(client, user)
    response = await client.post(
        "/auth/password",
        headers=user.headers,
        json={"current_password": user.password, "new_password": "a-brand-new-passphrase-7"},
    )
    assert response.status_code == 200 and response.json()["sessions_ended"] == 2
    for other in (y, z):
        assert (
            await client.get("/auth/me", headers=bearer(other["access_token"]))
        ).status_code == 401
        refresh = await client.post("/auth/refresh", json={"refresh_token": other["refresh_token"]})
        assert refresh.status_code == 401
    assert (await client.get("/auth/me", headers=user.headers)).status_code == 200
    assert (
        await client.post("/auth/login", json={"email": user.email, "password": user.password})
    ).status_code == 401
    await login(client, user.email, "a-brand-new-passphrase-7")


async def test_password_change_needs_the_current_password(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    wrong = await client.post(
        "/auth/password",
        headers=user.headers,
        json={"current_password": "not-my-password-1", "new_password": "another-good-one-99"},
    )
    missing = await client.post(
        "/auth/password", headers=user.headers, json={"new_password": "another-good-one-99"}
    )
    assert (wrong.status_code, missing.status_code) == (400, 422)
    await login(client, user.email, user.password)


async def test_deactivation_ends_every_session_and_blocks_with_403(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    from tests.helpers.identity import make_admin

    admin = await make_admin(client, runtime)
    user = await register_and_login(client)
    others = [await second_session(client, user) for _ in range(2)]
    response = await client.patch(
        f"/admin/users/{user.id}", headers=admin.headers, json={"is_active": False}
    )
    assert response.status_code == 200 and response.json()["is_active"] is False
    for token in [user.access_token, *(o["access_token"] for o in others)]:
        assert (await client.get("/auth/me", headers=bearer(token))).status_code == 401
    for token in [user.refresh_token, *(o["refresh_token"] for o in others)]:
        assert (
            await client.post("/auth/refresh", json={"refresh_token": token})
        ).status_code == 401


async def test_inactive_account_with_a_live_session_gets_403(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    user = await register_and_login(client)
    await set_user_flags(runtime, user.id, is_active=False)  # flipped behind the API's back
    response = await client.get("/auth/me", headers=user.headers)
    assert response.status_code == 403 and response.json()["detail"] == "Account is inactive"


async def test_logout_all_ends_every_session(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    other = await second_session(client, user)
    response = await client.post("/auth/logout-all", headers=user.headers)
    assert response.json()["sessions_ended"] == 2
    for token in (user.access_token, other["access_token"]):
        assert (await client.get("/auth/me", headers=bearer(token))).status_code == 401


async def test_sessions_list_and_revoke(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    other = await second_session(client, user)
    stranger = await register_and_login(client)
    sessions = (await client.get("/auth/sessions", headers=user.headers)).json()
    assert len(sessions) == 2 and sum(s["current"] for s in sessions) == 1
    assert all(s["ip_address"] == "203.0.113.7" for s in sessions)
    other_id = next(s["id"] for s in sessions if not s["current"])
    # Someone else's session id answers 404, as if it did not exist.
    foreign = await client.delete(f"/auth/sessions/{other_id}", headers=stranger.headers)
    assert foreign.status_code == 404
    assert (await client.get("/auth/me", headers=bearer(other["access_token"]))).status_code == 200
    ended = await client.delete(f"/auth/sessions/{other_id}", headers=user.headers)
    assert ended.status_code == 204
    assert (await client.get("/auth/me", headers=bearer(other["access_token"]))).status_code == 401
    assert len((await client.get("/auth/sessions", headers=user.headers)).json()) == 1
    again = await client.delete(f"/auth/sessions/{other_id}", headers=user.headers)
    assert again.status_code == 404


async def test_admin_kill_switch(client: httpx2.AsyncClient, runtime: Any) -> None:
    from tests.helpers.identity import make_admin

    admin = await make_admin(client, runtime)
    user = await register_and_login(client)
    response = await client.delete(f"/admin/users/{user.id}/sessions", headers=admin.headers)
    assert response.status_code == 200 and response.json()["sessions_ended"] == 1
    assert (await client.get("/auth/me", headers=user.headers)).status_code == 401
    await login(client, user.email, user.password)  # the account itself still works


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)  # SQLite: one process
@pytest.mark.parametrize("shared_redis", [True, False], ids=["redis", "no-redis"])
async def test_revocation_reaches_every_replica(app_with: AppFactory, shared_redis: bool) -> None:
    """Two replicas (two runtimes, one PostgreSQL, one Redis or none): a logout on one is
    seen on the other's very next request."""
    overrides = {"redis_prefix": f"replica-{uuid.uuid4().hex[:8]}"}
    if not shared_redis:
        overrides["redis_url"] = None
    async with app_with(**overrides) as (_, a), app_with(**overrides) as (_, b):
        user = await register_and_login(a)
        assert (await b.get("/auth/me", headers=user.headers)).status_code == 200  # b caches it
        assert (await a.post("/auth/logout", headers=user.headers)).status_code == 200
        assert (await b.get("/auth/me", headers=user.headers)).status_code == 401
        assert (await a.get("/auth/me", headers=user.headers)).status_code == 401


async def test_a_session_ends_at_its_absolute_lifetime_however_often_refreshed(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    from datetime import timedelta

    import jwt
    from sqlalchemy import select, update

    from tessera.core.db.base import utcnow
    from tessera.core.identity.models import AuthSession

    user = await register_and_login(client)
    async with runtime.db.session() as session:  # five minutes of its seven days remain
        await session.execute(
            update(AuthSession)
            .where(AuthSession.user_id == user.id)
            .values(expires_at=utcnow() + timedelta(minutes=5))
        )
    pair = (await client.post("/auth/refresh", json={"refresh_token": user.refresh_token})).json()
    assert pair["expires_in"] <= 300  # the access token never outlives its session …
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    async with runtime.db.session(write=False) as session:
        ends = await session.scalar(
            select(AuthSession.expires_at).where(AuthSession.user_id == user.id)
        )
    assert ends is not None and claims["exp"] <= ends.timestamp()  # … nor its cache entry
    async with runtime.db.session() as session:
        await session.execute(
            update(AuthSession)
            .where(AuthSession.user_id == user.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    refresh = await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refresh.status_code == 401


async def test_parallel_registrations_of_one_email_create_one_account(
    app_with: AppFactory,
) -> None:
    async with app_with(register_ip_limit="100/hour") as (_, client):
        email = f"twin-{uuid.uuid4().hex[:8]}@example.com"
        responses = await asyncio.gather(
            *(
                client.post(
                    "/auth/register",
                    json={
                        "email": email if i % 2 else email.upper(),
                        "password": f"twin-pass-{i:03d}",
                    },
                )
                for i in range(10)
            )
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201] + [400] * 9
        assert {r.json()["detail"] for r in responses if r.status_code == 400} == {
            "Email already registered"
        }
