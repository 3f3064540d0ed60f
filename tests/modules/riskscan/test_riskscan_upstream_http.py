"""The proxy against a misbehaving AI service started by the test on a loopback port: every
failure is a clear 5xx (503 refused, 504 too slow, 502 with the upstream's own message, 502
for garbage or a runaway reply), nothing is stored, and what a real but sloppy service (the
seed's own) answers is cleaned up."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from riskscan_helpers import scan_file, scan_text
from tests.aiservice.servers import LoopbackServer, Reply, multipart_fields
from tests.helpers.identity import register_and_login
from tests.helpers.server import free_port

from conftest import riskscan
from tessera.modules.riskscan.config import RiskscanSettings

# What the proxy does with an upstream's answer does not depend on the database: one engine.
pytestmark = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)

TEXT = "The contractor has unlimited liability for all damages."
MIB = 1024 * 1024


@pytest.fixture
def riskscan_settings(upstream: LoopbackServer) -> RiskscanSettings:
    return riskscan(ai_service_url=upstream.url, ai_timeout_seconds=3.0, max_reply_bytes=MIB)


async def _nothing_stored(client: httpx2.AsyncClient, headers: dict[str, str]) -> None:
    assert (await client.get("/api/scans", headers=headers)).json()["total"] == 0


async def test_too_slow_is_504_at_the_deadline(
    client: httpx2.AsyncClient, upstream: LoopbackServer
) -> None:
    upstream.handler = lambda request: Reply.json({"data": [], "source": "model"}, delay=8)
    user = await register_and_login(client)
    response = await scan_text(client, user.headers, TEXT)
    assert response.status_code == 504
    assert response.json()["error"] == "ai_service_timeout"
    await _nothing_stored(client, user.headers)


async def test_refused_is_503(database_url: str, tmp_path: Any) -> None:
    from asgi_lifespan import LifespanManager
    from tests.conftest import make_settings

    from tessera.app import create_app

    closed = f"http://127.0.0.1:{free_port()}"
    settings = make_settings(
        database_url, tmp_path, module_settings=[riskscan(ai_service_url=closed)]
    )
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx2.ASGITransport(app=app, client=("203.0.113.9", 50000))
        async with httpx2.AsyncClient(transport=transport, base_url="http://t") as client:
            user = await register_and_login(client)
            response = await scan_text(client, user.headers, TEXT)
            assert response.status_code == 503
            assert response.json()["error"] == "ai_service_unavailable"
            assert response.headers["retry-after"]


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply.json({"detail": "Gemini quota exhausted"}, status=500), "Gemini quota exhausted"),
        (
            Reply(500, b"Internal Server Error: model crashed", "text/plain"),
            "Internal Server Error: model crashed",
        ),
        (Reply.json({"error": "bad gateway upstream"}, status=503), "bad gateway upstream"),
    ],
    ids=["500-json", "500-text", "503-json"],
)
async def test_an_ai_error_is_502_with_its_message(
    client: httpx2.AsyncClient, upstream: LoopbackServer, reply: Reply, message: str
) -> None:
    upstream.handler = lambda request: reply
    user = await register_and_login(client)
    response = await scan_text(client, user.headers, TEXT)
    assert response.status_code == 502
    assert message in response.json()["detail"]
    assert response.json()["error"] == "ai_service_error"
    await _nothing_stored(client, user.headers)


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[1, 2, 3]", b'{"source": "model"}', b'{"data": "none"}'],
    ids=["invalid-json", "not-an-object", "no-data", "data-not-a-list"],
)
async def test_a_malformed_reply_is_502(
    client: httpx2.AsyncClient, upstream: LoopbackServer, body: bytes
) -> None:
    upstream.handler = lambda request: Reply(200, body)
    user = await register_and_login(client)
    response = await scan_text(client, user.headers, TEXT)
    assert response.status_code == 502
    assert response.json()["error"] == "ai_service_malformed_reply"


async def test_a_50_mb_reply_is_502_and_never_held_in_memory(
    client: httpx2.AsyncClient, upstream: LoopbackServer
) -> None:
    size = 50 * MIB
    piece = b" " * (1 << 16)

    def endless() -> Iterator[bytes]:
        yield b'{"data": ['
        for _ in range(size // len(piece)):
            yield piece

    upstream.handler = lambda request: Reply(200, stream=endless, length=size)
    user = await register_and_login(client)
    tracemalloc.start()
    try:
        response = await scan_text(client, user.headers, TEXT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 502
    assert "too large" in response.json()["detail"]
    assert peak < 12 * MIB, f"peak {peak / MIB:.1f} MiB while refusing a 50 MiB reply"


async def test_the_seeds_sloppy_answers_are_cleaned_up(
    client: httpx2.AsyncClient, upstream: LoopbackServer
) -> None:
    """Categories outside the seven become Other, items with an empty field are dropped, the
    original filename is forwarded; a service that sends no text back gets no risk shown as
    grounded (there is nothing to check a citation against)."""
    text = "Risky clause one. The contractor has unlimited liability for all damages."
    data = [
        {"risk": "Cyber exposure", "category": "Cybersecurity", "context": "Risky clause one."},
        {"risk": "Liability", "category": "legal", "context": "unlimited liability"},
        {"risk": "", "category": "Legal", "context": "x"},
        {"risk": "No context", "category": "Legal", "context": "  "},
        {"risk": "Invented", "category": "Financial", "context": "A sentence not in the text"},
        "not an object",
    ]
    upstream.handler = lambda request: Reply.json({"data": data, "source": "unknown"})
    user = await register_and_login(client)
    response = await scan_file(
        client, user.headers, "Contrat signé.txt", text.encode(), "text/plain"
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert [r["category"] for r in body["data"]] == ["Other", "Legal", "Financial"]
    assert body["source"] == "model"
    grounded = {r["risk"]: r["grounded"] for r in body["data"]}
    assert grounded == {"Cyber exposure": False, "Liability": False, "Invented": False}
    fields = multipart_fields(upstream.requests[-1])
    assert fields["file"] == text.encode()
    assert b'filename="Contrat sign' in upstream.requests[-1].body
    assert fields["force_llm"] == b"false"


async def test_text_scan_spans_from_any_service_are_checked_against_the_text(
    client: httpx2.AsyncClient, upstream: LoopbackServer
) -> None:
    text = "Intro. The contractor has unlimited liability for all damages."
    quote = "The contractor has unlimited liability for all damages."
    at = text.index(quote)
    data = [
        {
            "risk": "Liability",
            "category": "Legal",
            "context": quote,
            "spans": [
                {"page": 1, "start": at, "end": at + len(quote), "quote": quote},
                {"page": 1, "start": 0, "end": 5, "quote": "forged"},
                {"page": 1, "start": 0, "end": len(quote), "quote": quote},
            ],
        }
    ]
    upstream.handler = lambda request: Reply.json({"data": data, "source": "llm"})
    user = await register_and_login(client)
    body = (await scan_text(client, user.headers, text)).json()
    (risk,) = body["data"]
    assert body["source"] == "llm" and risk["grounded"] is True
    assert risk["spans"] == [
        {"page": 1, "start": at, "end": at + len(quote), "quote": quote},
        {"page": 1, "start": at, "end": at + len(quote), "quote": quote},  # offsets corrected
    ]


async def test_the_forwarded_name_carries_the_extension_of_the_content(
    client: httpx2.AsyncClient, upstream: LoopbackServer
) -> None:
    """The seed's AI service picks its parser by the extension: a PDF sent as `contract` (or
    as `photo.png`) goes as `contract.pdf` (`photo.png.pdf`), with the PDF media type."""
    from tests.aiservice.documents import pdf_with_text

    upstream.handler = lambda request: Reply.json({"data": [], "source": "model"})
    user = await register_and_login(client)
    for sent, forwarded in (("contract", "contract.pdf"), ("photo.png", "photo.png.pdf")):
        pdf = pdf_with_text(f"{TEXT} ({sent})")
        response = await scan_file(client, user.headers, sent, pdf, "image/png")
        assert response.status_code == 201, response.text
        assert response.json()["filename"] == sent
        body = upstream.requests[-1].body
        assert f'filename="{forwarded}"'.encode() in body
        assert b"Content-Type: application/pdf" in body
