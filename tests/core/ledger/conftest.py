"""Fixtures for the ledger's own tests: a database of the test's engine."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tessera.core.db.engine import Database


@pytest.fixture
async def ledger_db(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url, pool_size=20, max_overflow=10)
    yield db
    await db.dispose()
