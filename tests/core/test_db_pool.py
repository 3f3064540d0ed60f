"""Pooled PostgreSQL connections: one cut while idle is replaced before anyone sees it; one
cut moments after use costs one failed transaction, and the pool then starts afresh."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tessera.core.db import engine as engine_module
from tessera.core.db.engine import Database
from tests.conftest import pg_admin

pytestmark = pytest.mark.parametrize("engine", ["postgresql"], indirect=True)


async def backend_pid(db: Database) -> int:
    async with db.session(write=False) as session:
        return int(await session.scalar(text("SELECT pg_backend_pid()")) or 0)


async def cut(pid: int) -> None:
    await asyncio.to_thread(pg_admin, f"SELECT pg_terminate_backend({pid})")
    await asyncio.sleep(0.2)


async def test_a_connection_cut_while_idle_is_replaced_unseen(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "IDLE_PING_SECONDS", 0.0)  # every checkout is "idle"
    db = Database(database_url, pool_size=1, max_overflow=0)
    try:
        first = await backend_pid(db)
        await cut(first)
        second = await backend_pid(db)  # no error: the ping failed, the pool reconnected
        assert second not in (0, first)
    finally:
        await db.dispose()


async def test_a_connection_cut_right_after_use_fails_once(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "IDLE_PING_SECONDS", 3600.0)  # never pinged
    db = Database(database_url, pool_size=1, max_overflow=0)
    try:
        first = await backend_pid(db)
        await cut(first)
        with pytest.raises(DBAPIError):
            await backend_pid(db)
        assert await backend_pid(db) not in (0, first)  # and the pool starts afresh
    finally:
        await db.dispose()
