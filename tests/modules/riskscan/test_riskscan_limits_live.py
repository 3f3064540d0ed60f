"""Limits in front of the AI service, against a live server process: an oversized upload is
413 before its body is read, one user's parallel scans are capped (429 + Retry-After) while
another user is unaffected, and a client that leaves cancels the upstream call."""

from __future__ import annotations

import asyncio
import select
import socket
import time
from collections import Counter
from urllib.parse import urlparse

import httpx2
import pytest
from riskscan_helpers import scan_text
from tests.aiservice.servers import LoopbackServer, Reply
from tests.helpers.identity import register_and_login

from conftest import riskscan
from tessera.modules.riskscan.config import RiskscanSettings

pytestmark = pytest.mark.usefixtures("engine")

MIB = 1024 * 1024
TEXT = "The contractor has unlimited liability for all damages."
CAP = 3


@pytest.fixture
def riskscan_settings(upstream: LoopbackServer) -> RiskscanSettings:
    return riskscan(ai_service_url=upstream.url, max_in_flight=CAP, ai_timeout_seconds=10)


def _upload_until_answered(base: str, token: str, total: int, *, chunked: bool) -> tuple[int, str]:
    """Send a multipart body of `total` bytes as fast as the server takes it; stop when an
    answer arrives. Returns (bytes sent, the status line)."""
    parsed = urlparse(base)
    sock = socket.create_connection((parsed.hostname, parsed.port), timeout=10)
    boundary = "riskscan-boundary"
    envelope = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n%PDF-1.4\n"
    ).encode()
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    sock.sendall(
        (
            f"POST /api/scan HTTP/1.1\r\nHost: {parsed.netloc}\r\n"
            f"Authorization: Bearer {token}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n{length}\r\n\r\n"
        ).encode()
    )
    sent = 0
    if not chunked:  # the declared length alone must be enough for the answer
        select.select([sock], [], [], 5)
    piece = envelope + b"0" * (64 * 1024 - len(envelope))
    try:
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            data = piece[: total - sent]
            sock.sendall(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
            sent += len(data)
            piece = b"0" * len(piece)
    except (BrokenPipeError, ConnectionResetError):
        pass
    sock.settimeout(10)
    answer = sock.recv(4096).decode("latin-1")
    sock.close()
    return sent, answer.split("\r\n", 1)[0]


# The body limit sits in front of the database: one engine shows it.
@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
async def test_an_11_mb_upload_is_413_before_it_is_read(live_server: str) -> None:
    async with httpx2.AsyncClient(base_url=live_server) as client:
        user = await register_and_login(client)
    # Declared length: the answer comes before a byte of the body is sent.
    sent, status = await asyncio.to_thread(
        _upload_until_answered, live_server, user.access_token, 11 * MIB + MIB // 2, chunked=False
    )
    assert status.split(" ")[1] == "413", status
    assert sent == 0
    # Streamed without a length: the server stops at its limit (11 MiB: the file's 10 and the
    # envelope allowance); what was sent beyond it is what loopback socket buffers soak up.
    started = time.monotonic()
    sent, status = await asyncio.to_thread(
        _upload_until_answered, live_server, user.access_token, 40 * MIB, chunked=True
    )
    assert status.split(" ")[1] == "413", status
    assert sent < 20 * MIB, f"sent {sent / MIB:.1f} MiB of 40"
    assert time.monotonic() - started < 10


async def test_twenty_parallel_scans_by_one_user_are_capped_others_unaffected(
    live_server: str, upstream: LoopbackServer
) -> None:
    upstream.handler = lambda request: Reply.json({"data": [], "source": "model"}, delay=1.5)
    async with httpx2.AsyncClient(base_url=live_server, timeout=30) as client:
        busy = await register_and_login(client)
        other = await register_and_login(client)

        async def other_user() -> httpx2.Response:
            await asyncio.sleep(0.3)
            return await scan_text(client, other.headers, TEXT)

        results = await asyncio.gather(
            *(scan_text(client, busy.headers, f"{TEXT} {n}") for n in range(20)), other_user()
        )
    *mine, theirs = results
    assert Counter(r.status_code for r in mine) == {201: CAP, 429: 20 - CAP}
    assert all(int(r.headers["retry-after"]) >= 1 for r in mine if r.status_code == 429)
    assert theirs.status_code == 201
    assert upstream.max_in_flight <= CAP + 1
    assert len(upstream.requests) == CAP + 1


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
async def test_a_client_that_leaves_cancels_the_upstream_call(
    live_server: str, upstream: LoopbackServer
) -> None:
    upstream.handler = lambda request: Reply.json({"data": [], "source": "model"}, delay=8)
    async with httpx2.AsyncClient(base_url=live_server) as client:
        user = await register_and_login(client)
        with pytest.raises(httpx2.ReadTimeout):
            await client.post(
                "/api/scan", headers=user.headers, files={"text": (None, TEXT)}, timeout=1.0
            )
    for _ in range(60):
        if upstream.abandoned:
            break
        await asyncio.sleep(0.05)
    assert upstream.abandoned == 1  # the API closed its upstream call within ~3 s, not 8
