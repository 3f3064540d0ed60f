"""Tables of the risk scans. Scans belong to a user and go with them (ON DELETE CASCADE).

- `riskscan_scans`: one scan: what was sent (file name, type, size, a SHA-256 of the bytes or
  of the normalised text for reuse — never the text itself), the risks found (`data`, with
  their quotes), where they came from (`source`), and for asynchronous scans the queue state
  (status, progress, lease, attempts).
- `riskscan_uploads`: the document of a queued scan until it has been analysed; deleted then,
  and with its scan.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tessera.core.db.base import Base, JSONType, TimestampMixin, UUIDPrimaryKey


class Scan(UUIDPrimaryKey, TimestampMixin, Base):
    __tablename__ = "riskscan_scans"
    __table_args__ = (
        Index("ix_riskscan_scans_user_created", "user_id", "created_at"),
        Index("ix_riskscan_scans_user_hash", "user_id", "content_hash"),
        Index("ix_riskscan_scans_queue", "status", "lease_until"),
    )

    user_id: Mapped[str] = mapped_column(String(36), ForeignKey("users.id", ondelete="CASCADE"))
    filename: Mapped[str | None] = mapped_column(String(255))
    file_type: Mapped[str] = mapped_column(String(16))  # pdf docx txt png jpeg text
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    input_source: Mapped[str] = mapped_column(String(16))  # file_picker | text_input
    content_hash: Mapped[str] = mapped_column(String(64))
    force_llm: Mapped[bool] = mapped_column(Boolean, default=False)
    mode: Mapped[str] = mapped_column(String(8))  # sync | async
    status: Mapped[str] = mapped_column(String(16))  # queued extracting analysing done failed
    partial: Mapped[bool] = mapped_column(Boolean, default=False)
    data: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    source: Mapped[str | None] = mapped_column(String(16))
    pipeline_version: Mapped[str | None] = mapped_column(String(64))
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]


class Upload(Base):
    __tablename__ = "riskscan_uploads"

    scan_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("riskscan_scans.id", ondelete="CASCADE"), primary_key=True
    )
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    text: Mapped[str | None] = mapped_column(Text)
