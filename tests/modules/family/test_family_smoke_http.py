"""A family run through HTTP: rules, a contract, tasks, a day, a wallet."""

from __future__ import annotations

import httpx2
from tests.modules.family.conftest import World


async def test_members_see_their_family_only(client: httpx2.AsyncClient, world: World) -> None:
    response = await client.get("/api/users/family", headers=world.a.children[0].headers)
    assert response.status_code == 200, response.text
    members = response.json()
    assert {m["id"] for m in members} == {world.a.parent.id, *(c.id for c in world.a.children)}
    assert [m["isParent"] for m in members] == [True, False, False]
    assert set(members[1]) == {"id", "name", "birthDate", "isParent", "profilePicture"}
