"""Password reset through a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx2
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from tessera.core.db.base import utcnow
from tessera.core.identity.models import PasswordResetToken
from tests.core.identity.conftest import AppFactory, audit_rows
from tests.helpers.identity import AuthedUser, login, register_and_login
from tests.helpers.mail import Inbox, token_in
from tests.helpers.server import free_port

NEW_PASSWORD = "a-fresh-passphrase-after-reset"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
async def mailing_app(
    app_with: AppFactory, smtp: tuple[Inbox, int]
) -> AsyncIterator[tuple[Any, httpx2.AsyncClient, Inbox]]:
    inbox, port = smtp
    async with app_with(
        smtp_host="127.0.0.1", smtp_port=port, password_reset_ip_limit="100/hour"
    ) as (app, client):
        yield app.state.runtime, client, inbox


async def request_reset(client: httpx2.AsyncClient, user: AuthedUser, inbox: Inbox) -> str:
    count = len(inbox.messages)
    response = await client.post("/auth/password-reset/request", json={"email": user.email})
    assert response.status_code == 202
    messages = await inbox.wait_for(count + 1)
    assert messages[-1]["To"] == user.email
    return token_in(messages[-1])


async def confirm(client: httpx2.AsyncClient, token: str, password: str = NEW_PASSWORD) -> int:
    response = await client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": password}
    )
    return response.status_code


async def test_reset_by_mail_sets_the_password_and_ends_every_session(
    mailing_app: tuple[Any, httpx2.AsyncClient, Inbox],
) -> None:
    runtime, client, inbox = mailing_app
    user = await register_and_login(client)
    token = await request_reset(client, user, inbox)
    async with runtime.db.session(write=False) as session:
        stored = list(await session.scalars(select(PasswordResetToken.token_hash)))
    assert token not in stored and len(stored[0]) == 64  # only the SHA-256 is kept
    assert await confirm(client, token) == 200
    assert (await client.get("/auth/me", headers=user.headers)).status_code == 401
    refresh = await client.post("/auth/refresh", json={"refresh_token": user.refresh_token})
    assert refresh.status_code == 401
    old = await client.post("/auth/login", json={"email": user.email, "password": user.password})
    assert old.status_code == 401
    await login(client, user.email, NEW_PASSWORD)
    assert await confirm(client, token, "yet-another-passphrase-2") == 400  # single use
    assert len(await audit_rows(runtime, "auth.password_reset")) == 1


async def test_unknown_email_gets_no_mail(
    mailing_app: tuple[Any, httpx2.AsyncClient, Inbox],
) -> None:
    _, client, inbox = mailing_app
    response = await client.post(
        "/auth/password-reset/request", json={"email": "nobody@example.com"}
    )
    await asyncio.sleep(0.3)
    assert response.status_code == 202 and inbox.messages == []


async def test_a_newer_token_retires_the_older_one(
    mailing_app: tuple[Any, httpx2.AsyncClient, Inbox],
) -> None:
    _, client, inbox = mailing_app
    user = await register_and_login(client)
    first = await request_reset(client, user, inbox)
    second = await request_reset(client, user, inbox)
    assert await confirm(client, first) == 400
    assert await confirm(client, second) == 200


async def test_an_expired_token_is_refused(
    mailing_app: tuple[Any, httpx2.AsyncClient, Inbox],
) -> None:
    runtime, client, inbox = mailing_app
    user = await register_and_login(client)
    token = await request_reset(client, user, inbox)
    async with runtime.db.session() as session:
        await session.execute(
            update(PasswordResetToken).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert await confirm(client, token) == 400


async def test_a_password_change_retires_outstanding_tokens(
    mailing_app: tuple[Any, httpx2.AsyncClient, Inbox],
) -> None:
    _, client, inbox = mailing_app
    user = await register_and_login(client)
    token = await request_reset(client, user, inbox)
    await client.post(
        "/auth/password",
        headers=user.headers,
        json={"current_password": user.password, "new_password": "changed-it-myself-3"},
    )
    assert await confirm(client, token) == 400


async def test_ten_concurrent_uses_of_one_token_succeed_once(
    mailing_app: tuple[Any, httpx2.AsyncClient, Inbox],
) -> None:
    _, client, inbox = mailing_app
    user = await register_and_login(client)
    token = await request_reset(client, user, inbox)
    statuses = await asyncio.gather(
        *(confirm(client, token, f"racing-passphrase-{i:02d}") for i in range(10))
    )
    assert sorted(statuses) == [200] + [400] * 9


async def test_reset_rejects_a_weak_new_password(
    mailing_app: tuple[Any, httpx2.AsyncClient, Inbox],
) -> None:
    _, client, inbox = mailing_app
    user = await register_and_login(client)
    token = await request_reset(client, user, inbox)
    assert await confirm(client, token, "password123") == 422
    assert await confirm(client, token) == 200  # the refused attempt did not use it up
