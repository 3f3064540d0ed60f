"""E-mail verification through HTTP and a real SMTP server on loopback, at /auth and at seed
001's /api/v1/security faces (which also name password reset differently)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest

from tests.core.identity.conftest import AppFactory, audit_rows
from tests.helpers.identity import DEFAULT_PASSWORD
from tests.helpers.mail import Inbox, newest, smtp_server, token_in

VERIFY = "Confirm your Tessera e-mail"


@pytest.fixture
async def mailing(app_with: AppFactory) -> AsyncIterator[tuple[Any, httpx2.AsyncClient, Inbox]]:
    with smtp_server() as (inbox, port):
        async with app_with(smtp_host="127.0.0.1", smtp_port=port) as (app, client):
            yield app, client, inbox


async def _register(
    client: httpx2.AsyncClient, email: str, prefix: str = "/auth"
) -> dict[str, Any]:
    response = await client.post(
        f"{prefix}/register", json={"email": email, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_registration_mails_a_single_use_link_that_verifies(
    mailing: tuple[Any, httpx2.AsyncClient, Inbox],
) -> None:
    app, client, inbox = mailing
    await _register(client, "ver@example.com")
    token = token_in(newest(await inbox.wait_for(1), VERIFY))
    verified = await client.post("/auth/verify-email", json={"token": token})
    assert verified.status_code == 200 and verified.json()["email_verified"] is True
    again = await client.post("/auth/verify-email", json={"token": token})
    assert again.status_code == 400 and again.json()["error"] == "invalid_verification_token"
    login = await client.post(
        "/auth/login", json={"email": "ver@example.com", "password": DEFAULT_PASSWORD}
    )
    assert login.json()["user"]["email_verified"] is True
    assert await audit_rows(app.state.runtime, "auth.email_verified")


async def test_resend_answers_202_always_and_only_the_newest_link_works(
    mailing: tuple[Any, httpx2.AsyncClient, Inbox],
) -> None:
    _, client, inbox = mailing
    await _register(client, "resend@example.com")
    first = token_in(newest(await inbox.wait_for(1), VERIFY))
    unknown = await client.post("/auth/resend-verification", json={"email": "nobody@example.com"})
    assert unknown.status_code == 202
    assert len(inbox.messages) == 1  # nothing was sent for an address without an account
    known = await client.post("/auth/resend-verification", json={"email": " Resend@Example.com "})
    assert known.status_code == 202 and known.json()["message"] == unknown.json()["message"]
    second = token_in(newest(await inbox.wait_for(2), VERIFY))
    assert second != first
    stale = await client.post("/auth/verify-email", json={"token": first})
    assert stale.status_code == 400
    assert (await client.post("/auth/verify-email", json={"token": second})).status_code == 200
    # Verified addresses get no more mail, and the answer does not say so.
    done = await client.post("/auth/resend-verification", json={"email": "resend@example.com"})
    assert done.status_code == 202 and len(inbox.messages) == 2


async def test_resend_is_throttled_per_address(app_with: AppFactory) -> None:
    with smtp_server() as (inbox, port):
        async with app_with(
            smtp_host="127.0.0.1", smtp_port=port, resend_verification_limit="2/hour"
        ) as (_, client):
            await _register(client, "throttle@example.com")
            statuses = [
                (
                    await client.post(
                        "/auth/resend-verification", json={"email": "throttle@example.com"}
                    )
                ).status_code
                for _ in range(3)
            ]
            assert statuses == [202, 202, 429]
            assert len(await inbox.wait_for(3)) == 3  # registration's and two resends


async def test_required_verification_blocks_password_sign_in_until_verified(
    app_with: AppFactory,
) -> None:
    with smtp_server() as (inbox, port):
        async with app_with(
            smtp_host="127.0.0.1", smtp_port=port, email_verification_required=True
        ) as (_, client):
            body = await _register(client, "strict@example.com")
            assert body["access_token"] is None  # registration did not sign in
            credentials = {"email": "strict@example.com", "password": DEFAULT_PASSWORD}
            refused = await client.post("/auth/login", json=credentials)
            assert refused.status_code == 403 and refused.json()["error"] == "email_not_verified"
            token = token_in(newest(await inbox.wait_for(1), VERIFY))
            assert (
                await client.post("/auth/verify-email", json={"token": token})
            ).status_code == 200
            assert (await client.post("/auth/login", json=credentials)).status_code == 200


async def test_the_seed_001_security_faces_for_mail(
    mailing: tuple[Any, httpx2.AsyncClient, Inbox],
) -> None:
    _, client, inbox = mailing
    registered = await _register(client, "seed1@example.com", prefix="/api/v1/auth")
    for field in ("id", "email", "full_name", "is_active", "created_at", "user"):
        assert field in registered
    token = token_in(newest(await inbox.wait_for(1), VERIFY))
    verified = await client.post("/api/v1/security/verify-email", json={"token": token})
    assert verified.status_code == 200 and verified.json()["message"]
    resend = await client.post(
        "/api/v1/security/resend-verification", json={"email": "seed1@example.com"}
    )
    assert resend.status_code == 202 and resend.json()["message"]
    forgot = await client.post(
        "/api/v1/security/forgot-password", json={"email": "seed1@example.com"}
    )
    assert forgot.status_code == 202 and forgot.json()["message"]
    reset_token = token_in(newest(await inbox.wait_for(2), "Reset your Tessera password"))
    reset = await client.post(
        "/api/v1/security/reset-password",
        json={"token": reset_token, "new_password": "a-brand-new-passphrase-9"},
    )
    assert reset.status_code == 200 and reset.json()["message"]
    login = await client.post(
        "/api/v1/auth/login",
        json={"email": "seed1@example.com", "password": "a-brand-new-passphrase-9"},
    )
    assert login.status_code == 200
    user = login.json()["user"]
    assert user["email_verified"] is True and user["two_fa_enabled"] is False
    assert login.json()["requires_2fa"] is False
