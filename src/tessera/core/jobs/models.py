from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tessera.core.db.base import Base, UUIDPrimaryKey, utcnow


class JobRun(UUIDPrimaryKey, Base):
    """A claimed period: the unique (job, period) row is the claim itself."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job_name", "period_key"),)

    job_name: Mapped[str] = mapped_column(String(100))
    period_key: Mapped[str] = mapped_column(String(64))
    claimed_by: Mapped[str] = mapped_column(String(200))
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
