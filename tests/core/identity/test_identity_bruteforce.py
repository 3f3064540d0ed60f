"""Throttles: taken atomically before any hashing, so parallel guesses cannot slip past."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid

from tests.core.identity.conftest import AppFactory, audit_rows
from tests.helpers.identity import DEFAULT_PASSWORD, register_and_login


async def test_100_parallel_wrong_logins_reach_the_password_check_at_most_10_times(
    app_with: AppFactory,
) -> None:
    async with app_with(login_account_limit="10/4 seconds", login_ip_limit="1000/hour") as (
        app,
        client,
    ):
        user = await register_and_login(client)
        failures_before = len(await audit_rows(app.state.runtime, "auth.login_failed"))

        async def guess(i: int) -> tuple[int, str | None]:
            # Rotating X-Forwarded-For and User-Agent must not help: the peer is untrusted.
            headers = {"X-Forwarded-For": f"198.51.100.{i}", "User-Agent": f"bot/{i}"}
            response = await client.post(
                "/auth/login",
                json={"email": user.email, "password": f"wrong-guess-{i:04d}"},
                headers=headers,
            )
            return response.status_code, response.headers.get("Retry-After")

        started = time.monotonic()
        results = await asyncio.gather(*(guess(i) for i in range(100)))
        statuses = [status for status, _ in results]
        reached = len(await audit_rows(app.state.runtime, "auth.login_failed")) - failures_before
        assert statuses.count(401) <= 10 and reached == statuses.count(401)
        assert statuses.count(429) == 100 - statuses.count(401)
        assert all(int(retry) >= 1 for status, retry in results if status == 429 and retry)
        assert all(retry for status, retry in results if status == 429)
        # Even the right password waits for the window …
        blocked = await client.post(
            "/auth/login", json={"email": user.email, "password": user.password}
        )
        if time.monotonic() - started < 3:  # (a very slow machine may be past it already)
            assert blocked.status_code == 429
        # … and works after it: a soft lock, never a permanent one.
        await asyncio.sleep(max(0.0, started + 4.3 - time.monotonic()))
        ok = await client.post("/auth/login", json={"email": user.email, "password": user.password})
        assert ok.status_code == 200


async def test_unknown_emails_are_throttled_like_known_ones(app_with: AppFactory) -> None:
    async with app_with(login_account_limit="3/minute") as (_, client):
        email = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
        statuses = [
            (
                await client.post("/auth/login", json={"email": email, "password": "x" * 10})
            ).status_code
            for _ in range(5)
        ]
        assert statuses == [401, 401, 401, 429, 429]


async def test_the_account_key_ignores_case_and_spaces(app_with: AppFactory) -> None:
    async with app_with(login_account_limit="2/minute") as (_, client):
        user = await register_and_login(client)  # one login already counted
        spelled = f"  {user.email.upper()} "
        first = await client.post("/auth/login", json={"email": spelled, "password": "bad-guess-1"})
        second = await client.post(
            "/auth/login", json={"email": spelled, "password": "bad-guess-2"}
        )
        assert (first.status_code, second.status_code) == (401, 429)


async def test_one_ip_cannot_stuff_many_accounts(app_with: AppFactory) -> None:
    async with app_with(login_ip_limit="5/minute") as (_, client):
        statuses = []
        for _ in range(8):
            email = f"victim-{secrets.token_hex(4)}@example.com"
            response = await client.post(
                "/auth/login", json={"email": email, "password": DEFAULT_PASSWORD}
            )
            statuses.append(response.status_code)
        assert statuses == [401] * 5 + [429] * 3
    # Another address is not affected.
    async with app_with(login_ip_limit="5/minute", client_ip="198.51.100.20") as (_, other):
        response = await other.post(
            "/auth/login", json={"email": "someone@example.com", "password": DEFAULT_PASSWORD}
        )
        assert response.status_code == 401


async def test_registration_is_throttled_per_ip(app_with: AppFactory) -> None:
    async with app_with(register_ip_limit="3/hour") as (_, client):
        statuses = []
        for i in range(5):
            response = await client.post(
                "/auth/register",
                json={
                    "email": f"new-{i}-{uuid.uuid4().hex[:6]}@example.com",
                    "password": DEFAULT_PASSWORD,
                },
            )
            statuses.append(response.status_code)
        assert statuses == [201, 201, 201, 429, 429]
        limited = await client.post(
            "/auth/register", json={"email": "late@example.com", "password": DEFAULT_PASSWORD}
        )
        assert int(limited.headers["Retry-After"]) > 0
        assert limited.json()["error"] == "rate_limited"


async def test_password_reset_is_throttled_per_ip(app_with: AppFactory) -> None:
    async with app_with(password_reset_ip_limit="2/hour") as (_, client):
        statuses = [
            (
                await client.post(
                    "/auth/password-reset/request", json={"email": f"r{i}@example.com"}
                )
            ).status_code
            for i in range(3)
        ]
        confirm = await client.post(
            "/auth/password-reset/confirm",
            json={"token": "x" * 43, "new_password": "a-fresh-passphrase-1"},
        )
        assert statuses == [202, 202, 429] and confirm.status_code == 429
