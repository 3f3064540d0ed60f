"""Nothing the API answers tells an outsider whether an e-mail has an account."""

from __future__ import annotations

import uuid

import httpx2

from tests.helpers.identity import register_and_login

VARYING = {"date", "x-request-id"}


def comparable(response: httpx2.Response) -> tuple[int, bytes, dict[str, str]]:
    headers = {k.lower(): v for k, v in response.headers.items() if k.lower() not in VARYING}
    return response.status_code, response.content, headers


async def test_unknown_email_and_wrong_password_look_identical(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    unknown = await client.post(
        "/auth/login",
        json={"email": f"ghost-{uuid.uuid4().hex[:8]}@example.com", "password": "whatever-it-is-1"},
    )
    wrong = await client.post(
        "/auth/login", json={"email": user.email, "password": "whatever-it-is-1"}
    )
    assert comparable(unknown) == comparable(wrong)
    assert unknown.status_code == 401


async def test_form_login_failures_look_identical_too(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    unknown = await client.post(
        "/auth/login", data={"username": "ghost@example.com", "password": "whatever-it-is-1"}
    )
    wrong = await client.post(
        "/auth/login", data={"username": user.email, "password": "whatever-it-is-1"}
    )
    assert comparable(unknown) == comparable(wrong)


async def test_reset_request_answers_202_whoever_asks(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    known = await client.post("/auth/password-reset/request", json={"email": user.email})
    unknown = await client.post(
        "/auth/password-reset/request", json={"email": f"ghost-{uuid.uuid4().hex[:6]}@example.com"}
    )
    assert known.status_code == 202
    assert comparable(known) == comparable(unknown)
