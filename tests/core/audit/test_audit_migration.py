"""Upgrading a database whose audit log is the old hash chain: the chain is checked once and
its rows become the first leaves of the Merkle log, in chain order; a broken chain stops the
upgrade and names the row. And `tessera bootstrap` creates the tree-head key once."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from tessera.core.config import Settings
from tessera.core.db.base import JSONType, UTCDateTime
from tessera.core.db.engine import Database
from tessera.core.db.migrate import alembic_config, downgrade, upgrade
from tests.conftest import settings_env
from tests.helpers.audit import sequence_and_verify
from tests.helpers.cli import run_tessera

from .test_audit_log import rows_by_index

# The revision just before the Merkle log, wherever the history places it.
BEFORE_MERKLE = str(
    ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite:///unused.db"))
    .get_revision("0010_audit_merkle")
    .down_revision
)
CHAIN_FIELDS = [
    "seq",
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
]


def chained_rows(count: int) -> list[dict[str, object]]:
    """Rows as the old `audit.record` wrote them: each hashes the previous one."""
    rows, prev = [], "0" * 64
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for seq in range(1, count + 1):
        created_at = start + timedelta(seconds=seq)
        row: dict[str, object] = {
            "seq": seq,
            "id": f"00000000-0000-4000-8000-{seq:012d}",
            "created_at": created_at,
            "actor_type": "system",
            "actor_id": None,
            "user_id": None,
            "action": "legacy.action",
            "target_type": None,
            "target_id": None,
            "details": {"n": seq},
            "ip_address": None,
            "user_agent": None,
            "request_id": None,
        }
        canonical = {name: row[name] for name in CHAIN_FIELDS}
        canonical["created_at"] = created_at.isoformat(timespec="microseconds")
        digest = hashlib.sha256(
            prev.encode() + orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)
        ).hexdigest()
        row |= {"prev_hash": prev, "row_hash": digest}
        rows.append(row)
        prev = digest
    return rows


async def insert_legacy(database_url: str, rows: list[dict[str, object]]) -> None:
    engine = create_async_engine(database_url)
    table = sa.table(
        "audit_logs",
        *(sa.column(n) for n in CHAIN_FIELDS if n not in ("created_at", "details")),
        sa.column("created_at", UTCDateTime()),
        sa.column("details", JSONType),
        sa.column("prev_hash"),
        sa.column("row_hash"),
    )
    async with engine.begin() as conn:
        await conn.execute(sa.insert(table), rows)
    await engine.dispose()


async def test_the_old_chain_is_checked_once_and_becomes_the_first_leaves(
    database_url: str,
) -> None:
    await asyncio.to_thread(downgrade, database_url, BEFORE_MERKLE)
    legacy = chained_rows(5)
    await insert_legacy(database_url, legacy)
    await asyncio.to_thread(upgrade, database_url)
    db = Database(database_url)
    rows = await rows_by_index(db)
    assert [(row.log_index, row.seq) for row in rows] == [(i, i + 1) for i in range(5)]
    report = await sequence_and_verify(db)  # signs the first tree head over the old rows
    assert (report.ok, report.rows, report.tree_heads) == (True, 5, 1)
    await db.dispose()


async def test_a_broken_chain_stops_the_upgrade_and_names_the_row(database_url: str) -> None:
    await asyncio.to_thread(downgrade, database_url, BEFORE_MERKLE)
    legacy = chained_rows(4)
    legacy[2]["details"] = {"n": 999}  # edited after it was chained
    await insert_legacy(database_url, legacy)
    with pytest.raises(RuntimeError, match=f"seq=3 id={legacy[2]['id']}"):
        await asyncio.to_thread(upgrade, database_url)


async def test_bootstrap_creates_the_tree_head_key_once(settings: Settings) -> None:
    env = settings_env(settings)
    first = await run_tessera("bootstrap", env=env)
    assert first.returncode == 0, first.stderr
    assert "audit: created tree-head signing key" in first.stdout
    again = await run_tessera("bootstrap", env=env)
    assert "audit: has tree-head signing key" in again.stdout
