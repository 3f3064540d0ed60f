"""Invitations and the hooks identity calls: an invited e-mail may sign up through the
identity provider and joins the family that invited it; anyone else is refused."""

from __future__ import annotations

from typing import Any

import httpx2
from tests.helpers.identity import register_and_login
from tests.modules.family.conftest import World

from tessera.core.identity.auth_service import create_user
from tessera.core.identity.state import state_of


async def _invite(client: httpx2.AsyncClient, home: Any, **body: Any) -> httpx2.Response:
    return await client.post(
        f"/api/families/{home.id}/invitations", json=body, headers=home.parent.headers
    )


async def test_an_invited_child_joins_the_right_family(
    client: httpx2.AsyncClient, runtime: Any, world: World
) -> None:
    invited = await _invite(
        client, world.a, email=" Lea@Example.com ", role="child", name="Léa", birthDate="2018-04-02"
    )
    assert invited.status_code == 201, invited.text
    assert invited.json()["status"] == "pending" and invited.json()["email"] == "lea@example.com"
    async with runtime.db.session() as session:
        assert await runtime.hooks.may_sign_up(session, "LEA@example.com") is True
        assert await runtime.hooks.may_sign_up(session, "stranger@example.com") is False
        # What the identity provider's callback does for a new e-mail it was allowed.
        user = await create_user(session, state_of(runtime), email="lea@example.com", password=None)
        profile = await runtime.hooks.profile(session, user)
        assert await runtime.hooks.may_sign_up(session, "lea@example.com") is False  # used
    family_fields = ("name", "isParent", "birthDate", "profilePicture", "familyId")
    # Other enabled modules add their own fields to the union (SPEC §12).
    assert {key: profile[key] for key in family_fields} == {
        "name": "Léa",
        "isParent": False,
        "birthDate": "2018-04-02",
        "profilePicture": None,
        "familyId": world.a.id,
    }
    members = (await client.get("/api/users/family", headers=world.a.parent.headers)).json()
    assert user.id in {m["id"] for m in members}
    others = (await client.get("/api/users/family", headers=world.b.parent.headers)).json()
    assert user.id not in {m["id"] for m in others}
    listed = await client.get(
        f"/api/families/{world.a.id}/invitations", headers=world.a.parent.headers
    )
    assert listed.json()[0]["status"] == "accepted"


async def test_a_password_sign_up_never_joins_a_family(
    client: httpx2.AsyncClient, runtime: Any, world: World
) -> None:
    assert (
        await _invite(client, world.a, email="claim@example.com", name="Zoé")
    ).status_code == 201
    squatter = await register_and_login(client, email="claim@example.com")
    response = await client.get("/api/users/family", headers=squatter.headers)
    assert response.status_code == 403 and response.json()["error"] == "not_a_family_member"
    async with runtime.db.session(write=False) as session:
        assert await runtime.hooks.may_sign_up(session, "claim@example.com") is True  # pending


async def test_invitations_are_refused_or_revoked_cleanly(
    client: httpx2.AsyncClient, runtime: Any, world: World
) -> None:
    taken = await _invite(client, world.a, email=world.b.children[0].email, name="x")
    assert taken.status_code == 409 and taken.json()["error"] == "account_exists"
    assert (await _invite(client, world.b, email="both@example.com", name="B")).status_code == 201
    twice = await _invite(client, world.a, email="both@example.com", name="A")
    assert twice.status_code == 409 and twice.json()["error"] == "already_invited"
    bad = await _invite(client, world.a, email="not-an-email", name="x")
    assert bad.status_code == 422
    made = (await _invite(client, world.a, email="later@example.com", name="L")).json()
    gone = await client.delete(
        f"/api/families/{world.a.id}/invitations/{made['id']}", headers=world.a.parent.headers
    )
    assert gone.status_code == 200
    async with runtime.db.session(write=False) as session:
        assert await runtime.hooks.may_sign_up(session, "later@example.com") is False
    foreign = await client.delete(
        f"/api/families/{world.a.id}/invitations/{made['id']}", headers=world.b.parent.headers
    )
    assert foreign.status_code == 404


async def test_a_new_account_creates_a_family_and_becomes_its_parent(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    user = await register_and_login(client, full_name="Laurie Delmer")
    bad = await client.post(
        "/api/families", json={"name": "F", "timezone": "Europe/Parsi"}, headers=user.headers
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_timezone"
    made = await client.post(
        "/api/families",
        json={"name": "Famille Delmer", "timezone": "Europe/Zurich"},
        headers=user.headers,
    )
    assert made.status_code == 201, made.text
    assert made.json()["currency"] == "EUR" and made.json()["timezone"] == "Europe/Zurich"
    members = (await client.get("/api/users/family", headers=user.headers)).json()
    assert members == [
        {
            "id": user.id,
            "name": "Laurie Delmer",
            "birthDate": None,
            "isParent": True,
            "profilePicture": None,
        }
    ]
    again = await client.post("/api/families", json={"name": "G"}, headers=user.headers)
    assert again.status_code == 409


async def test_auth_me_carries_the_family_profile(client: httpx2.AsyncClient, world: World) -> None:
    child = world.a.children[0]
    me = await client.get("/api/auth/me", headers=child.headers)
    assert me.status_code == 200, me.text
    body = me.json()
    assert (body["id"], body["email"]) == (child.id, child.email)
    assert body["name"] == child.name and body["isParent"] is False
    assert body["birthDate"] == "2017-03-01" and body["profilePicture"] is None
    assert (await client.get("/api/auth/me", headers=world.a.parent.headers)).json()["isParent"]
    assert (await client.get("/api/auth/me")).status_code == 401  # not `null` as in the seed
    outsider = await register_and_login(client)
    assert "isParent" not in (await client.get("/api/auth/me", headers=outsider.headers)).json()
