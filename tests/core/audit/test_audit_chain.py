import asyncio

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from tessera.core.audit import AuditTrail, record
from tessera.core.audit.models import AuditLog
from tessera.core.context import RequestMeta, set_current_request
from tessera.core.db.engine import Database
from tests.helpers.cli import database_env, run_tessera


async def write_rows(db: Database, count: int) -> None:
    for i in range(count):
        async with db.session() as session:
            await record(session, "test.action", actor_type="system", details={"i": i})


async def test_rows_chain_and_carry_the_request(database_url: str) -> None:
    db = Database(database_url)
    set_current_request(
        RequestMeta(request_id="req-1", ip_address="198.51.100.4", user_agent="ua/1")
    )
    await write_rows(db, 3)
    async with db.session(write=False) as session:
        rows = list(await session.scalars(select(AuditLog).order_by(AuditLog.seq)))
        checked, broken = await AuditTrail(session).verify()
    assert [row.seq for row in rows] == [1, 2, 3]
    assert rows[1].prev_hash == rows[0].row_hash and rows[2].prev_hash == rows[1].row_hash
    assert (rows[0].ip_address, rows[0].user_agent, rows[0].request_id) == (
        "198.51.100.4",
        "ua/1",
        "req-1",
    )
    assert (checked, broken) == (3, None)
    await db.dispose()


async def test_concurrent_appends_never_fork_the_chain(database_url: str) -> None:
    db = Database(database_url)
    await asyncio.gather(*(write_rows(db, 5) for _ in range(8)))
    async with db.session(write=False) as session:
        checked, broken = await AuditTrail(session).verify()
    assert (checked, broken) == (40, None)
    await db.dispose()


async def test_update_and_delete_are_refused(database_url: str) -> None:
    db = Database(database_url)
    await write_rows(db, 1)
    for statement in ("UPDATE audit_logs SET action = 'x'", "DELETE FROM audit_logs"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.session() as session:
                await session.execute(text(statement))
    await db.dispose()


async def disable_guard(db: Database) -> None:
    """What an attacker with raw database access would do first."""
    async with db.session() as session:
        if db.dialect == "postgresql":
            await session.execute(
                text("ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_append_only")
            )
        else:
            await session.execute(text("DROP TRIGGER audit_logs_no_update"))


async def test_verify_names_the_first_edited_row(database_url: str) -> None:
    db = Database(database_url)
    await write_rows(db, 5)
    intact = await run_tessera("audit", "verify", env=database_env(database_url))
    assert intact.returncode == 0 and "intact: 5 rows" in intact.stdout
    await disable_guard(db)
    async with db.session() as session:
        await session.execute(text("UPDATE audit_logs SET details = '{\"i\": 99}' WHERE seq = 3"))
        edited_id = await session.scalar(select(AuditLog.id).where(AuditLog.seq == 3))
    result = await run_tessera("audit", "verify", env=database_env(database_url))
    assert result.returncode == 1
    assert f"seq=3 id={edited_id}" in result.stderr
    await db.dispose()
