"""HTTP of the risk scans (seed 002): `POST /api/scan` (synchronous, the seed's), `POST
/api/scans` (asynchronous, 202), the history under `/api/scans` and the seed implementation's
`/api/documents` view of the same scans.

A scan is refused as early as it can be: the rate limit and the in-flight cap before the body
is read, an oversized body by the body-limit middleware as it streams (413), a type that is
not pdf/docx/txt/png/jpeg by its content (415), all before the AI service is called.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response, status
from starlette.datastructures import FormData, UploadFile

from tessera.core.db import DbSession
from tessera.core.db.session import database_of
from tessera.core.errors import error_responses
from tessera.core.kit.pagination import MAX_LIMIT, PageDep
from tessera.core.ratelimit import RateLimiterDep
from tessera.modules.riskscan import service
from tessera.modules.riskscan.deps import RiskscanDep, ScannerDep
from tessera.modules.riskscan.errors import ClientGone, DocumentNotFound, ScanNotFound
from tessera.modules.riskscan.repository import RiskscanRepository
from tessera.modules.riskscan.schemas import (
    DeletedOut,
    DocumentDetailOut,
    DocumentListOut,
    DocumentOut,
    QueuedOut,
    ScanListOut,
    ScanOut,
    ScanSummaryOut,
)
from tessera.modules.riskscan.state import RiskscanState

router = APIRouter(
    prefix="/api", tags=["riskscan"], responses=error_responses(400, 401, 403, 404, 422)
)

T = TypeVar("T")
TRUE_STRINGS = frozenset({"1", "true", "yes", "on"})
MAX_FORM_FIELDS = 20

_SCAN_FORM = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "text": {"type": "string"},
                        "force_llm": {"type": "boolean"},
                    },
                }
            }
        }
    }
}


async def _until_disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _unless_client_leaves(request: Request, work: Awaitable[T]) -> T:
    """Run `work`, cancelling it (and so the upstream call) if the client disconnects."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_until_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if not task.done():
        task.cancel()
        raise ClientGone()
    return task.result()


async def _read_form(request: Request, state: RiskscanState) -> tuple[FormData, service.ScanInput]:
    form = await request.form(max_files=1, max_fields=MAX_FORM_FIELDS)
    upload = form.get("file")
    text = form.get("text")
    force = str(form.get("force_llm") or "").strip().lower() in TRUE_STRINGS
    file = upload if isinstance(upload, UploadFile) else None
    try:
        scan = await service.check_input(
            file.file if file is not None else None,
            file.filename if file is not None else None,
            text if isinstance(text, str) else None,
            force,
            state.settings.scan_max_bytes,
        )
    except BaseException:
        await form.close()  # the spooled file goes now, not when the request is collected
        raise
    return form, scan


async def _limits(state: RiskscanState, limiter: Any, user_id: str) -> None:
    await limiter.enforce(
        "riskscan_scan",
        state.settings.scan_rate,
        user_id,
        detail="Too many scans, try again later",
    )


@router.post(
    "/scan",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=_SCAN_FORM,
    summary="Scan a document or text for risks (synchronous)",
    responses=error_responses(413, 415, 429, 502, 503, 504),
)
async def scan(
    request: Request,
    response: Response,
    caller: ScannerDep,
    session: DbSession,
    riskscan: RiskscanDep,
    limiter: RateLimiterDep,
) -> ScanOut:
    """Multipart (or url-encoded) `file?`, `text?`, `force_llm?`; other fields are ignored.
    An identical earlier upload is answered from its stored result (200, `reused: true`)
    unless `force_llm` asks for a new analysis."""
    await _limits(riskscan, limiter, caller.user_id)
    async with riskscan.in_flight.slot(caller.user_id):
        form, scan_input = await _read_form(request, riskscan)
        try:
            earlier = await service.reusable(database_of(request), caller.user_id, scan_input)
            if earlier is not None:
                response.status_code = status.HTTP_200_OK
                return ScanOut.of(earlier, reused=True)
            risks, source, version = await _unless_client_leaves(
                request, service.analyse(riskscan.client, scan_input)
            )
        finally:
            await form.close()
    stored = await service.store_scan(session, caller.user_id, scan_input, risks, source, version)
    return ScanOut.of(stored)


@router.post(
    "/scans",
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra=_SCAN_FORM,
    summary="Queue a scan of a long document (asynchronous)",
    responses=error_responses(413, 415, 429, 503),
)
async def queue_scan(
    request: Request,
    background: BackgroundTasks,
    caller: ScannerDep,
    session: DbSession,
    riskscan: RiskscanDep,
    limiter: RateLimiterDep,
) -> QueuedOut:
    """Answers at once with the scan's id; `GET /api/scans/{id}` shows its status and
    progress (queued, extracting, analysing n/m, done, failed, partial)."""
    await _limits(riskscan, limiter, caller.user_id)
    form, scan_input = await _read_form(request, riskscan)
    try:
        queued = await service.queue_scan(session, caller.user_id, scan_input)
    finally:
        await form.close()
    if riskscan.runner is not None:  # after the commit: the runner finds the row at once
        background.add_task(riskscan.runner.wake)
    return QueuedOut(scan_id=queued.id, status=queued.status)


@router.get("/scans")
async def list_scans(caller: ScannerDep, session: DbSession, page: PageDep) -> ScanListOut:
    rows, total = await RiskscanRepository(session).scans_of_user(
        caller.user_id, page.limit, page.offset
    )
    return ScanListOut(scans=[ScanSummaryOut.of(row) for row in rows], total=total)


@router.get("/scans/{scan_id}")
async def get_scan(scan_id: str, caller: ScannerDep, session: DbSession) -> ScanOut:
    return ScanOut.of(await service.scan_of(session, caller.user_id, scan_id))


@router.delete("/scans/{scan_id}")
async def delete_scan(scan_id: str, caller: ScannerDep, session: DbSession) -> DeletedOut:
    await service.delete_scan(session, caller.user_id, scan_id)
    return DeletedOut(message="Scan deleted")


@router.get("/documents")
async def list_documents(
    caller: ScannerDep,
    session: DbSession,
    skip: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
) -> DocumentListOut:
    rows, total = await RiskscanRepository(session).scans_of_user(caller.user_id, limit, skip)
    return DocumentListOut(
        total=total, skip=skip, limit=limit, documents=[DocumentOut.of(r) for r in rows]
    )


@router.get("/documents/{document_id}")
async def get_document(
    document_id: str, caller: ScannerDep, session: DbSession
) -> DocumentDetailOut:
    try:
        scan = await service.scan_of(session, caller.user_id, document_id)
    except ScanNotFound:
        raise DocumentNotFound() from None
    return DocumentDetailOut.detail(scan)


@router.delete("/documents/{document_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_document(document_id: str, caller: ScannerDep, session: DbSession) -> Response:
    try:
        await service.delete_scan(session, caller.user_id, document_id)
    except ScanNotFound:
        raise DocumentNotFound() from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)
