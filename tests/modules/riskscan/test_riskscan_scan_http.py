"""`POST /api/scan` against the real reference AI service on a loopback port: text and every
accepted file type (made in the test), the seed's shapes, grounding, refusals and reuse."""

from __future__ import annotations

import httpx2
import pytest
from riskscan_helpers import assert_grounded, scan_file, scan_text
from tests.aiservice.documents import (
    ELF_EXECUTABLE,
    docx_of,
    pdf_with_text,
    png_of,
    scanned_pdf,
)
from tests.helpers.identity import register_and_login

pytestmark = pytest.mark.usefixtures("engine")

LIABILITY = "The contractor has unlimited liability for all damages."
CONTRACT = (
    "This agreement is made between the parties named below. "
    "The contractor has unlimited liability for all damages. "
    "Payment is due within 120 days of invoice, and late payment carries no interest."
)


async def test_text_scan_answers_the_seeds_shape_grounded_in_the_text(
    client: httpx2.AsyncClient,
) -> None:
    user = await register_and_login(client)
    response = await scan_text(client, user.headers, CONTRACT, document_type="contract")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["scan_id"] and body["timestamp"] and body["source"] == "model"
    assert body["risks"] == body["data"] and body["risk_count"] == len(body["data"]) >= 2
    categories = {risk["category"] for risk in body["data"]}
    assert "Legal" in categories and set(body["categories"]) == categories
    legal = next(r for r in body["data"] if r["category"] == "Legal")
    assert legal["context"] == LIABILITY and legal["severity"] == "high"
    assert 0 < legal["confidence"] <= 1 and legal["grounded"] is True
    assert_grounded(body["data"], [CONTRACT])
    assert all(r["spans"] for r in body["data"])


async def test_the_seeds_curl_sequence_works(client: httpx2.AsyncClient) -> None:
    """Register, log in with the OAuth2 form, scan text with the token, fetch the scan."""
    email, password = "seed-002@example.com", "tight-budget-aggressive-42"
    registered = await client.post(
        "/api/auth/register", json={"email": email, "password": password}
    )
    assert registered.status_code == 201, registered.text
    login = await client.post("/api/auth/login", data={"username": email, "password": password})
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    scanned = await client.post(
        "/api/scan",
        headers=headers,
        files={"text": (None, "Project has tight budget and aggressive deadline")},
    )
    assert scanned.status_code == 201, scanned.text
    scan_id = scanned.json()["scan_id"]
    fetched = await client.get(f"/api/scans/{scan_id}", headers=headers)
    assert fetched.status_code == 200
    assert fetched.json()["data"] == scanned.json()["data"]


async def test_url_encoded_text_is_accepted(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    response = await client.post(
        "/api/scan", headers=user.headers, data={"text": LIABILITY, "force_llm": "false"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["data"][0]["category"] == "Legal"


# Extraction happens in the AI service: one engine is enough.
@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("name", "media_type", "make"),
    [
        ("terms.txt", "text/plain", lambda: CONTRACT.encode()),
        ("terms.pdf", "application/pdf", lambda: pdf_with_text(CONTRACT)),
        (
            "terms.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            lambda: docx_of("Terms of the works", CONTRACT),
        ),
        ("photo.png", "image/png", lambda: png_of(LIABILITY)),
        ("scan.pdf", "application/pdf", lambda: scanned_pdf(LIABILITY)),
    ],
    ids=["txt", "pdf-text-layer", "docx", "png-ocr", "pdf-image-only-ocr"],
)
async def test_each_file_type_is_extracted_and_scanned(
    client: httpx2.AsyncClient, name: str, media_type: str, make: object
) -> None:
    user = await register_and_login(client)
    content = make()  # type: ignore[operator]
    response = await scan_file(client, user.headers, name, content, media_type)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["filename"] == name
    contexts = [risk["context"] for risk in body["data"]]
    assert any("unlimited liability" in c for c in contexts), contexts
    assert all(risk["grounded"] and risk["spans"] for risk in body["data"])
    listed = (await client.get("/api/documents", headers=user.headers)).json()["documents"]
    assert listed[0]["file_type"] == name.rsplit(".", 1)[1] and listed[0]["file_size"] == len(
        content
    )


async def test_neither_file_nor_text_is_400(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    for files in ({"force_llm": (None, "true")}, {"text": (None, "   ")}):
        response = await client.post("/api/scan", headers=user.headers, files=files)
        assert response.status_code == 400
        assert response.json()["error"] == "no_input"


async def test_a_file_without_text_is_400_could_not_extract(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    response = await scan_file(client, user.headers, "blank.png", png_of(""), "image/png")
    assert response.status_code == 400
    assert response.json()["detail"] == "Could not extract text for analysis"


async def test_an_executable_named_pdf_is_415(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    response = await scan_file(
        client, user.headers, "invoice.pdf", ELF_EXECUTABLE, "application/pdf"
    )
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"
    assert (await client.get("/api/scans", headers=user.headers)).json()["total"] == 0


async def test_scanning_needs_a_signed_in_user(client: httpx2.AsyncClient) -> None:
    response = await client.post("/api/scan", files={"text": (None, LIABILITY)})
    assert response.status_code == 401


async def test_identical_uploads_reuse_the_stored_result_unless_forced(
    client: httpx2.AsyncClient,
) -> None:
    user = await register_and_login(client)
    first = await scan_text(client, user.headers, CONTRACT)
    again = await scan_text(client, user.headers, "  " + CONTRACT.upper() + "\n")
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["scan_id"] == first.json()["scan_id"] and again.json()["reused"] is True
    forced = await scan_text(client, user.headers, CONTRACT, force_llm="true")
    assert forced.status_code == 201 and forced.json()["scan_id"] != first.json()["scan_id"]
    other = await register_and_login(client)
    theirs = await scan_text(client, other.headers, CONTRACT)
    assert theirs.status_code == 201 and theirs.json()["scan_id"] != first.json()["scan_id"]
    total = (await client.get("/api/scans", headers=user.headers)).json()["total"]
    assert total == 2
