"""NUL (U+0000) in any text a client sends is a 422 naming where it was, on both engines:
never a 500 from PostgreSQL, never stored silently by SQLite."""

from __future__ import annotations

from typing import Any

import httpx2
from sqlalchemy import func, select

from tessera.core.identity.models import User
from tests.helpers.identity import make_admin, register_and_login

NUL = "\u0000"


def assert_nul_refused(response: httpx2.Response, loc: list[Any]) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "validation_error"
    assert {"type": "string_contains_nul", "loc": loc, "msg": body["detail"][0]["msg"]} in body[
        "detail"
    ]
    assert "NUL" in body["detail"][0]["msg"]


async def test_json_form_and_multipart_login_with_nul_are_422(
    client: httpx2.AsyncClient,
) -> None:
    json_login = await client.post(
        "/auth/login", json={"email": f"a{NUL}@example.com", "password": "x" * 12}
    )
    assert_nul_refused(json_login, ["body", "email"])
    form_login = await client.post(
        "/auth/login", data={"username": "a@example.com", "password": f"pass{NUL}word"}
    )
    assert_nul_refused(form_login, ["body", "password"])
    multipart_login = await client.post(
        "/auth/login",
        files={"username": (None, "a@example.com"), "password": (None, f"pass{NUL}word")},
    )
    assert_nul_refused(multipart_login, ["body", "password"])


async def test_register_reset_and_profile_with_nul_are_422_and_store_nothing(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    register = await client.post(
        "/auth/register",
        json={
            "email": "nul@example.com",
            "password": "correct-horse-battery-staple-42",
            "full_name": f"Eve{NUL}",
        },
    )
    assert_nul_refused(register, ["body", "full_name"])
    reset = await client.post("/auth/password-reset/request", json={"email": f"{NUL}@x.example"})
    assert_nul_refused(reset, ["body", "email"])
    user = await register_and_login(client)
    patch = await client.patch("/auth/me", json={"full_name": f"a{NUL}b"}, headers=user.headers)
    assert_nul_refused(patch, ["body", "full_name"])
    me = await client.get("/auth/me", headers=user.headers)
    assert me.json()["full_name"] is None
    async with runtime.db.session(write=False) as session:
        names = list(await session.scalars(select(User.full_name)))
        count = await session.scalar(select(func.count()).select_from(User))
    assert count == 1 and not any(NUL in (name or "") for name in names)


async def test_nul_in_path_and_query_is_422(client: httpx2.AsyncClient, runtime: Any) -> None:
    admin = await make_admin(client, runtime)
    search = await client.get("/admin/users", params={"q": f"x{NUL}"}, headers=admin.headers)
    assert_nul_refused(search, ["query", "q"])
    audit = await client.get(
        "/admin/audit-logs", params={"action": f"auth.{NUL}*"}, headers=admin.headers
    )
    assert_nul_refused(audit, ["query", "action"])
    by_id = await client.get("/admin/users/abc%00def", headers=admin.headers)
    assert_nul_refused(by_id, ["path"])
    session = await client.delete("/auth/sessions/s%00", headers=admin.headers)
    assert_nul_refused(session, ["path"])


async def test_nested_json_and_wallet_description_with_nul_are_422(
    client: httpx2.AsyncClient,
) -> None:
    user = await register_and_login(client)
    response = await client.post(
        "/v1/sync_offline",
        json={"validator_id": "gate", "accepted_tokens": [{"local_id": f"l{NUL}"}]},
        headers=user.headers,
    )
    assert_nul_refused(response, ["body", "accepted_tokens", 0, "local_id"])
    deposit = await client.post(
        "/api/v1/wallet/deposit",
        json={"amount_usd": "1.00", "description": f"coffee{NUL}"},
        headers=user.headers,
    )
    assert_nul_refused(deposit, ["body", "description"])


async def test_text_that_only_looks_like_nul_is_accepted(client: httpx2.AsyncClient) -> None:
    # An escaped backslash followed by "u0000" is six ordinary characters, and "%2500" in a
    # query is the text "%00": neither holds NUL.
    user = await register_and_login(client)
    response = await client.patch(
        "/auth/me",
        content=b'{"full_name": "back\\\\u0000slash"}',
        headers={**user.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["full_name"] == "back\\u0000slash"
    listed = await client.get("/auth/sessions?x=%2500", headers=user.headers)
    assert listed.status_code == 200


async def test_binary_bodies_are_not_text(client: httpx2.AsyncClient) -> None:
    # The RFC 9578 TokenRequest is binary: a NUL byte in it is data, judged by its route.
    response = await client.post(
        "/token-request?receipt_id=r1",
        content=b"\x00\x02\x00" + b"\x00" * 64,
        headers={"Content-Type": "application/private-token-request"},
    )
    assert response.status_code == 401  # the route's own answer (no credentials), not 422
