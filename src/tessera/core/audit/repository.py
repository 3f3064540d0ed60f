"""All of the audit log's SQL. Never commits: the request, the job or the sequencer does."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, Table, bindparam, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.audit.models import AuditLog, AuditSigningKey, AuditTreeHead, AuditTreeNode

SEQUENCER_LOCK_KEY = 0x7E55E4B  # arbitrary, constant: "the audit sequencer" (only it takes it)
# What an append writes (`service.audit_values`); the sequencer fills in the rest later.
APPEND_COLUMNS = (
    "id",
    "created_at",
    "actor_type",
    "actor_id",
    "user_id",
    "action",
    "target_type",
    "target_id",
    "details",
    "ip_address",
    "user_agent",
    "request_id",
)


def audit_table() -> Table:
    table = AuditLog.__table__
    assert isinstance(table, Table)
    return table


async def flush_pending(session: AsyncSession) -> None:
    """Flush what the caller added or changed, before a Core statement that may depend on it
    (a Core statement does not autoflush); nothing when the session is clean."""
    if session.new or session.dirty or session.deleted:
        await session.flush()


def append_statement(prefix: str) -> Insert:
    """INSERT of one audit row whose values are bound as `prefix + column` (every column of
    `audit_values`): for a caller that writes the row inside a statement of its own."""
    table = audit_table()
    return insert(table).values({name: bindparam(prefix + name) for name in APPEND_COLUMNS})


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    # --- appending (the request's transaction) -------------------------------------------------

    async def append(self, values: dict[str, Any]) -> None:
        """One Core INSERT of `audit_values(...)`: no unit of work, no read back. Objects the
        caller added but did not flush are flushed first, as the ORM's autoflush would: the
        row may name a user inserted in this transaction (`user_id` is a foreign key)."""
        await flush_pending(self.session)
        await self.session.execute(insert(audit_table()), values)

    # --- the sequencer ---------------------------------------------------------------------------

    async def try_sequencer_lock(self) -> bool:
        """PostgreSQL: the sequencer's own transaction lock, never waited for (a replica that
        does not get it skips its turn). SQLite: the write transaction already excludes."""
        if self.dialect != "postgresql":
            return True
        got = await self.session.scalar(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": SEQUENCER_LOCK_KEY}
        )
        return bool(got)

    async def has_pending(self) -> bool:
        waiting = await self.session.scalar(
            select(AuditLog.id).where(AuditLog.log_index.is_(None)).limit(1)
        )
        if waiting is not None:
            return True
        return await self.tree_size() > await self.latest_head_size()

    async def unsequenced(self, limit: int) -> Sequence[AuditLog]:
        rows = await self.session.scalars(
            select(AuditLog)
            .where(AuditLog.log_index.is_(None))
            .order_by(AuditLog.created_at, AuditLog.id)
            .limit(limit)
        )
        return rows.all()

    async def oldest_unsequenced(self) -> AuditLog | None:
        return await self.session.scalar(
            select(AuditLog)
            .where(AuditLog.log_index.is_(None))
            .order_by(AuditLog.created_at)
            .limit(1)
        )

    async def tree_size(self) -> int:
        last = await self.session.scalar(select(func.max(AuditLog.log_index)))
        return 0 if last is None else int(last) + 1

    async def mark_sequenced(self, marks: Sequence[dict[str, Any]]) -> None:
        """`marks`: {"row_id", "index", "leaf", "at"} per row (one executemany)."""
        if not marks:
            return
        table = audit_table()
        stmt = (
            update(table)
            .where(table.c.id == bindparam("row_id"), table.c.log_index.is_(None))
            .values(
                log_index=bindparam("index"),
                leaf_hash=bindparam("leaf"),
                sequenced_at=bindparam("at"),
            )
        )
        await self.session.execute(stmt, list(marks))

    async def add_nodes(self, nodes: Sequence[tuple[int, int, str]]) -> None:
        if nodes:
            await self.session.execute(
                insert(AuditTreeNode),
                [{"level": level, "idx": idx, "hash": h} for level, idx, h in nodes],
            )

    async def add_head(self, head: AuditTreeHead) -> None:
        self.session.add(head)
        await self.session.flush()

    # --- the tree ----------------------------------------------------------------------------

    async def node(self, level: int, idx: int) -> str | None:
        if level == 0:
            return await self.session.scalar(
                select(AuditLog.leaf_hash).where(AuditLog.log_index == idx)
            )
        return await self.session.scalar(
            select(AuditTreeNode.hash).where(AuditTreeNode.level == level, AuditTreeNode.idx == idx)
        )

    async def nodes_in(self, start: int, end: int, max_level: int) -> dict[tuple[int, int], str]:
        """Stored nodes of levels 1…max_level that lie inside leaves [start, end)."""
        clauses = [
            (AuditTreeNode.level == level)
            & (AuditTreeNode.idx >= start >> level)
            & (AuditTreeNode.idx < end >> level)
            for level in range(1, max_level + 1)
        ]
        rows = await self.session.execute(
            select(AuditTreeNode.level, AuditTreeNode.idx, AuditTreeNode.hash).where(or_(*clauses))
        )
        return {(level, idx): h for level, idx, h in rows}

    async def row_at(self, index: int) -> AuditLog | None:
        return await self.session.scalar(select(AuditLog).where(AuditLog.log_index == index))

    async def sequenced_page(self, after: int, limit: int) -> Sequence[AuditLog]:
        rows = await self.session.scalars(
            select(AuditLog)
            .where(AuditLog.log_index > after)
            .order_by(AuditLog.log_index)
            .limit(limit)
        )
        return rows.all()

    async def count_unsequenced_before(self, cutoff: datetime) -> int:
        total = await self.session.scalar(
            select(func.count())
            .select_from(AuditLog)
            .where(AuditLog.log_index.is_(None), AuditLog.created_at < cutoff)
        )
        return int(total or 0)

    # --- tree heads and keys -------------------------------------------------------------------

    async def latest_head(self) -> AuditTreeHead | None:
        return await self.session.scalar(
            select(AuditTreeHead).order_by(AuditTreeHead.tree_size.desc()).limit(1)
        )

    async def latest_head_size(self) -> int:
        size = await self.session.scalar(select(func.max(AuditTreeHead.tree_size)))
        return int(size or 0)

    async def head_of_size(self, size: int) -> AuditTreeHead | None:
        return await self.session.get(AuditTreeHead, size)

    async def heads(self) -> Sequence[AuditTreeHead]:
        rows = await self.session.scalars(select(AuditTreeHead).order_by(AuditTreeHead.tree_size))
        return rows.all()

    async def signing_key(self) -> AuditSigningKey | None:
        """The newest key that is not retired."""
        return await self.session.scalar(
            select(AuditSigningKey)
            .where(AuditSigningKey.retired_at.is_(None))
            .order_by(AuditSigningKey.created_at.desc())
            .limit(1)
        )

    async def public_keys(self) -> dict[str, str]:
        rows = await self.session.execute(
            select(AuditSigningKey.key_id, AuditSigningKey.public_key)
        )
        return {key_id: public for key_id, public in rows}

    async def add_key(self, key: AuditSigningKey) -> None:
        self.session.add(key)
        await self.session.flush()
