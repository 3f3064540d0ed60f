"""The runner of asynchronous scans: claims queued scans one at a time and works through
them chunk by chunk, outside any transaction.

- A claim is a conditional UPDATE with a lease (repository.claim_next), so across any number
  of processes each scan has one runner; a runner that dies leaves a lease that expires, and
  the scan is claimed again (at most `max_attempts` times).
- Progress is written after every chunk and renews the lease; a write that finds the claim
  gone (another runner took over an expired lease) stops this one.
- A document past its deadline keeps the risks found so far: status `partial`.
- On shutdown the scans in hand are put back in the queue, so a restart loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import socket
import time
import uuid
from datetime import timedelta
from typing import Any

import structlog

from tessera.core.db.base import utcnow
from tessera.core.db.engine import Database
from tessera.core.errors import AppError
from tessera.modules.riskscan import formats
from tessera.modules.riskscan.client import (
    AiClient,
    AiFailed,
    AiMalformed,
    AiTimeout,
    AiUnavailable,
    FilePart,
)
from tessera.modules.riskscan.config import RiskscanSettings
from tessera.modules.riskscan.repository import RiskscanRepository
from tessera.modules.riskscan.results import (
    MalformedReply,
    chunk_pages,
    normalise_items,
    pages_of,
    shift_spans,
    source_of,
)
from tessera.modules.riskscan.service import ai_error, pipeline_version_of

log = structlog.get_logger("tessera.riskscan.runner")

UPSTREAM_ERRORS = (AiUnavailable, AiTimeout, AiFailed, AiMalformed, MalformedReply)
RETRY_BACKOFF_SECONDS = 10.0
STOP_GRACE_SECONDS = 5.0


class LostClaim(Exception):
    """Another runner holds the scan now."""


class Stopping(Exception):
    """The process is stopping; the scan goes back to the queue."""


class ScanRunner:
    def __init__(
        self,
        db: Database,
        client: AiClient,
        settings: RiskscanSettings,
        *,
        name: str | None = None,
    ) -> None:
        self.db, self.client, self.settings = db, client, settings
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._in_hand: set[str] = set()
        self._stopping = False

    # --- lifecycle ------------------------------------------------------------------------

    def start(self, workers: int) -> None:
        self._tasks = [asyncio.create_task(self._loop()) for _ in range(workers)]

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        """Let the loops finish what they are doing with the database (a task cancelled in
        the middle of a SQLite connect would leave its driver thread calling into a closed
        loop); cancel only what is still waiting on the AI service after a grace period."""
        self._stopping = True
        self._wake.set()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=STOP_GRACE_SECONDS)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._tasks = []
        for scan_id in list(self._in_hand):
            await self._requeue(scan_id, attempt_counts=False)

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                worked = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup must not end the runner
                log.exception("riskscan_runner_failed")
                worked = False
            if not worked and not self._stopping:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.queue_poll_seconds)

    # --- one scan -------------------------------------------------------------------------

    def _lease(self) -> Any:
        return utcnow() + timedelta(seconds=self.settings.lease_seconds)

    async def run_once(self) -> bool:
        """Claim and run one scan; False when the queue is empty."""
        # An idle poll only reads: no write lock (SQLite) every second in every process.
        async with self.db.session(write=False) as session:
            waiting = await RiskscanRepository(session).has_claimable(
                utcnow(), self.settings.max_attempts
            )
        if not waiting:
            return False
        async with self.db.session(write=True) as session:
            repo = RiskscanRepository(session)
            scan_id = await repo.claim_next(
                self.name, utcnow(), self._lease(), self.settings.max_attempts
            )
        if scan_id is None:
            return False
        self._in_hand.add(scan_id)
        try:
            await self._run(scan_id)
        except Stopping:
            pass
        except LostClaim:
            log.info("riskscan_claim_lost", scan_id=scan_id)
        except UPSTREAM_ERRORS as exc:
            await self._after_failure(scan_id, exc)
        finally:
            if not self._stopping:  # when stopping, stop() puts what is in hand back
                self._in_hand.discard(scan_id)
        return True

    async def _update(self, scan_id: str, **fields: Any) -> None:
        async with self.db.session(write=True) as session:
            if not await RiskscanRepository(session).update_claimed(scan_id, self.name, **fields):
                raise LostClaim()

    async def _finish(self, scan_id: str, **fields: Any) -> None:
        """The result and the end of the document's stored copy, in one transaction."""
        async with self.db.session(write=True) as session:
            repo = RiskscanRepository(session)
            done = await repo.update_claimed(
                scan_id, self.name, completed_at=utcnow(), lease_until=None, **fields
            )
            if not done:
                raise LostClaim()
            await repo.delete_upload(scan_id)

    async def _run(self, scan_id: str) -> None:
        async with self.db.session(write=False) as session:
            repo = RiskscanRepository(session)
            scan = await repo.scan(scan_id)
            upload = await repo.upload_of(scan_id)
        if scan is None or upload is None:
            raise LostClaim()
        deadline = time.monotonic() + self.settings.document_deadline_seconds
        pages = await self._pages(scan.file_type, scan.filename, upload.content, upload.text)
        if pages is None:  # a service without /extract: one call for the whole document
            await self._whole_document(
                scan_id, scan.file_type, scan.filename, upload, scan.force_llm
            )
            return
        chunks = chunk_pages(pages, self.settings.chunk_chars)
        if not chunks:
            await self._finish(
                scan_id, status="failed", error="Could not extract text for analysis"
            )
            return
        await self._update(
            scan_id,
            status="analysing",
            progress_done=0,
            progress_total=len(chunks),
            lease_until=self._lease(),
        )
        risks: list[dict[str, Any]] = []
        source, version, partial = "model", "", False
        for number, chunk in enumerate(chunks, start=1):
            if self._stopping:
                raise Stopping()  # stop() puts the scan back in the queue
            left = deadline - time.monotonic()
            if left <= 0:
                partial = True
                break
            try:
                async with asyncio.timeout(left):
                    reply = await self.client.scan(
                        file=None, text=chunk.text, force_llm=scan.force_llm
                    )
            except TimeoutError:
                partial = True
                break
            source = source_of(reply)
            version = pipeline_version_of(reply, source)
            items = reply.get("data")
            risks += normalise_items(
                shift_spans(items, chunk) if isinstance(items, list) else items, pages
            )
            await self._update(scan_id, progress_done=number, lease_until=self._lease())
        await self._finish(
            scan_id,
            status="partial" if partial else "done",
            partial=partial,
            data=risks,
            source=source,
            pipeline_version=version or None,
        )
        log.info("riskscan_async_done", scan_id=scan_id, chunks=len(chunks), partial=partial)

    async def _pages(
        self, kind: str, filename: str | None, content: bytes | None, text: str | None
    ) -> list[str] | None:
        pages: list[str] = []
        if content is not None and kind in formats.MEDIA_TYPES:
            part = FilePart(
                formats.upstream_name(filename, kind),
                io.BytesIO(content),
                formats.MEDIA_TYPES[kind],
            )
            extracted = await self.client.extract(part)
            if extracted is None:
                return None
            raw = extracted.get("pages")
            if not isinstance(raw, list) or not all(isinstance(p, str) for p in raw):
                raise MalformedReply("The AI service's extraction has no pages")
            pages = list(raw)
        if text:
            pages.append(text)
        return pages

    async def _whole_document(
        self, scan_id: str, kind: str, filename: str | None, upload: Any, force_llm: bool
    ) -> None:
        await self._update(scan_id, status="analysing", progress_total=1)
        part = FilePart(
            formats.upstream_name(filename, kind),
            io.BytesIO(upload.content),
            formats.MEDIA_TYPES[kind],
        )
        reply = await self.client.scan(file=part, text=upload.text, force_llm=force_llm)
        source = source_of(reply)
        await self._finish(
            scan_id,
            status="done",
            progress_done=1,
            data=normalise_items(reply.get("data"), pages_of(reply, upload.text)),
            source=source,
            pipeline_version=pipeline_version_of(reply, source),
        )

    async def _after_failure(self, scan_id: str, exc: Exception) -> None:
        error: AppError = ai_error(exc)
        transient = isinstance(exc, AiUnavailable | AiTimeout) or (
            isinstance(exc, AiFailed) and (exc.status or 500) >= 500
        )
        async with self.db.session(write=False) as session:
            scan = await RiskscanRepository(session).scan(scan_id)
        attempts = scan.attempts if scan is not None else self.settings.max_attempts
        try:
            if transient and attempts < self.settings.max_attempts:
                await self._requeue(scan_id, attempt_counts=True)
            else:
                await self._finish(scan_id, status="failed", error=str(error.detail)[:500])
        except LostClaim:
            pass
        log.info("riskscan_async_failed", scan_id=scan_id, error=error.code, retry=transient)

    async def _requeue(self, scan_id: str, *, attempt_counts: bool) -> None:
        """Back to the queue: after a transient failure (later), or at shutdown (now)."""
        fields: dict[str, Any] = {"status": "queued", "claimed_by": None}
        if attempt_counts:
            fields["lease_until"] = utcnow() + timedelta(seconds=RETRY_BACKOFF_SECONDS)
        else:
            fields["lease_until"] = None
        try:
            async with self.db.session(write=True) as session:
                repo = RiskscanRepository(session)
                if not attempt_counts:
                    scan = await repo.scan(scan_id)
                    if scan is not None and scan.attempts > 0:
                        fields["attempts"] = scan.attempts - 1
                await repo.update_claimed(scan_id, self.name, **fields)
        except Exception:  # the lease expires and another runner takes it anyway
            log.warning("riskscan_requeue_failed", scan_id=scan_id)
