"""`POST /api/scan` the way seed 002's web client calls it: signed in by cookie from a page on
an allowed frontend origin, with no Authorization and no CSRF header. A page on another site
(or a forged form post) carrying the same cookies is refused and stores nothing."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest
from tests.conftest import make_settings
from tests.helpers.identity import DEFAULT_PASSWORD, register_and_login

from tessera.core.config import Settings
from tessera.modules.riskscan.config import RiskscanSettings

pytestmark = pytest.mark.usefixtures("engine")

FRONTEND = "http://localhost:3000"
EVIL = "https://evil.example"
CONTRACT = (
    "This agreement is made between the parties named below. "
    "The contractor has unlimited liability for all damages."
)


@pytest.fixture
def settings(database_url: str, tmp_path: Path, riskscan_settings: RiskscanSettings) -> Settings:
    return make_settings(
        database_url,
        tmp_path,
        cors_origins=[FRONTEND],
        frontend_url=FRONTEND,
        module_settings=[riskscan_settings],
    )


async def _browser_sign_in(client: httpx2.AsyncClient) -> str:
    """Register, then log in as the seed's client does (JSON, from the frontend's page), so
    that the session cookies are set; the client then holds only those cookies."""
    user = await register_and_login(client)
    client.cookies.clear()
    response = await client.post(
        "/api/auth/login",
        json={"email": user.email, "password": DEFAULT_PASSWORD},
        headers={"Origin": FRONTEND},
    )
    assert response.status_code == 200, response.text
    assert {"tessera_access", "tessera_refresh", "XSRF-TOKEN"} <= set(client.cookies.keys())
    return user.id


async def _scan(client: httpx2.AsyncClient, headers: dict[str, str]) -> httpx2.Response:
    return await client.post("/api/scan", headers=headers, files={"text": (None, CONTRACT)})


async def _stored(client: httpx2.AsyncClient) -> list[dict[str, object]]:
    listed = await client.get("/api/scans", headers={"Origin": FRONTEND})
    assert listed.status_code == 200, listed.text
    scans: list[dict[str, object]] = listed.json()["scans"]
    assert listed.json()["total"] == len(scans)
    return scans


async def test_a_scan_by_cookie_from_the_allowed_origin_is_stored_for_that_user(
    client: httpx2.AsyncClient,
) -> None:
    await _browser_sign_in(client)
    me = await client.get("/api/auth/me")
    assert me.status_code == 200, me.text
    response = await _scan(client, {"Origin": FRONTEND})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["risk_count"] >= 1 and body["risks"] == body["data"]
    assert [scan["scan_id"] for scan in await _stored(client)] == [body["scan_id"]]
    opened = await client.get(f"/api/scans/{body['scan_id']}")
    assert opened.status_code == 200 and opened.json()["data"] == body["data"]
    # Another account does not see it.
    client.cookies.clear()
    other = await register_and_login(client)
    theirs = await client.get("/api/scans", headers=other.headers)
    assert theirs.json() == {"scans": [], "total": 0}


async def test_a_scan_by_cookie_from_another_site_is_refused_and_stores_nothing(
    client: httpx2.AsyncClient,
) -> None:
    await _browser_sign_in(client)
    refused = await _scan(client, {"Origin": EVIL})
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == "csrf_failed" and refused.json()["detail"]
    # A forged form post: the browser names no Origin but says the request is cross-site.
    forged = await _scan(client, {"Sec-Fetch-Site": "cross-site"})
    assert forged.status_code == 403, forged.text
    assert forged.json()["error"] == "csrf_failed"
    assert await _stored(client) == []
    # The cookies themselves still work from the frontend: only the cross-site posts failed.
    assert (await _scan(client, {"Origin": FRONTEND})).status_code == 201
    assert len(await _stored(client)) == 1
