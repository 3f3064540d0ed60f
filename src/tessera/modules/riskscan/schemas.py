"""Bodies of the scan endpoints: the seed's shapes (`data` and, for the seed implementation's
web client, the same list as `risks`), with spans, severity and confidence on every risk."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from tessera.modules.riskscan.models import Scan


class SpanOut(BaseModel):
    page: int
    start: int
    end: int
    quote: str


class RiskOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    risk: str
    category: str
    context: str
    severity: Literal["low", "medium", "high"]
    confidence: float | None
    spans: list[SpanOut]
    grounded: bool


class ProgressOut(BaseModel):
    done: int
    total: int


def _categories(data: list[dict[str, Any]]) -> list[str]:
    return sorted({str(item["category"]) for item in data})


class ScanOut(BaseModel):
    """One scan as `GET /api/scans/{id}` shows it (and the 201 of `POST /api/scan`)."""

    scan_id: str
    user_id: str
    filename: str | None
    data: list[RiskOut]
    risks: list[RiskOut]
    risk_count: int
    categories: list[str]
    source: str | None
    status: str
    partial: bool
    progress: ProgressOut
    error: str | None
    pipeline_version: str | None
    reused: bool = False
    created_at: datetime
    timestamp: datetime

    @classmethod
    def of(cls, scan: Scan, *, reused: bool = False) -> ScanOut:
        risks = [RiskOut.model_validate(item) for item in scan.data]
        return cls(
            scan_id=scan.id,
            user_id=scan.user_id,
            filename=scan.filename,
            data=risks,
            risks=risks,
            risk_count=len(risks),
            categories=_categories(scan.data),
            source=scan.source,
            status=scan.status,
            partial=scan.partial,
            progress=ProgressOut(done=scan.progress_done, total=scan.progress_total),
            error=scan.error,
            pipeline_version=scan.pipeline_version,
            reused=reused,
            created_at=scan.created_at,
            timestamp=scan.completed_at or scan.created_at,
        )


class ScanSummaryOut(BaseModel):
    scan_id: str
    filename: str | None
    risk_count: int
    source: str | None
    status: str
    created_at: datetime

    @classmethod
    def of(cls, scan: Scan) -> ScanSummaryOut:
        return cls(
            scan_id=scan.id,
            filename=scan.filename,
            risk_count=len(scan.data),
            source=scan.source,
            status=scan.status,
            created_at=scan.created_at,
        )


class ScanListOut(BaseModel):
    scans: list[ScanSummaryOut]
    total: int


class QueuedOut(BaseModel):
    scan_id: str
    status: str


class DeletedOut(BaseModel):
    message: str


class DocumentOut(BaseModel):
    """The seed implementation's document view of a scan."""

    id: str
    filename: str
    original_filename: str | None
    file_type: str
    file_size: int | None
    source: str
    created_at: datetime

    @classmethod
    def of(cls, scan: Scan) -> DocumentOut:
        return cls(
            id=scan.id,
            filename=scan.filename or "Text Scan",
            original_filename=scan.filename,
            file_type=scan.file_type,
            file_size=scan.file_size,
            source=scan.input_source,
            created_at=scan.created_at,
        )


class DocumentDetailOut(DocumentOut):
    analysis: ScanOut

    @classmethod
    def detail(cls, scan: Scan) -> DocumentDetailOut:
        return cls(**DocumentOut.of(scan).model_dump(), analysis=ScanOut.of(scan))


class DocumentListOut(BaseModel):
    total: int
    skip: int
    limit: int
    documents: list[DocumentOut]
