"""The module's refusals, each a status and a stable code."""

from __future__ import annotations

from tessera.core.errors import AppError, BadRequest, NotFound, PayloadTooLarge


class NoInput(BadRequest):
    code = "no_input"
    detail = "Provide a file or text to scan"


class NoText(BadRequest):
    code = "no_text"
    detail = "Could not extract text for analysis"


class FileTooLarge(PayloadTooLarge):
    code = "file_too_large"


class UnsupportedType(AppError):
    status_code = 415
    code = "unsupported_media_type"
    detail = "Only PDF, DOCX, TXT, PNG and JPEG files are accepted (judged by content)"


class ScanNotFound(NotFound):
    code = "scan_not_found"
    detail = "Scan not found"


class DocumentNotFound(NotFound):
    code = "document_not_found"
    detail = "Document not found"


class AiServiceUnavailable(AppError):
    status_code = 503
    code = "ai_service_unavailable"
    detail = "The AI service is unavailable"


class AiServiceTimeout(AppError):
    status_code = 504
    code = "ai_service_timeout"
    detail = "The AI service did not answer in time"


class AiServiceError(AppError):
    status_code = 502
    code = "ai_service_error"
    detail = "The AI service failed"


class ClientGone(AppError):
    """The caller went away; nobody reads this answer (nginx's 499)."""

    status_code = 499
    code = "client_closed_request"
    detail = "The client closed the request"
