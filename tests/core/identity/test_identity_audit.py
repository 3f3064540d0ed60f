"""Every identity action leaves exactly one audit row, in the same transaction, carrying
who, what, the address, the user agent and the request id; and never a secret."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import httpx2
from sqlalchemy import text

from tests.core.identity.conftest import audit_rows
from tests.helpers.audit import sequence_and_verify
from tests.helpers.identity import make_admin, register_and_login

UA = {"User-Agent": "audit-probe/1.0"}


async def test_each_action_writes_one_row_with_its_context(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    admin = await make_admin(client, runtime)
    user = await register_and_login(client)
    other = (
        await client.post("/auth/login", json={"email": user.email, "password": user.password})
    ).json()
    before = len(await audit_rows(runtime))

    async def act(method: str, url: str, **kwargs: Any) -> httpx2.Response:
        headers = {**UA, "X-Request-ID": f"req-{url.strip('/').replace('/', '-')}"}
        headers.update(kwargs.pop("headers", {}))
        return await client.request(method, url, headers=headers, **kwargs)

    await act("POST", "/auth/login", json={"email": user.email, "password": "not-the-one-1"})
    refreshed = (
        await act("POST", "/auth/refresh", json={"refresh_token": other["refresh_token"]})
    ).json()
    await act("POST", "/auth/refresh", json={"refresh_token": other["refresh_token"]})  # reuse
    await act("PATCH", "/auth/me", headers=user.headers, json={"full_name": "Audited"})
    await act(
        "POST",
        "/auth/password",
        headers=user.headers,
        json={"current_password": user.password, "new_password": "audited-new-passphrase"},
    )
    await act("POST", "/auth/password-reset/request", json={"email": user.email})
    await act("PATCH", f"/admin/users/{user.id}", headers=admin.headers, json={"full_name": "X"})
    await act("DELETE", f"/admin/users/{user.id}/sessions", headers=admin.headers)
    key = (
        await act(
            "POST", "/admin/api-keys", headers=admin.headers, json={"name": "k", "role": "kiosk"}
        )
    ).json()
    await act("DELETE", f"/admin/api-keys/{key['id']}", headers=admin.headers)
    await act("POST", "/auth/logout", headers=admin.headers)

    rows = (await audit_rows(runtime))[before:]
    assert Counter(row.action for row in rows) == Counter(
        {
            "auth.login_failed": 1,
            "auth.refresh": 1,
            "auth.refresh_reuse_detected": 1,
            "user.updated": 1,
            "auth.password_changed": 1,
            "auth.password_reset_requested": 1,
            "admin.user_updated": 1,
            "admin.sessions_revoked": 1,
            "api_key.created": 1,
            "api_key.revoked": 1,
            "auth.logout": 1,
        }
    )
    for row in rows:
        assert row.ip_address == "203.0.113.7" and row.user_agent == "audit-probe/1.0"
        assert row.request_id and row.request_id.startswith("req-")
        assert row.created_at.utcoffset() is not None
    by_action = {row.action: row for row in rows}
    assert by_action["auth.login_failed"].user_id == user.id
    assert by_action["admin.user_updated"].actor_id == admin.id
    assert by_action["admin.user_updated"].user_id == user.id
    assert by_action["auth.logout"].actor_id == admin.id
    assert by_action["auth.refresh"].actor_id == user.id

    secrets = [user.password, "not-the-one-1", "audited-new-passphrase", key["key"]]
    secrets += [other["refresh_token"], refreshed["refresh_token"], user.access_token]
    dumped = json.dumps([[r.details, r.target_id, r.user_agent] for r in rows])
    assert not any(secret in dumped for secret in secrets)

    report = await sequence_and_verify(runtime.db)
    assert (report.ok, report.rows) == (True, len(await audit_rows(runtime)))


async def test_a_failed_login_row_survives_the_401(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    """The 401 must not roll the row back: the failure is the thing worth recording."""
    response = await client.post(
        "/auth/login", json={"email": "ghost@example.com", "password": "not-the-one-1"}
    )
    assert response.status_code == 401
    rows = await audit_rows(runtime, "auth.login_failed")
    assert len(rows) == 1 and rows[0].details == {"email": "ghost@example.com"}
    assert rows[0].user_id is None and rows[0].actor_type == "anonymous"


async def test_editing_an_identity_row_is_caught_by_verify(
    client: httpx2.AsyncClient, runtime: Any, engine: str
) -> None:
    user = await register_and_login(client)
    await client.post("/auth/logout", headers=user.headers)
    login_row = (await audit_rows(runtime, "auth.login"))[0]
    await sequence_and_verify(runtime.db)  # in a signed tree head: from now on, tamper-evident
    async with runtime.db.session() as session:
        # An attacker with database access hides the login's address.
        if engine == "postgresql":
            await session.execute(text("ALTER TABLE audit_logs DISABLE TRIGGER USER"))
            await session.execute(
                text("UPDATE audit_logs SET ip_address = '10.0.0.1' WHERE id = :id"),
                {"id": login_row.id},
            )
            await session.execute(text("ALTER TABLE audit_logs ENABLE TRIGGER USER"))
        else:
            await session.execute(text("DROP TRIGGER audit_logs_no_update"))
            await session.execute(
                text("UPDATE audit_logs SET ip_address = '10.0.0.1' WHERE id = :id"),
                {"id": login_row.id},
            )
    report = await sequence_and_verify(runtime.db)
    assert report.problem is not None and f"id={login_row.id}" in report.problem
