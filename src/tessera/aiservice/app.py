"""The AI service's HTTP face: `GET /` (what it is), `POST /scan` (the seed's contract) and
`POST /extract` (the text of a document, page by page, for callers that chunk it themselves).

`POST /scan` takes multipart or url-encoded `file?`, `text?`, `force_llm?` ("true"/"false"),
ignores other fields, and answers `{data:[{risk, category, context, severity, confidence,
spans}], source:"model"|"llm", pages, ocr_pages, kind, language, chunks, pipeline_version}`.
Errors are `{"detail", "error"}`: 400 no input or no text, 413 too large, 415 not a
pdf/docx/txt/png/jpeg by content, 422 unreadable, 502 the LLM failed, 503 OCR unavailable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from tessera.aiservice import chunks, model, ocr
from tessera.aiservice.config import AiServiceSettings
from tessera.aiservice.extract import Extracted, UnreadableDocument, extract, normalise
from tessera.aiservice.llm import LlmClient, LlmFailed
from tessera.protocols import documents

log = logging.getLogger("tessera.aiservice")

SERVICE_NAME = "Tessera reference AI scan service"
# Room for the multipart envelope and the text field around a file of `max_bytes`.
ENVELOPE_BYTES = 1_048_576
READ_CHUNK = 1 << 16
TRUE_STRINGS = frozenset({"1", "true", "yes", "on"})


class ScanError(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def _error(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail, "error": code}, status_code=status)


class Analyser:
    """The trained model and, if configured, the LLM client."""

    def __init__(self, settings: AiServiceSettings, risk_model: model.RiskModel) -> None:
        self.settings = settings
        self.model = risk_model
        self.llm: LlmClient | None = None
        if settings.llm_api_url:
            key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
            self.llm = LlmClient(
                settings.llm_api_url, key, settings.llm_model, settings.llm_timeout_seconds
            )

    def uses_llm(self, force_llm: bool) -> bool:
        return self.llm is not None and (force_llm or self.settings.use_llm)

    async def analyse(
        self, pages: list[str], force_llm: bool
    ) -> tuple[list[dict[str, Any]], str, int]:
        pieces = chunks.chunks(pages, self.settings.chunk_chars)
        risks: list[dict[str, Any]] = []
        if self.uses_llm(force_llm):
            assert self.llm is not None
            for piece in pieces:
                try:
                    risks += await self.llm.find_risks(piece)
                except LlmFailed as exc:
                    raise ScanError(502, "llm_failed", str(exc)) from exc
            return risks, "llm", len(pieces)
        floor = self.settings.min_confidence
        for piece in pieces:
            risks += await asyncio.to_thread(self.model.find_risks, piece, floor)
        return risks, "model", len(pieces)


async def _read_upload(upload: UploadFile, limit: int) -> bytes:
    data = bytearray()
    while part := await upload.read(READ_CHUNK):
        data += part
        if len(data) > limit:
            raise ScanError(413, "payload_too_large", f"File larger than {limit} bytes")
    return bytes(data)


async def _document(
    request: Request, settings: AiServiceSettings
) -> tuple[Extracted | None, bool, str | None]:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > settings.max_bytes + ENVELOPE_BYTES:
        raise ScanError(413, "payload_too_large", f"File larger than {settings.max_bytes} bytes")
    form = await request.form(max_files=1, max_fields=20)
    try:
        force_llm = str(form.get("force_llm") or "").strip().lower() in TRUE_STRINGS
        upload = form.get("file")
        text = form.get("text")
        if isinstance(upload, UploadFile) and upload.filename is not None:
            content = await _read_upload(upload, settings.max_bytes)
            if not content:
                raise ScanError(400, "empty_file", "The uploaded file is empty")
            kind = documents.sniff_bytes(content)
            if kind is None:
                raise ScanError(
                    415,
                    "unsupported_media_type",
                    "Only PDF, DOCX, TXT, PNG and JPEG files are accepted",
                )
            try:
                extracted = await asyncio.to_thread(extract, content, kind, settings.ocr_languages)
            except UnreadableDocument as exc:
                raise ScanError(422, "unreadable_document", str(exc)) from exc
            except ocr.OcrUnavailable as exc:
                raise ScanError(503, "ocr_unavailable", str(exc)) from exc
            if isinstance(text, str) and text.strip():
                extracted.pages.append(normalise(text))
            return extracted, force_llm, upload.filename
        if isinstance(text, str) and text.strip():
            return Extracted([normalise(text)], documents.TXT), force_llm, None
        return None, force_llm, None
    finally:
        await form.close()


def create_app(
    settings: AiServiceSettings | None = None, risk_model: model.RiskModel | None = None
) -> FastAPI:
    settings = settings or AiServiceSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        trained = (
            risk_model if risk_model is not None else await asyncio.to_thread(model.RiskModel.train)
        )
        app.state.analyser = Analyser(settings, trained)
        log.info("ai service ready (ocr: %s)", ocr.available(settings.ocr_languages))
        try:
            yield
        finally:
            if app.state.analyser.llm is not None:
                await app.state.analyser.llm.aclose()

    app = FastAPI(title=SERVICE_NAME, lifespan=lifespan, docs_url=None, redoc_url=None)

    @app.exception_handler(ScanError)
    async def _scan_error(_request: Request, exc: ScanError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.detail)

    @app.get("/")
    async def info() -> dict[str, Any]:
        return {
            "service": SERVICE_NAME,
            "llm_provider": settings.llm_provider,
            "use_llm": settings.use_llm and settings.llm_api_url is not None,
            "ocr": ocr.available(settings.ocr_languages),
            "ocr_languages": _ocr_languages(settings),
            "categories": list(model.CATEGORIES),
            "pipeline_version": model.PIPELINE_VERSION,
            "max_bytes": settings.max_bytes,
        }

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "healthy"}

    @app.post("/scan")
    async def scan(request: Request) -> JSONResponse:
        extracted, force_llm, _filename = await _document(request, settings)
        if extracted is None:
            raise ScanError(400, "no_input", "Provide a file or text to scan")
        if not extracted.text.strip():
            raise ScanError(400, "no_text", "Could not extract text for analysis")
        analyser: Analyser = request.app.state.analyser
        risks, source, pieces = await analyser.analyse(extracted.pages, force_llm)
        return JSONResponse(
            {
                "data": risks,
                "source": source,
                "pages": extracted.pages,
                "ocr_pages": extracted.ocr_pages,
                "kind": extracted.kind,
                "language": model.language_of(extracted.text),
                "chunks": pieces,
                "pipeline_version": f"{model.PIPELINE_VERSION}+{source}",
            }
        )

    @app.post("/extract")
    async def extract_only(request: Request) -> JSONResponse:
        extracted, _force, _filename = await _document(request, settings)
        if extracted is None:
            raise ScanError(400, "no_input", "Provide a file or text to extract")
        return JSONResponse(
            {"pages": extracted.pages, "ocr_pages": extracted.ocr_pages, "kind": extracted.kind}
        )

    return app


def _ocr_languages(settings: AiServiceSettings) -> str | None:
    try:
        return ocr.languages(settings.ocr_languages)
    except ocr.OcrUnavailable:
        return None
