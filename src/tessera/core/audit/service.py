"""Writing and verifying the audit chain.

Each row carries the hash of the previous row, so editing or deleting any row breaks every
link after it. Appends are serialised so the chain never forks: on PostgreSQL by a
transaction-scoped advisory lock (held from the append to the commit, so callers append last),
on SQLite by the write transaction itself (`BEGIN IMMEDIATE`). A trigger refuses UPDATE and
DELETE on both engines.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.audit.models import AuditLog
from tessera.core.context import current_request
from tessera.core.db.base import new_uuid, utcnow

GENESIS_HASH = "0" * 64
AUDIT_LOCK_KEY = 0x7E55E4A  # arbitrary, constant: "the audit chain"


async def lock_chain(session: AsyncSession) -> None:
    """Take the chain's append lock now, until commit (PostgreSQL; SQLite's write transaction
    already excludes other writers). A transaction that will append an audit row *and* lock
    other rows takes this first, so every such transaction locks in the same order."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY})


def row_digest(row: AuditLog) -> str:
    canonical = {
        "seq": row.seq,
        "id": row.id,
        "created_at": row.created_at.isoformat(timespec="microseconds"),
        "actor_type": row.actor_type,
        "actor_id": row.actor_id,
        "user_id": row.user_id,
        "action": row.action,
        "target_type": row.target_type,
        "target_id": row.target_id,
        "details": row.details,
        "ip_address": row.ip_address,
        "user_agent": row.user_agent,
        "request_id": row.request_id,
    }
    payload = row.prev_hash.encode() + orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(payload).hexdigest()


async def record(
    session: AsyncSession,
    action: str,
    *,
    actor_type: str = "user",
    actor_id: str | None = None,
    user_id: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditLog:
    """Append one row in the caller's transaction. `user_id` defaults to the actor for users."""
    await lock_chain(session)
    last = (
        await session.execute(
            select(AuditLog.seq, AuditLog.row_hash).order_by(AuditLog.seq.desc()).limit(1)
        )
    ).first()
    meta = current_request()
    row = AuditLog(
        id=new_uuid(),
        seq=(last.seq + 1) if last else 1,
        created_at=utcnow(),
        actor_type=actor_type,
        actor_id=actor_id,
        user_id=user_id if user_id is not None else (actor_id if actor_type == "user" else None),
        action=action,
        target_type=target_type,
        target_id=target_id,
        details=details or {},
        ip_address=meta.ip_address,
        user_agent=meta.user_agent,
        request_id=meta.request_id,
        prev_hash=last.row_hash if last else GENESIS_HASH,
    )
    row.row_hash = row_digest(row)
    session.add(row)
    await session.flush()
    return row


@dataclass(frozen=True)
class BrokenLink:
    seq: int
    id: str
    reason: str


class AuditTrail:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def search(
        self,
        *,
        user_id: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> tuple[Sequence[AuditLog], int]:
        """Newest first. `user_id` matches the account concerned or the actor; an `action`
        ending in `*` is a prefix (`auth.*`)."""
        stmt = select(AuditLog)
        if user_id:
            stmt = stmt.where(or_(AuditLog.user_id == user_id, AuditLog.actor_id == user_id))
        if action:
            stmt = (
                stmt.where(AuditLog.action.startswith(action.removesuffix("*"), autoescape=True))
                if action.endswith("*")
                else stmt.where(AuditLog.action == action)
            )
        if since:
            stmt = stmt.where(AuditLog.created_at >= since)
        if until:
            stmt = stmt.where(AuditLog.created_at < until)
        total = await self.session.scalar(select(func.count()).select_from(stmt.subquery()))
        rows = await self.session.scalars(
            stmt.order_by(AuditLog.seq.desc()).limit(limit).offset(offset)
        )
        return rows.all(), int(total or 0)

    async def _rows(self, batch: int = 1000) -> AsyncIterator[AuditLog]:
        after = 0
        while True:
            rows = list(
                await self.session.scalars(
                    select(AuditLog).where(AuditLog.seq > after).order_by(AuditLog.seq).limit(batch)
                )
            )
            if not rows:
                return
            for row in rows:
                yield row
            after = rows[-1].seq
            self.session.expunge_all()

    async def verify(self) -> tuple[int, BrokenLink | None]:
        """(rows checked, first broken link or None)."""
        expected_prev, expected_seq, checked = GENESIS_HASH, 1, 0
        async for row in self._rows():
            checked += 1
            if row.seq != expected_seq:
                return checked, BrokenLink(row.seq, row.id, f"row {expected_seq} is missing")
            if row.prev_hash != expected_prev:
                return checked, BrokenLink(row.seq, row.id, "previous-hash link does not match")
            if row_digest(row) != row.row_hash:
                return checked, BrokenLink(row.seq, row.id, "row content does not match its hash")
            expected_prev, expected_seq = row.row_hash, row.seq + 1
        return checked, None
