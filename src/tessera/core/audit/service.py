"""Writing and searching the audit log.

`record` appends one row in the caller's transaction and does nothing else: no lock, no read
of another audit row, so audited writes of unrelated requests never wait for each other. The
row commits or rolls back with the action. Its place in the log comes later, from the
sequencer (`sequencer.py`), which gives every committed row a log index and a Merkle leaf and
signs tree heads; `tessera audit verify` (`verify.py`) checks all of it. See `docs/audit.md`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.audit.models import AuditLog
from tessera.core.audit.repository import APPEND_COLUMNS, AuditRepository
from tessera.core.context import current_request
from tessera.core.db.base import new_uuid, utcnow

# A leaf hashes exactly the columns an append writes: the row as its transaction wrote it.
LEAF_FIELDS = APPEND_COLUMNS


def leaf_data(row: AuditLog) -> bytes:
    """The bytes a Merkle leaf hashes: the row's content as compact JSON with sorted keys
    (`created_at` as ISO 8601 with microseconds). The log index is not part of it: a leaf's
    place is fixed by the tree itself."""
    canonical = {name: getattr(row, name) for name in LEAF_FIELDS}
    canonical["created_at"] = row.created_at.isoformat(timespec="microseconds")
    return orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)


def audit_values(
    action: str,
    *,
    actor_type: str = "user",
    actor_id: str | None = None,
    user_id: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One audit row's columns, stamped with the current request (ip, user agent, request
    id). `user_id` defaults to the actor for users. Every column the append writes is here,
    so the row can be inserted by one Core statement (`AuditRepository.append`), or by a
    caller that writes it in the same round trip as its own rows (the ledger does)."""
    meta = current_request()
    return {
        "id": new_uuid(),
        "created_at": utcnow(),
        "actor_type": actor_type,
        "actor_id": actor_id,
        "user_id": user_id if user_id is not None else (actor_id if actor_type == "user" else None),
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "details": details or {},
        "ip_address": meta.ip_address,
        "user_agent": meta.user_agent,
        "request_id": meta.request_id,
    }


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
    """Append one row in the caller's transaction. `user_id` defaults to the actor for users.
    Returns the row as written (not attached to the session)."""
    values = audit_values(
        action,
        actor_type=actor_type,
        actor_id=actor_id,
        user_id=user_id,
        target_type=target_type,
        target_id=target_id,
        details=details,
    )
    await AuditRepository(session).append(values)
    return AuditLog(**values)


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
            stmt.order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return rows.all(), int(total or 0)
