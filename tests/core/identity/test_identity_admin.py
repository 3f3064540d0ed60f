"""Admin API and API keys: who may call what."""

from __future__ import annotations

from typing import Annotated, Any

import httpx2
from fastapi import APIRouter, Depends, Request
from sqlalchemy import select

from tessera.core.identity import ApiKeyIdentity, ApiKeyPrincipal, Caller, Principal
from tessera.core.identity.models import ApiKey
from tests.core.identity.conftest import audit_rows
from tests.helpers.identity import make_admin, make_api_key, register_and_login


def admin_routes(app: Any) -> list[tuple[str, str]]:
    """Every documented (method, path) under /admin, from the OpenAPI schema."""
    paths = app.openapi()["paths"]
    return sorted(
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/admin")
        for method in operations
    )


async def test_every_admin_route_is_403_for_a_normal_user(
    app: Any, client: httpx2.AsyncClient
) -> None:
    user = await register_and_login(client)
    routes = admin_routes(app)
    assert len(routes) >= 8
    for method, path in routes:
        url = path.replace("{user_id}", user.id).replace("{key_id}", user.id)
        response = await client.request(method, url, headers=user.headers, json={})
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["detail"] == "Admin privileges required"
        anonymous = await client.request(method, url, json={})
        assert anonymous.status_code == 401, (method, path)


async def test_users_list_search_and_paginate(client: httpx2.AsyncClient, runtime: Any) -> None:
    admin = await make_admin(client, runtime)
    for name in ("Alice Archer", "Bob Baker", "Carol Archer"):
        await register_and_login(client, full_name=name)
    everyone = (await client.get("/admin/users", headers=admin.headers)).json()
    assert everyone["total"] == 4 and len(everyone["items"]) == 4
    archers = (await client.get("/admin/users?q=ARCHER", headers=admin.headers)).json()
    assert sorted(u["full_name"] for u in archers["items"]) == ["Alice Archer", "Carol Archer"]
    page = (await client.get("/admin/users?limit=3&offset=3", headers=admin.headers)).json()
    assert (page["total"], len(page["items"]), page["limit"], page["offset"]) == (4, 1, 3, 3)
    wildcard = (await client.get("/admin/users?q=%25", headers=admin.headers)).json()
    assert wildcard["total"] == 0  # a literal '%', not a LIKE wildcard
    assert "hashed_password" not in str(everyone)


async def test_get_and_patch_a_user(client: httpx2.AsyncClient, runtime: Any) -> None:
    admin = await make_admin(client, runtime)
    user = await register_and_login(client)
    got = await client.get(f"/admin/users/{user.id}", headers=admin.headers)
    assert got.status_code == 200 and got.json()["email"] == user.email
    missing = await client.get(
        "/admin/users/00000000-0000-4000-8000-000000000000", headers=admin.headers
    )
    assert missing.status_code == 404
    patched = await client.patch(
        f"/admin/users/{user.id}",
        headers=admin.headers,
        json={"full_name": "Renamed", "is_admin": True, "email": "hijack@example.com"},
    )
    assert patched.status_code == 200
    assert (patched.json()["full_name"], patched.json()["is_admin"]) == ("Renamed", True)
    assert patched.json()["email"] == user.email
    # Promotion and demotion act on the user's very next request, with the same token.
    assert (await client.get("/admin/users", headers=user.headers)).status_code == 200
    await client.patch(f"/admin/users/{user.id}", headers=admin.headers, json={"is_admin": False})
    assert (await client.get("/admin/users", headers=user.headers)).status_code == 403
    rows = await audit_rows(runtime, "admin.user_updated")
    assert rows[0].actor_id == admin.id and rows[0].target_id == user.id
    assert rows[0].details["changes"]["is_admin"] == [False, True]


async def test_admins_cannot_lock_themselves_out(client: httpx2.AsyncClient, runtime: Any) -> None:
    admin = await make_admin(client, runtime)
    for change in ({"is_admin": False}, {"is_active": False}):
        response = await client.patch(
            f"/admin/users/{admin.id}", headers=admin.headers, json=change
        )
        assert response.status_code == 400
    assert (await client.get("/admin/users", headers=admin.headers)).status_code == 200


async def test_audit_log_filters(client: httpx2.AsyncClient, runtime: Any) -> None:
    admin = await make_admin(client, runtime)
    user = await register_and_login(client)
    await client.post("/auth/login", json={"email": user.email, "password": "wrong-password-1"})
    mine = (await client.get(f"/admin/audit-logs?user_id={user.id}", headers=admin.headers)).json()
    assert [row["action"] for row in mine["items"]] == [
        "auth.login_failed",
        "auth.login",
        "auth.register",
    ]
    logins = (await client.get("/admin/audit-logs?action=auth.login", headers=admin.headers)).json()
    assert logins["total"] == 2 and {r["action"] for r in logins["items"]} == {"auth.login"}
    prefixed = (await client.get("/admin/audit-logs?action=auth.*", headers=admin.headers)).json()
    assert prefixed["total"] == 5  # two registrations, two logins, one failure
    future = (
        await client.get("/admin/audit-logs?since=2999-01-01T00:00:00Z", headers=admin.headers)
    ).json()
    assert future["total"] == 0
    past = (
        await client.get("/admin/audit-logs?until=2000-01-01T00:00:00Z", headers=admin.headers)
    ).json()
    assert past["total"] == 0


