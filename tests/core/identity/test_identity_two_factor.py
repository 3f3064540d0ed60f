"""TOTP two-factor through HTTP, at /auth and at seed 001's /api/v1/security faces."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx2
import pyotp
from sqlalchemy import select

from tessera.core.identity.models import BackupCode, User
from tests.core.identity.conftest import AppFactory, audit_rows
from tests.helpers.identity import DEFAULT_PASSWORD, AuthedUser, register_and_login


def _now_code(secret: str) -> str:
    return pyotp.TOTP(secret).now()


def _other_code(secret: str, steps: int) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * steps)


async def _enable(
    client: httpx2.AsyncClient, user: AuthedUser, prefix: str = "/auth"
) -> tuple[str, list[str]]:
    setup = await client.post(f"{prefix}/2fa/setup", headers=user.headers)
    assert setup.status_code == 200, setup.text
    body = setup.json()
    assert body["otpauth_uri"].startswith("otpauth://totp/")
    assert f"secret={body['secret']}" in body["otpauth_uri"]
    assert body["qr_svg"].startswith("<svg") and body["qr_code"].startswith("data:image/svg+xml")
    enable = await client.post(
        f"{prefix}/2fa/enable", json={"code": _now_code(body["secret"])}, headers=user.headers
    )
    assert enable.status_code == 200, enable.text
    codes = enable.json()["backup_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    return body["secret"], codes


async def _password_step(
    client: httpx2.AsyncClient, user: AuthedUser, path: str = "/auth/login"
) -> dict[str, Any]:
    response = await client.post(path, json={"email": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_setup_enable_login_and_verify(client: httpx2.AsyncClient, runtime: Any) -> None:
    user = await register_and_login(client)
    secret, _ = await _enable(client, user)
    challenge = await _password_step(client, user)
    assert challenge["requires_2fa"] is True and challenge["two_fa_method"] == "totp"
    assert "access_token" not in challenge and "refresh_token" not in challenge
    # The challenge is no access token.
    assert (
        await client.get(
            "/auth/me", headers={"Authorization": f"Bearer {challenge['two_fa_token']}"}
        )
    ).status_code == 401
    # A code of the next step is inside the allowed drift; it is not replayed below.
    verify = await client.post(
        "/auth/2fa/verify",
        json={"two_fa_token": challenge["two_fa_token"], "code": _other_code(secret, 1)},
    )
    assert verify.status_code == 200, verify.text
    body = verify.json()
    assert body["user"]["two_fa_enabled"] is True and body["user"]["two_fa_method"] == "totp"
    me = await client.get("/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["two_fa_enabled"] is True
    actions = [row.action for row in await audit_rows(runtime) if row.action.startswith("auth.2fa")]
    assert actions == ["auth.2fa_setup", "auth.2fa_enabled", "auth.2fa_challenged"]


async def test_a_code_is_accepted_once(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    setup = (await client.post("/auth/2fa/setup", headers=user.headers)).json()
    code = _now_code(setup["secret"])
    enable = await client.post("/auth/2fa/enable", json={"code": code}, headers=user.headers)
    assert enable.status_code == 200
    challenge = await _password_step(client, user)
    replay = await client.post(
        "/auth/2fa/verify", json={"two_fa_token": challenge["two_fa_token"], "code": code}
    )
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_2fa_code"
    # An older step than the last one used is refused as well.
    older = await client.post(
        "/auth/2fa/verify",
        json={"two_fa_token": challenge["two_fa_token"], "code": _other_code(setup["secret"], -1)},
    )
    assert older.status_code == 401


async def test_backup_codes_work_once_and_are_stored_hashed(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    user = await register_and_login(client)
    _, codes = await _enable(client, user)
    async with runtime.db.session(write=False) as session:
        stored = list(await session.scalars(select(BackupCode.code_hash)))
        row = await session.scalar(select(User).where(User.id == user.id))
    assert len(stored) == 10 and not set(codes) & set(stored)
    assert row is not None and row.totp_secret and row.totp_secret.startswith("v1:")
    challenge = await _password_step(client, user)
    first = await client.post(
        "/auth/2fa/verify", json={"two_fa_token": challenge["two_fa_token"], "code": codes[0]}
    )
    assert first.status_code == 200
    again = await client.post(
        "/auth/2fa/verify", json={"two_fa_token": challenge["two_fa_token"], "code": codes[0]}
    )
    assert again.status_code == 401
    logins = await audit_rows(runtime, "auth.login")
    assert logins[-1].details["second_factor"] == "backup_code"
    assert logins[-1].details["backup_codes_left"] == 9


async def test_wrong_codes_are_throttled_per_account(app_with: AppFactory) -> None:
    async with app_with(two_factor_limit="3/minute") as (app, client):
        user = await register_and_login(client)
        secret, _ = await _enable(client, user)  # one attempt of the three
        challenge = await _password_step(client, user)
        statuses = []
        for _ in range(3):
            response = await client.post(
                "/auth/2fa/verify",
                json={"two_fa_token": challenge["two_fa_token"], "code": "000000"},
            )
            statuses.append(response.status_code)
        assert statuses == [401, 401, 429]
        # Even the right code waits now.
        right = await client.post(
            "/auth/2fa/verify",
            json={"two_fa_token": challenge["two_fa_token"], "code": _other_code(secret, 1)},
        )
        assert right.status_code == 429 and "retry-after" in right.headers
        failures = await audit_rows(app.state.runtime, "auth.2fa_failed")
        assert len(failures) == 2


async def test_disable_needs_the_password_and_a_code(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    secret, codes = await _enable(client, user)
    wrong_password = await client.post(
        "/auth/2fa/disable",
        json={"password": "not-the-password", "code": _other_code(secret, 1)},
        headers=user.headers,
    )
    assert wrong_password.status_code == 400
    wrong_code = await client.post(
        "/auth/2fa/disable",
        json={"password": DEFAULT_PASSWORD, "code": "123456"},
        headers=user.headers,
    )
    assert wrong_code.status_code == 401
    ok = await client.post(
        "/auth/2fa/disable",
        json={"password": DEFAULT_PASSWORD, "code": codes[3]},
        headers=user.headers,
    )
    assert ok.status_code == 200 and ok.json()["two_fa_enabled"] is False
    body = await _password_step(client, user)
    assert body["requires_2fa"] is False and body["access_token"]


async def test_the_seed_001_security_faces(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    secret, _ = await _enable(client, user, prefix="/api/v1/security")
    challenge = await _password_step(client, user, "/api/v1/auth/login")
    assert challenge["requires_2fa"] is True
    verify = await client.post(
        "/api/v1/security/2fa/verify",
        json={"two_fa_token": challenge["two_fa_token"], "code": _other_code(secret, 1)},
    )
    assert verify.status_code == 200
    body = verify.json()
    assert body["requires_2fa"] is False and body["user"]["email"] == user.email
    assert body["user"]["two_fa_enabled"] is True and body["user"]["two_fa_method"] == "totp"
    assert body["user"]["email_verified"] is False


async def test_a_tampered_or_foreign_challenge_token_is_refused(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    await _enable(client, user)
    response = await client.post(
        "/auth/2fa/verify", json={"two_fa_token": user.access_token, "code": "123456"}
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_2fa_token"


async def test_parallel_uses_of_one_code_sign_in_exactly_once(live_server: str) -> None:
    """Racing requests with the same code against a real server: one session, no more."""
    async with httpx2.AsyncClient(base_url=live_server, timeout=30) as http:
        user = await register_and_login(http)
        setup = (await http.post("/auth/2fa/setup", headers=user.headers)).json()
        secret = setup["secret"]
        enable = await http.post(
            "/auth/2fa/enable", json={"code": _now_code(secret)}, headers=user.headers
        )
        assert enable.status_code == 200
        challenge = await _password_step(http, user)
        code = _other_code(secret, 1)
        body = {"two_fa_token": challenge["two_fa_token"], "code": code}
        # The per-account limit allows five attempts; enabling spent one.
        responses = await asyncio.gather(
            *(http.post("/auth/2fa/verify", json=body) for _ in range(4))
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 401, 401, 401]
        winner = next(r for r in responses if r.status_code == 200).json()
        bearer = {"Authorization": f"Bearer {winner['access_token']}"}
        sessions = await http.get("/auth/sessions", headers=bearer)
        assert len(sessions.json()) == 2  # the helper's login and the one two-factor login


async def test_digits_of_other_scripts_are_a_wrong_code_not_an_error(
    client: httpx2.AsyncClient,
) -> None:
    user = await register_and_login(client)
    await _enable(client, user)
    challenge = await _password_step(client, user)
    for code in ("١٢٣٤٥٦", "１２３４５６", "12345é"):
        response = await client.post(
            "/auth/2fa/verify", json={"two_fa_token": challenge["two_fa_token"], "code": code}
        )
        assert response.status_code == 401, (code, response.text)
