"""All SQL of the risk scans: a user's scans, reuse by content hash, and the queue of
asynchronous scans (claim with a lease, progress and finish guarded by the claim)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.modules.riskscan.models import Scan, Upload

RUNNING = ("extracting", "analysing")
FINISHED = ("done", "failed", "partial")


class RiskscanRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_scan(self, **fields: Any) -> Scan:
        scan = Scan(**fields)
        self.session.add(scan)
        await self.session.flush()
        return scan

    async def add_upload(self, scan_id: str, content: bytes | None, text: str | None) -> None:
        self.session.add(Upload(scan_id=scan_id, content=content, text=text))
        await self.session.flush()

    async def upload_of(self, scan_id: str) -> Upload | None:
        return await self.session.get(Upload, scan_id)

    async def delete_upload(self, scan_id: str) -> None:
        await self.session.execute(delete(Upload).where(Upload.scan_id == scan_id))

    async def scan(self, scan_id: str) -> Scan | None:
        return await self.session.get(Scan, scan_id, populate_existing=True)

    async def scan_of_user(self, scan_id: str, user_id: str) -> Scan | None:
        return (
            await self.session.scalars(
                select(Scan).where(Scan.id == scan_id, Scan.user_id == user_id)
            )
        ).one_or_none()

    async def scans_of_user(self, user_id: str, limit: int, offset: int) -> tuple[list[Scan], int]:
        rows = await self.session.scalars(
            select(Scan)
            .where(Scan.user_id == user_id)
            .order_by(Scan.created_at.desc(), Scan.id.desc())
            .limit(limit)
            .offset(offset)
        )
        total = await self.session.scalar(
            select(func.count()).select_from(Scan).where(Scan.user_id == user_id)
        )
        return list(rows), int(total or 0)

    async def delete_scan_of_user(self, scan_id: str, user_id: str) -> bool:
        # The upload row goes by ON DELETE CASCADE; deleted explicitly too, in case a
        # database runs without enforced foreign keys.
        owned = await self.scan_of_user(scan_id, user_id)
        if owned is None:
            return False
        await self.delete_upload(scan_id)
        await self.session.execute(delete(Scan).where(Scan.id == scan_id))
        return True

    async def reusable(self, user_id: str, content_hash: str, pipeline: str | None) -> Scan | None:
        """The newest complete scan of the same content by the same user."""
        query = select(Scan).where(
            Scan.user_id == user_id,
            Scan.content_hash == content_hash,
            Scan.status == "done",
            Scan.partial.is_(False),
        )
        if pipeline is not None:
            query = query.where(Scan.pipeline_version == pipeline)
        rows = await self.session.scalars(query.order_by(Scan.created_at.desc()).limit(1))
        return rows.first()

    # --- the queue ------------------------------------------------------------------------

    @staticmethod
    def _claimable(now: datetime, max_attempts: int) -> Any:
        return and_(
            Scan.mode == "async",
            Scan.attempts < max_attempts,
            or_(
                # queued; after a transient failure lease_until holds the retry time
                and_(
                    Scan.status == "queued",
                    or_(Scan.lease_until.is_(None), Scan.lease_until < now),
                ),
                and_(Scan.status.in_(RUNNING), Scan.lease_until < now),  # its runner died
            ),
        )

    async def has_claimable(self, now: datetime, max_attempts: int) -> bool:
        found = await self.session.scalar(
            select(Scan.id).where(self._claimable(now, max_attempts)).limit(1)
        )
        return found is not None

    async def claim_next(
        self, worker: str, now: datetime, lease_until: datetime, max_attempts: int
    ) -> str | None:
        """Take the oldest queued scan (or one whose worker died). The UPDATE re-checks the
        condition, so of two workers racing for one scan exactly one wins."""
        claimable = self._claimable(now, max_attempts)
        candidate = await self.session.scalar(
            select(Scan.id).where(claimable).order_by(Scan.created_at).limit(1)
        )
        if candidate is None:
            return None
        result = await self.session.execute(
            update(Scan)
            .where(Scan.id == candidate, claimable)
            .values(
                status="extracting",
                claimed_by=worker,
                lease_until=lease_until,
                attempts=Scan.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        return candidate if getattr(result, "rowcount", 0) == 1 else None

    async def update_claimed(self, scan_id: str, worker: str, **fields: Any) -> bool:
        """Write to a scan only while this worker still holds it."""
        result = await self.session.execute(
            update(Scan)
            .where(Scan.id == scan_id, Scan.claimed_by == worker, Scan.status.in_(RUNNING))
            .values(**fields)
            .execution_options(synchronize_session=False)
        )
        return getattr(result, "rowcount", 0) == 1

    async def fail_exhausted(self, now: datetime, max_attempts: int) -> list[str]:
        """Scans whose last allowed attempt died: failed, their documents deleted."""
        stuck = list(
            await self.session.scalars(
                select(Scan.id).where(
                    Scan.mode == "async",
                    Scan.attempts >= max_attempts,
                    Scan.status.in_(RUNNING),
                    Scan.lease_until < now,
                )
            )
        )
        if stuck:
            await self.session.execute(
                update(Scan)
                .where(Scan.id.in_(stuck))
                .values(status="failed", error="The scan failed repeatedly", completed_at=now)
                .execution_options(synchronize_session=False)
            )
            await self.session.execute(delete(Upload).where(Upload.scan_id.in_(stuck)))
        return stuck
