"""Members and the family itself: profiles, removal (never the last parent), the time zone,
and the calendar feed's fetch limit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest
from tests.conftest import make_settings
from tests.modules.family.conftest import make_household

from tessera.core.config import Settings
from tessera.modules.family.config import FamilySettings


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(
        database_url, tmp_path, module_settings=[FamilySettings(feed_rate="3/minute")]
    )


async def test_profiles_removal_and_the_zone(client: httpx2.AsyncClient, runtime: Any) -> None:
    home = await make_household(client, runtime, children=2)
    parent, (child, other) = home.parent.headers, home.children
    base = f"/api/families/{home.id}"
    picture = await client.put(
        f"{base}/members/{child.id}",
        json={"profilePicture": "https://img.example/e.png"},
        headers=child.headers,
    )
    assert (
        picture.status_code == 200
        and picture.json()["profilePicture"] == "https://img.example/e.png"
    )
    renamed = await client.put(
        f"{base}/members/{child.id}", json={"name": "Reine"}, headers=child.headers
    )
    assert renamed.status_code == 403  # a child changes only their own picture
    assert (
        await client.put(f"{base}/members/{child.id}", json={"name": "Elea"}, headers=parent)
    ).json()["name"] == "Elea"

    last = await client.delete(f"{base}/members/{home.parent.id}", headers=parent)
    assert last.status_code == 409 and last.json()["error"] == "last_parent"
    assert (await client.delete(f"{base}/members/{other.id}", headers=parent)).status_code == 200
    gone = await client.get("/api/users/family", headers=other.headers)
    assert gone.status_code == 403  # the account stays, outside any family
    assert [m["id"] for m in (await client.get("/api/users/family", headers=parent)).json()] == [
        home.parent.id,
        child.id,
    ]

    zone = await client.put(base, json={"timezone": "Asia/Kolkata"}, headers=parent)
    assert zone.status_code == 200 and zone.json()["timezone"] == "Asia/Kolkata"
    assert (
        await client.put(base, json={"timezone": "Asia/Nowhere"}, headers=parent)
    ).status_code == 400


async def test_feed_fetches_are_limited_per_address(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    home = await make_household(client, runtime)
    feed = await client.post("/api/calendar/feeds", json={}, headers=home.children[0].headers)
    path = feed.json()["url"].removeprefix("http://testserver")
    statuses = [(await client.get(path)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
