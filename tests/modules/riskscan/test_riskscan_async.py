"""Asynchronous scans: `POST /api/scans` answers 202 at once; a runner works through the
document chunk by chunk with progress; a queued scan survives a restart and runs once; two
runners never run the same scan; a document past its deadline keeps what was found, partial."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from pathlib import Path
from typing import Any

import httpx2
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import select
from tests.aiservice.servers import LoopbackServer, Reply, multipart_fields
from tests.conftest import make_settings
from tests.helpers.identity import AuthedUser, register_and_login

from conftest import riskscan
from tessera.app import create_app
from tessera.core.db.engine import Database
from tessera.modules.riskscan.client import AiClient
from tessera.modules.riskscan.models import Scan, Upload
from tessera.modules.riskscan.runner import ScanRunner

pytestmark = pytest.mark.usefixtures("engine")

SENTENCES = [
    f"Clause {n}: the contractor bears unlimited liability for item {n}." for n in range(12)
]
DOCUMENT = " ".join(SENTENCES)


def document_service(delay: float = 0.0) -> Any:
    """An AI service that extracts text files as one page and finds one risk per sentence."""

    def handle(request: Any) -> Reply:
        fields = multipart_fields(request)
        if request.path == "/extract":
            return Reply.json({"pages": [fields["file"].decode()], "kind": "txt"})
        text = fields["text"].decode()
        data = []
        for match in re.finditer(r"Clause \d+:[^.]*\.", text):
            quote = match.group(0)
            span = {"page": 1, "start": match.start(), "end": match.end(), "quote": quote}
            data.append({"risk": quote, "category": "Legal", "context": quote, "spans": [span]})
        return Reply.json(
            {"data": data, "source": "model", "pipeline_version": "test-1"}, delay=delay
        )

    return handle


def chunk_calls(upstream: LoopbackServer) -> Counter[str]:
    return Counter(
        multipart_fields(r)["text"].decode() for r in upstream.requests if r.path == "/scan"
    )


async def _wait_finished(client: httpx2.AsyncClient, user: AuthedUser, scan_id: str) -> Any:
    for _ in range(300):
        body = (await client.get(f"/api/scans/{scan_id}", headers=user.headers)).json()
        if body["status"] in ("done", "failed", "partial"):
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"scan {scan_id} did not finish: {body}")


def _client(app: Any) -> httpx2.AsyncClient:
    transport = httpx2.ASGITransport(app=app, client=("203.0.113.7", 50000))
    return httpx2.AsyncClient(transport=transport, base_url="http://testserver")


async def _queue(client: httpx2.AsyncClient, user: AuthedUser, name: str, text: str) -> str:
    response = await client.post(
        "/api/scans", headers=user.headers, files={"file": (name, text.encode(), "text/plain")}
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    return str(response.json()["scan_id"])


async def test_a_queued_scan_runs_chunk_by_chunk_grounded(
    database_url: str, tmp_path: Path, upstream: LoopbackServer
) -> None:
    upstream.handler = document_service()
    own = riskscan(ai_service_url=upstream.url, queue_workers=1, chunk_chars=200)
    app = create_app(make_settings(database_url, tmp_path, module_settings=[own]))
    async with LifespanManager(app), _client(app) as client:
        user = await register_and_login(client)
        scan_id = await _queue(client, user, "long.txt", DOCUMENT)
        body = await _wait_finished(client, user, scan_id)
        assert body["status"] == "done" and body["partial"] is False
        assert body["progress"]["done"] == body["progress"]["total"] > 1
        assert sorted(r["context"] for r in body["data"]) == sorted(SENTENCES)
        for risk in body["data"]:
            (span,) = risk["spans"]
            assert DOCUMENT[span["start"] : span["end"]] == span["quote"] == risk["context"]
        async with app.state.runtime.db.session(write=False) as session:
            assert await session.get(Upload, scan_id) is None  # the document is gone
    assert all(count == 1 for count in chunk_calls(upstream).values())


async def test_a_queued_scan_survives_a_restart_and_runs_once(
    database_url: str, tmp_path: Path, upstream: LoopbackServer
) -> None:
    upstream.handler = document_service()
    stopped = riskscan(ai_service_url=upstream.url, queue_workers=0, chunk_chars=200)
    first = create_app(make_settings(database_url, tmp_path, module_settings=[stopped]))
    async with LifespanManager(first), _client(first) as client:
        user = await register_and_login(client)
        scan_id = await _queue(client, user, "long.txt", DOCUMENT)
    assert upstream.requests == []  # the API went down before anything ran
    running = riskscan(ai_service_url=upstream.url, queue_workers=2, chunk_chars=200)
    second = create_app(make_settings(database_url, tmp_path, module_settings=[running]))
    async with LifespanManager(second), _client(second) as client:
        body = await _wait_finished(client, user, scan_id)
        await asyncio.sleep(0.3)  # time for a duplicate run to show itself, if there were one
    assert body["status"] == "done" and len(body["data"]) == len(SENTENCES)
    calls = chunk_calls(upstream)
    assert len(calls) == body["progress"]["total"] and set(calls.values()) == {1}


async def test_two_runners_never_run_the_same_scan(
    database_url: str, tmp_path: Path, upstream: LoopbackServer
) -> None:
    upstream.handler = document_service(delay=0.02)
    own = riskscan(ai_service_url=upstream.url, queue_workers=0, chunk_chars=10_000)
    app = create_app(make_settings(database_url, tmp_path, module_settings=[own]))
    async with LifespanManager(app), _client(app) as client:
        user = await register_and_login(client)
        ids = [await _queue(client, user, f"doc{n}.txt", SENTENCES[n]) for n in range(8)]
    runners = []
    for name in ("replica-a", "replica-b"):
        db = Database(make_settings(database_url, tmp_path).resolved_database_url)
        ai = AiClient(upstream.url, timeout=10, max_reply_bytes=1 << 20)
        runner = ScanRunner(db, ai, own.model_copy(update={"queue_poll_seconds": 0.05}), name=name)
        runner.start(2)
        runners.append((runner, db, ai))
    try:
        for _ in range(400):
            async with runners[0][1].session(write=False) as session:
                statuses = list(await session.scalars(select(Scan.status)))
            if statuses and all(s == "done" for s in statuses):
                break
            await asyncio.sleep(0.05)
    finally:
        for runner, _db, ai in runners:
            await runner.stop()
            await ai.aclose()
    async with runners[0][1].session(write=False) as session:
        rows = list(await session.scalars(select(Scan).where(Scan.id.in_(ids))))
    for _, db, _ in runners:
        await db.dispose()
    assert sorted(r.status for r in rows) == ["done"] * 8
    assert all(r.attempts == 1 and r.claimed_by in ("replica-a", "replica-b") for r in rows)
    calls = chunk_calls(upstream)
    assert sorted(calls) == sorted(SENTENCES[:8]) and set(calls.values()) == {1}


async def test_past_the_documents_deadline_the_result_is_partial(
    database_url: str, tmp_path: Path, upstream: LoopbackServer
) -> None:
    upstream.handler = document_service(delay=0.4)
    own = riskscan(
        ai_service_url=upstream.url, queue_workers=1, chunk_chars=200, document_deadline_seconds=1.0
    )
    app = create_app(make_settings(database_url, tmp_path, module_settings=[own]))
    async with LifespanManager(app), _client(app) as client:
        user = await register_and_login(client)
        scan_id = await _queue(client, user, "long.txt", DOCUMENT)
        body = await _wait_finished(client, user, scan_id)
    assert body["status"] == "partial" and body["partial"] is True
    assert 0 < body["progress"]["done"] < body["progress"]["total"]
    assert 0 < len(body["data"]) < len(SENTENCES)
    for risk in body["data"]:
        span = risk["spans"][0]
        assert DOCUMENT[span["start"] : span["end"]] == span["quote"]
