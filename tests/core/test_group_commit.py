"""Group commit on both engines: concurrent callers share transactions, every caller gets its
own result only once its batch has committed, a failed batch writes nothing, and one bad item
fails only its own caller."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.db.base import new_uuid
from tessera.core.db.engine import Database, insert_for
from tessera.core.db.group_commit import GroupCommit
from tessera.core.errors import DATABASE_UNAVAILABLE
from tessera.core.jobs.models import JobRun


class Claims:
    """A batch writer that claims `period_key`s of one job: True for a new claim."""

    def __init__(self, db: Database, fail: bool = False) -> None:
        self.db = db
        self.fail = fail
        self.batches: list[int] = []

    async def __call__(self, session: AsyncSession, periods: Sequence[str]) -> list[bool]:
        self.batches.append(len(periods))
        statement = (
            insert_for(self.db.dialect, JobRun)
            .on_conflict_do_nothing(index_elements=["job_name", "period_key"])
            .returning(JobRun.period_key)
        )
        rows = [
            {"id": new_uuid(), "job_name": "gc", "period_key": p, "claimed_by": "test"}
            for p in sorted(set(periods))
        ]
        claimed = set((await session.execute(statement, rows)).scalars())
        if self.fail:
            raise RuntimeError("the batch fails after writing")
        seen: set[str] = set()
        results = []
        for period in periods:
            results.append(period in claimed and period not in seen)
            seen.add(period)
        return results


async def rows(db: Database) -> int:
    async with db.session(write=False) as session:
        return int(await session.scalar(select(func.count()).select_from(JobRun)) or 0)


@pytest.fixture
async def db(database_url: str) -> Database:
    database = Database(database_url)
    yield database  # type: ignore[misc]
    await database.dispose()


async def test_concurrent_callers_share_transactions_and_each_gets_its_own_answer(
    db: Database,
) -> None:
    writer = Claims(db)
    commit: GroupCommit[str, bool] = GroupCommit(db, writer)
    # 100 callers, 50 periods each asked twice: exactly one caller per period wins.
    periods = [f"p{i % 50}" for i in range(100)]
    answers = await asyncio.gather(*(commit.submit(p) for p in periods))
    assert answers.count(True) == 50
    assert {p for p, won in zip(periods, answers, strict=True) if won} == set(periods)
    assert await rows(db) == 50
    assert sum(writer.batches) == 100
    assert len(writer.batches) < 100  # they were written together, not one by one


async def test_a_lone_caller_is_written_at_once(db: Database) -> None:
    writer = Claims(db)
    commit: GroupCommit[str, bool] = GroupCommit(db, writer)
    assert await asyncio.wait_for(commit.submit("alone"), 10) is True
    assert writer.batches == [1]
    assert await commit.submit("alone") is False  # and it was committed


async def test_a_failed_batch_fails_every_caller_and_writes_nothing(db: Database) -> None:
    commit: GroupCommit[str, bool] = GroupCommit(db, Claims(db, fail=True))
    results = await asyncio.gather(
        *(commit.submit(f"f{i}") for i in range(20)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    assert await rows(db) == 0
    # The queue keeps working after a failure.
    healthy: GroupCommit[str, bool] = GroupCommit(db, Claims(db))
    assert await healthy.submit("after") is True


async def test_a_caller_that_gives_up_does_not_stop_the_write(db: Database) -> None:
    commit: GroupCommit[str, bool] = GroupCommit(db, Claims(db))
    first = asyncio.ensure_future(commit.submit("given-up"))
    others = [asyncio.ensure_future(commit.submit(f"o{i}")) for i in range(5)]
    await asyncio.sleep(0)
    first.cancel()
    assert all(await asyncio.gather(*others))
    assert await rows(db) == 6  # the cancelled caller's item was written with its batch


async def test_one_bad_item_fails_only_its_own_caller(db: Database) -> None:
    """A poisoned item (here one the database refuses: a NULL key) is found by writing the
    failed batch again item by item; every honest neighbour gets its own answer."""
    writer = Claims(db)
    commit: GroupCommit[str | None, bool] = GroupCommit(db, writer)  # type: ignore[arg-type]
    items: list[str | None] = [None if i % 7 == 3 else f"h{i}" for i in range(40)]
    results = await asyncio.gather(*(commit.submit(item) for item in items), return_exceptions=True)
    for item, result in zip(items, results, strict=True):
        if item is None:
            assert isinstance(result, sa_exc.IntegrityError), result
        else:
            assert result is True, (item, result)
    assert await rows(db) == sum(1 for item in items if item is not None)
    assert max(writer.batches) > 1  # they did share a batch before it was split


class CountingDatabase(Database):
    """A real database that counts the transactions asked of it."""

    transactions = 0

    def session(self, *, write: bool = True) -> Any:
        self.transactions += 1
        return super().session(write=write)


async def test_an_unreachable_database_fails_the_batch_without_retrying_each_item() -> None:
    db = CountingDatabase("postgresql+asyncpg://postgres@127.0.0.1:1/none")  # nothing listens
    commit: GroupCommit[str, bool] = GroupCommit(db, Claims(db))
    try:
        results = await asyncio.gather(
            *(commit.submit(f"u{i}") for i in range(10)), return_exceptions=True
        )
    finally:
        await db.dispose()
    assert all(isinstance(r, DATABASE_UNAVAILABLE) for r in results), results
    assert db.transactions < 10  # batches failed whole: no transaction per item
