"""A user's scans: list (newest first, paginated), open, delete; the documents view; nobody
sees another user's scans; scans go with their user."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from riskscan_helpers import scan_file, scan_text
from sqlalchemy import delete, func, select
from tests.helpers.identity import register_and_login

from tessera.core.identity.models import User
from tessera.modules.riskscan.models import Scan, Upload
from tessera.modules.riskscan.repository import RiskscanRepository

pytestmark = pytest.mark.usefixtures("engine")

TEXTS = [
    "The budget does not cover maintenance costs after handover.",
    "The deadline cannot be extended even if the scope changes.",
    "The contract contains no force majeure clause.",
]


async def _three_scans(client: httpx2.AsyncClient, headers: dict[str, str]) -> list[str]:
    ids = []
    for text in TEXTS:
        response = await scan_text(client, headers, text)
        assert response.status_code == 201, response.text
        ids.append(response.json()["scan_id"])
    return ids


async def test_list_is_newest_first_and_pages(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    ids = await _three_scans(client, user.headers)
    first = (await client.get("/api/scans?limit=2&offset=0", headers=user.headers)).json()
    assert first["total"] == 3
    assert [s["scan_id"] for s in first["scans"]] == [ids[2], ids[1]]
    rest = (await client.get("/api/scans?limit=2&offset=2", headers=user.headers)).json()
    assert [s["scan_id"] for s in rest["scans"]] == [ids[0]]
    summary = first["scans"][0]
    assert set(summary) >= {"scan_id", "filename", "risk_count", "source", "created_at"}
    assert summary["filename"] is None and summary["source"] == "model"
    bad = await client.get("/api/scans?limit=0", headers=user.headers)
    assert bad.status_code == 422


async def test_open_and_delete_a_scan(client: httpx2.AsyncClient, runtime: Any) -> None:
    user = await register_and_login(client)
    ids = await _three_scans(client, user.headers)
    opened = await client.get(f"/api/scans/{ids[0]}", headers=user.headers)
    assert opened.status_code == 200
    body = opened.json()
    assert body["scan_id"] == ids[0] and body["data"] and body["created_at"]
    assert body["status"] == "done" and body["source"] == "model"
    deleted = await client.delete(f"/api/scans/{ids[0]}", headers=user.headers)
    assert deleted.status_code == 200 and deleted.json() == {"message": "Scan deleted"}
    assert (await client.get(f"/api/scans/{ids[0]}", headers=user.headers)).status_code == 404
    assert (await client.delete(f"/api/scans/{ids[0]}", headers=user.headers)).status_code == 404
    async with runtime.db.session(write=False) as session:
        assert await session.get(Scan, ids[0]) is None  # with it, its only copy of the quotes


async def test_another_users_scans_are_404(client: httpx2.AsyncClient) -> None:
    owner = await register_and_login(client)
    stranger = await register_and_login(client)
    (scan_id,) = (await _three_scans(client, owner.headers))[:1]
    for method in ("GET", "DELETE"):
        response = await client.request(method, f"/api/scans/{scan_id}", headers=stranger.headers)
        assert response.status_code == 404
        assert response.json()["error"] == "scan_not_found"
        response = await client.request(
            method, f"/api/documents/{scan_id}", headers=stranger.headers
        )
        assert response.status_code == 404
    assert (await client.get("/api/scans", headers=stranger.headers)).json()["total"] == 0
    assert (await client.get(f"/api/scans/{scan_id}", headers=owner.headers)).status_code == 200


async def test_documents_view(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    await scan_text(client, user.headers, TEXTS[0])
    uploaded = await scan_file(client, user.headers, "terms.txt", TEXTS[1].encode(), "text/plain")
    listing = (await client.get("/api/documents?skip=0&limit=1", headers=user.headers)).json()
    assert listing["total"] == 2 and listing["skip"] == 0 and listing["limit"] == 1
    (document,) = listing["documents"]
    assert document == {
        "id": uploaded.json()["scan_id"],
        "filename": "terms.txt",
        "original_filename": "terms.txt",
        "file_type": "txt",
        "file_size": len(TEXTS[1]),
        "source": "file_picker",
        "created_at": document["created_at"],
    }
    second = (await client.get("/api/documents?skip=1&limit=5", headers=user.headers)).json()
    assert second["documents"][0]["filename"] == "Text Scan"
    assert second["documents"][0]["source"] == "text_input"
    one = await client.get(f"/api/documents/{document['id']}", headers=user.headers)
    assert one.status_code == 200 and one.json()["analysis"]["data"] == uploaded.json()["data"]
    gone = await client.delete(f"/api/documents/{document['id']}", headers=user.headers)
    assert gone.status_code == 204 and gone.content == b""
    assert (await client.get("/api/scans", headers=user.headers)).json()["total"] == 1


async def test_scans_are_deleted_with_their_user(runtime: Any) -> None:
    """ON DELETE CASCADE, on both engines: the scans and any queued document go with the
    user row (accounts registered over HTTP keep audit entries the core never deletes, so
    these two are made directly)."""
    async with runtime.db.session() as session:
        leaving, staying = User(email="leaving@example.com"), User(email="staying@example.com")
        session.add_all([leaving, staying])
        await session.flush()
        repo = RiskscanRepository(session)
        for owner in (leaving, leaving, staying):
            scan = await repo.add_scan(
                user_id=owner.id,
                filename=None,
                file_type="text",
                file_size=None,
                input_source="text_input",
                content_hash="0" * 64,
                force_llm=False,
                mode="async",
                status="queued",
                partial=False,
                data=[],
                progress_done=0,
                progress_total=0,
                attempts=0,
            )
            await repo.add_upload(scan.id, None, "The deadline cannot be extended.")
    async with runtime.db.session() as session:
        await session.execute(delete(User).where(User.id == leaving.id))
    async with runtime.db.session(write=False) as session:
        scans = await session.scalars(select(Scan.user_id))
        uploads = await session.scalar(select(func.count()).select_from(Upload))
    assert list(scans) == [staying.id] and uploads == 1
