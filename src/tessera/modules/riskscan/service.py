"""The rules of a scan: what may be scanned, when a stored result is reused, how the AI
service's answer and failures become what the user sees, and where a scan is kept.

A synchronous scan holds no transaction while the AI service works: the reuse lookup reads
in a read session of its own, the AI call runs with no connection held, and the scan row is
written in the request's transaction afterwards (committed before the response is sent).

Scans write no audit entries: they are the user's own content, not security events, and an
audit row naming the user would outlive the scans that must go with the user.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.db.base import utcnow
from tessera.core.db.engine import Database
from tessera.core.errors import AppError, PayloadTooLarge, Unprocessable
from tessera.modules.riskscan import formats
from tessera.modules.riskscan.client import (
    AiClient,
    AiFailed,
    AiMalformed,
    AiTimeout,
    AiUnavailable,
    FilePart,
)
from tessera.modules.riskscan.errors import (
    AiServiceError,
    AiServiceTimeout,
    AiServiceUnavailable,
    NoInput,
    NoText,
    ScanNotFound,
    UnsupportedType,
)
from tessera.modules.riskscan.models import Scan
from tessera.modules.riskscan.repository import RiskscanRepository
from tessera.modules.riskscan.results import (
    MalformedReply,
    normalise_items,
    pages_of,
    source_of,
)

MAX_TEXT_CHARS = 2_000_000


@dataclass
class ScanInput:
    """What the caller sent, after checks: a spooled file (type judged by content) and/or
    text."""

    file: IO[bytes] | None
    filename: str | None
    kind: str | None
    size: int | None
    file_sha256: str | None
    text: str | None
    force_llm: bool

    @property
    def content_hash(self) -> str:
        """Same bytes, or the same text up to case and spacing, give the same hash."""
        digest = hashlib.sha256()
        if self.file_sha256:
            digest.update(b"file:" + self.file_sha256.encode())
        if self.text:
            digest.update(b"text:" + " ".join(self.text.lower().split()).encode())
        return digest.hexdigest()

    @property
    def file_type(self) -> str:
        return self.kind or "text"

    def columns(self) -> dict[str, Any]:
        """What a stored scan records of its input, synchronous or queued alike."""
        return {
            "filename": self.filename,
            "file_type": self.file_type,
            "file_size": self.size,
            "input_source": self.input_source,
            "content_hash": self.content_hash,
            "force_llm": self.force_llm,
        }

    @property
    def input_source(self) -> str:
        return "file_picker" if self.file is not None else "text_input"

    def file_part(self) -> FilePart | None:
        if self.file is None or self.kind is None:
            return None
        self.file.seek(0)
        name = formats.upstream_name(self.filename, self.kind)
        return FilePart(name, self.file, formats.MEDIA_TYPES[self.kind])


async def check_input(
    file: IO[bytes] | None,
    filename: str | None,
    text: str | None,
    force_llm: bool,
    max_bytes: int,
) -> ScanInput:
    text = text if text and text.strip() else None
    if text is not None and len(text) > MAX_TEXT_CHARS:
        raise PayloadTooLarge(f"Text longer than {MAX_TEXT_CHARS} characters")
    if file is None:
        if text is None:
            raise NoInput()
        return ScanInput(None, None, None, None, None, text, force_llm)
    inspected = await asyncio.to_thread(formats.inspect, file)
    if inspected.size == 0:
        if text is None:
            raise NoInput("The uploaded file is empty")
        return ScanInput(None, None, None, None, None, text, force_llm)
    if inspected.size > max_bytes:
        raise PayloadTooLarge(f"File larger than {max_bytes} bytes", code="file_too_large")
    if inspected.kind is None:
        raise UnsupportedType()
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1][:255] or None
    return ScanInput(file, name, inspected.kind, inspected.size, inspected.sha256, text, force_llm)


# Upstream refusals that are about the caller's input keep their status; anything else the
# AI service answers with is its failure: 502 with its message.
_INPUT_STATUSES = {400: NoText, 413: PayloadTooLarge, 415: UnsupportedType, 422: Unprocessable}


def ai_error(exc: Exception) -> AppError:
    if isinstance(exc, AiUnavailable):
        return AiServiceUnavailable(str(exc), headers={"Retry-After": "5"})
    if isinstance(exc, AiTimeout):
        return AiServiceTimeout(str(exc))
    if isinstance(exc, AiFailed):
        refusal = _INPUT_STATUSES.get(exc.status or 0)
        if refusal is not None:
            return refusal(exc.message)
        return AiServiceError(f"AI service error: {exc.message}")
    if isinstance(exc, AiMalformed | MalformedReply):
        return AiServiceError(str(exc), code="ai_service_malformed_reply")
    raise exc


def pipeline_version_of(reply: dict[str, Any], source: str) -> str:
    version = reply.get("pipeline_version")
    return version[:64] if isinstance(version, str) and version else f"upstream+{source}"


async def analyse(client: AiClient, scan: ScanInput) -> tuple[list[dict[str, Any]], str, str]:
    """(risks, source, pipeline version) of one call to the AI service."""
    try:
        reply = await client.scan(file=scan.file_part(), text=scan.text, force_llm=scan.force_llm)
        source = source_of(reply)
        risks = normalise_items(reply.get("data"), pages_of(reply, scan.text))
    except (AiUnavailable, AiTimeout, AiFailed, AiMalformed, MalformedReply) as exc:
        raise ai_error(exc) from exc
    return risks, source, pipeline_version_of(reply, source)


async def reusable(db: Database, user_id: str, scan: ScanInput) -> Scan | None:
    if scan.force_llm:
        return None
    async with db.session(write=False) as session:
        return await RiskscanRepository(session).reusable(user_id, scan.content_hash, None)


async def store_scan(
    session: AsyncSession,
    user_id: str,
    scan: ScanInput,
    risks: list[dict[str, Any]],
    source: str,
    pipeline_version: str,
) -> Scan:
    now = utcnow()
    stored = await RiskscanRepository(session).add_scan(
        user_id=user_id,
        **scan.columns(),
        mode="sync",
        status="done",
        partial=False,
        data=risks,
        source=source,
        pipeline_version=pipeline_version,
        progress_done=1,
        progress_total=1,
        attempts=1,
        created_at=now,
        completed_at=now,
    )
    return stored


async def queue_scan(session: AsyncSession, user_id: str, scan: ScanInput) -> Scan:
    """Store the scan as queued with its document; the runner takes it from there."""
    content = None
    if scan.file is not None:
        scan.file.seek(0)
        content = await asyncio.to_thread(scan.file.read)
    repo = RiskscanRepository(session)
    stored = await repo.add_scan(
        user_id=user_id,
        **scan.columns(),
        mode="async",
        status="queued",
        partial=False,
        data=[],
        progress_done=0,
        progress_total=0,
        attempts=0,
        created_at=utcnow(),
    )
    await repo.add_upload(stored.id, content, scan.text)
    return stored


async def scan_of(session: AsyncSession, user_id: str, scan_id: str) -> Scan:
    scan = await RiskscanRepository(session).scan_of_user(scan_id, user_id)
    if scan is None:
        raise ScanNotFound()
    return scan


async def delete_scan(session: AsyncSession, user_id: str, scan_id: str) -> None:
    """The scan, its risks (the only stored quotes of the text) and any queued document."""
    if not await RiskscanRepository(session).delete_scan_of_user(scan_id, user_id):
        raise ScanNotFound()
