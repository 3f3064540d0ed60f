"""The per-user scan rate (429 with Retry-After), and an asynchronous scan of a PDF through
the real reference AI service (its `/extract`, then chunk by chunk)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx2
import pytest
from asgi_lifespan import LifespanManager
from riskscan_helpers import scan_text
from tests.aiservice.documents import pdf_with_text
from tests.conftest import make_settings
from tests.helpers.identity import register_and_login

from conftest import riskscan
from tessera.app import create_app
from tessera.modules.riskscan.config import RiskscanSettings

pytestmark = pytest.mark.usefixtures("engine")

LIABILITY = "The contractor has unlimited liability for all damages."
PERMIT = "The project has not obtained a building permit from the authorities."


@pytest.fixture
def riskscan_settings(ai_service_url: str) -> RiskscanSettings:
    return riskscan(ai_service_url=ai_service_url, scan_rate="2/minute")


async def test_the_scan_rate_is_per_user(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    other = await register_and_login(client)
    for n in range(2):
        assert (await scan_text(client, user.headers, f"{LIABILITY} {n}")).status_code == 201
    refused = await scan_text(client, user.headers, LIABILITY)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    queued = await client.post("/api/scans", headers=user.headers, files={"text": (None, "x")})
    assert queued.status_code == 429  # one budget for both ways of scanning
    assert (await scan_text(client, other.headers, LIABILITY)).status_code == 201


async def test_an_async_pdf_scan_through_the_reference_service(
    database_url: str, tmp_path: Path, ai_service_url: str
) -> None:
    own = riskscan(ai_service_url=ai_service_url, queue_workers=1, chunk_chars=300)
    app = create_app(make_settings(database_url, tmp_path, module_settings=[own]))
    pdf = pdf_with_text(f"Terms of the works. {LIABILITY}", f"Permits. {PERMIT}")
    async with LifespanManager(app):
        transport = httpx2.ASGITransport(app=app, client=("203.0.113.8", 50000))
        async with httpx2.AsyncClient(transport=transport, base_url="http://t") as client:
            user = await register_and_login(client)
            response = await client.post(
                "/api/scans",
                headers=user.headers,
                files={"file": ("works.pdf", pdf, "application/pdf")},
            )
            assert response.status_code == 202, response.text
            scan_id = response.json()["scan_id"]
            for _ in range(200):
                body = (await client.get(f"/api/scans/{scan_id}", headers=user.headers)).json()
                if body["status"] not in ("queued", "extracting", "analysing"):
                    break
                await asyncio.sleep(0.05)
    assert body["status"] == "done", body
    assert body["progress"] == {"done": 2, "total": 2}  # one chunk per page here
    found = {(r["category"], r["context"], r["spans"][0]["page"]) for r in body["data"]}
    assert ("Legal", LIABILITY, 1) in found and ("Compliance", PERMIT, 2) in found