async def test_a_time_filter_without_an_offset_is_refused_and_any_offset_is_understood(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    admin = await make_admin(client, runtime)
    naive = await client.get("/admin/audit-logs?since=2026-01-01T00:00:00", headers=admin.headers)
    assert naive.status_code == 422
    assert naive.json()["error"] == "validation_error"
    assert "timezone" in str(naive.json()["detail"])
    # 2999-01-01T01:00+01:00 is midnight UTC: the same instant as the Z form above.
    shifted = await client.get(
        "/admin/audit-logs", params={"since": "2999-01-01T01:00:00+01:00"}, headers=admin.headers
    )
    assert shifted.status_code == 200 and shifted.json()["total"] == 0
    everything = await client.get(
        "/admin/audit-logs", params={"since": "2000-01-01T05:00:00+05:00"}, headers=admin.headers
    )
    assert everything.json()["total"] >= 1


def mount_probe_routes(app: Any) -> None:
    """Routes that use the dependencies as another module would."""
    router = APIRouter()

    @router.get("/_probe/kiosk")
    async def kiosk_only(
        request: Request, key: Annotated[ApiKeyIdentity, Depends(ApiKeyPrincipal("kiosk"))]
    ) -> dict[str, str]:
        return {"id": key.id, "role": key.role, "principal": request.state.principal}

    @router.get("/_probe/caller")
    async def validator_or_user(
        request: Request, who: Annotated[Principal, Depends(Caller("validator"))]
    ) -> dict[str, Any]:
        return {
            "kind": who.kind,
            "id": who.id,
            "role": who.role,
            "principal": request.state.principal,
        }

    @router.get("/_probe/machines")
    async def machines_only(
        who: Annotated[Principal, Depends(Caller("kiosk", "validator", allow_users=False))],
    ) -> dict[str, Any]:
        return {"kind": who.kind}

    app.include_router(router)


async def test_api_key_roles_are_enforced(
    app: Any, client: httpx2.AsyncClient, runtime: Any
) -> None:
    mount_probe_routes(app)
    kiosk = await make_api_key(runtime, "kiosk")
    validator = await make_api_key(runtime, "validator")
    user = await register_and_login(client)

    ok = await client.get("/_probe/kiosk", headers=kiosk)
    assert ok.status_code == 200 and ok.json()["role"] == "kiosk"
    assert ok.json()["principal"] == f"api_key:{ok.json()['id']}"
    assert (await client.get("/_probe/kiosk", headers=validator)).status_code == 403
    assert (await client.get("/_probe/kiosk", headers=user.headers)).status_code == 401
    assert (await client.get("/_probe/kiosk")).status_code == 401
    unknown = {"Authorization": "ApiKey tsk_" + "A" * 43}
    assert (await client.get("/_probe/kiosk", headers=unknown)).status_code == 401

    as_key = (await client.get("/_probe/caller", headers=validator)).json()
    as_user = (await client.get("/_probe/caller", headers=user.headers)).json()
    assert (as_key["kind"], as_key["role"]) == ("api_key", "validator")
    assert as_user == {"kind": "user", "id": user.id, "role": None, "principal": f"user:{user.id}"}
    assert (await client.get("/_probe/caller", headers=kiosk)).status_code == 403
    assert (await client.get("/_probe/caller")).status_code == 401

    assert (await client.get("/_probe/machines", headers=kiosk)).json() == {"kind": "api_key"}
    assert (await client.get("/_probe/machines", headers=user.headers)).status_code == 401


async def test_api_keys_are_shown_once_stored_hashed_and_revocable(
    app: Any, client: httpx2.AsyncClient, runtime: Any
) -> None:
    mount_probe_routes(app)
    admin = await make_admin(client, runtime)
    created = await client.post(
        "/admin/api-keys", headers=admin.headers, json={"name": "kiosk-hb-3", "role": "kiosk"}
    )
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("tsk_") and len(key) >= 40
    listed = (await client.get("/admin/api-keys", headers=admin.headers)).json()
    assert listed["total"] == 1 and "key" not in listed["items"][0]
    assert key.startswith(listed["items"][0]["prefix"])
    async with runtime.db.session(write=False) as session:
        hashes = list(await session.scalars(select(ApiKey.key_hash)))
    assert key not in hashes and len(hashes[0]) == 64

    headers = {"Authorization": f"ApiKey {key}"}
    assert (await client.get("/_probe/kiosk", headers=headers)).status_code == 200
    key_id = created.json()["id"]
    revoked = await client.delete(f"/admin/api-keys/{key_id}", headers=admin.headers)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert (await client.get("/_probe/kiosk", headers=headers)).status_code == 401
    assert (await client.get("/admin/api-keys", headers=admin.headers)).json()["total"] == 0
    with_revoked = await client.get("/admin/api-keys?include_revoked=true", headers=admin.headers)
    assert with_revoked.json()["total"] == 1
    missing = await client.delete(f"/admin/api-keys/{admin.id}", headers=admin.headers)
    assert missing.status_code == 404
    actions = [row.action for row in await audit_rows(runtime) if row.target_id == key_id]
    assert actions == ["api_key.created", "api_key.revoked"]


async def test_api_key_roles_are_validated(client: httpx2.AsyncClient, runtime: Any) -> None:
    admin = await make_admin(client, runtime)
    for role in ("", "K", "Kiosk", "kiosk role", "x" * 40):
        response = await client.post(
            "/admin/api-keys", headers=admin.headers, json={"name": "n", "role": role}
        )
        assert response.status_code == 422, role
