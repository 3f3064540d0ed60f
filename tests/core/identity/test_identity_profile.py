"""`/auth/me` on every prefix is the core fields and what the modules add (profile hook)."""

from __future__ import annotations

from typing import Any

import httpx2
from sqlalchemy import String, cast, event, literal, select

from tessera.core.identity.models import User
from tessera.core.identity.state import IdentityState
from tessera.core.modules import Hooks, ProfileFields, ProfileReader
from tests.helpers.identity import DEFAULT_PASSWORD, register_and_login


async def test_me_is_the_union_of_core_and_module_fields_on_every_prefix(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    trading = ProfileFields(
        query=lambda user_id: select(cast(user_id, String).label("user_id")),
        render=lambda row: {"user_id": row["user_id"], "role": "user", "trust_score": 100},
    )
    # A module may not replace a core field: `is_admin` stays the core's. A query that finds
    # no row gives NULLs, and the other module's row is still read.
    family = ProfileFields(
        query=lambda user_id: select(
            User.full_name.label("name"), literal(True).label("admin")
        ).where(User.id == user_id),
        render=lambda row: {
            "name": row["name"],
            "isParent": False,
            "birthDate": None,
            "is_admin": row["admin"],
        },
    )
    nobody = ProfileFields(
        query=lambda user_id: select(User.email.label("email")).where(User.id != User.id),
        render=lambda row: {"nobody": row["email"]},
    )
    reader = ProfileReader([trading, nobody, family])
    runtime.get(IdentityState).hooks = Hooks(profiles=reader)
    user = await register_and_login(client, full_name="Grace")
    for prefix in ("/auth", "/api/auth", "/api/v1/auth"):
        body = (await client.get(f"{prefix}/me", headers=user.headers)).json()
        assert body["id"] == body["user_id"] == user.id
        assert body["role"] == "user" and body["trust_score"] == 100
        assert body["name"] == "Grace" and body["isParent"] is False and body["birthDate"] is None
        assert body["is_admin"] is False and body["email_verified"] is False
        assert body["nobody"] is None
    login = await client.post(
        "/api/v1/auth/login", json={"email": user.email, "password": DEFAULT_PASSWORD}
    )
    seed = login.json()
    assert seed["user"]["role"] == "user" and seed["user"]["two_fa_method"] is None
    assert seed["requires_2fa"] is False and seed["token_type"] == "bearer"
    registered = await client.post(
        "/api/v1/auth/register", json={"email": "r@example.com", "password": DEFAULT_PASSWORD}
    )
    body = registered.json()
    for field in ("user_id", "email", "full_name", "trust_score", "is_active", "created_at"):
        assert field in body, field


async def test_me_reads_the_account_and_every_modules_fields_in_one_statement(
    client: httpx2.AsyncClient, runtime: Any, engine: str
) -> None:
    """With the session cache (Redis) vouching for the session, `/auth/me` sends one statement
    for the user and all the modules' fields; without Redis the session row is read first."""
    user = await register_and_login(client, full_name="Ada")
    sent: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.split()[0].upper() not in ("BEGIN", "COMMIT", "ROLLBACK"):
            sent.append(statement)

    sync_engine = runtime.db.engine.sync_engine
    await client.get("/auth/me", headers=user.headers)  # the cache is filled on first use
    event.listen(sync_engine, "before_cursor_execute", count)
    try:
        body = (await client.get("/auth/me", headers=user.headers)).json()
    finally:
        event.remove(sync_engine, "before_cursor_execute", count)
    assert body["full_name"] == "Ada" and body["role"] == "user" and body["trust_score"] == 100
    assert len(sent) == (1 if engine == "postgresql" else 2), sent
