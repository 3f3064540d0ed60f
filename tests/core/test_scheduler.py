import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tessera.core.db.engine import Database
from tessera.core.jobs import Job, JobContext, Scheduler, period_key
from tessera.core.jobs.models import JobRun

NOON = datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)


def test_period_key_comes_from_the_period_not_the_tick() -> None:
    hour = timedelta(hours=1)
    assert period_key(NOON, hour) == period_key(NOON + timedelta(minutes=59), hour)
    assert period_key(NOON, hour) != period_key(NOON + timedelta(hours=1), hour)
    assert period_key(NOON, timedelta(days=1)) == "2026-03-01T00:00:00Z"


async def count_runs(db: Database, name: str) -> int:
    async with db.session(write=False) as session:
        return int(await session.scalar(select(func.count()).where(JobRun.job_name == name)) or 0)


async def test_concurrent_claimers_in_one_process_run_a_period_once(database_url: str) -> None:
    db = Database(database_url)
    calls: list[str] = []

    async def job_body(ctx: JobContext) -> None:
        calls.append(ctx.period_key)
        await asyncio.sleep(0.05)

    job = Job("test.once", timedelta(hours=1), job_body)
    replicas = [
        Scheduler(db, [job], None, clock=lambda: NOON, worker_name=f"r{i}") for i in range(5)
    ]
    results = await asyncio.gather(*(replica.run_job(job) for replica in replicas))
    assert sorted(results) == [False, False, False, False, True]
    assert calls == [period_key(NOON, timedelta(hours=1))]
    assert await count_runs(db, "test.once") == 1
    await db.dispose()


async def test_a_failing_job_releases_its_period_and_runs_again(database_url: str) -> None:
    db = Database(database_url)
    attempts = 0

    async def flaky(ctx: JobContext) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RuntimeError("upstream down")

    job = Job("test.flaky", timedelta(hours=1), flaky)
    scheduler = Scheduler(db, [job], None, clock=lambda: NOON)
    assert await scheduler.run_job(job) is False  # failed: logged, not raised
    assert await count_runs(db, "test.flaky") == 0  # the claim rolled back with the job
    assert await scheduler.run_job(job) is True
    assert await scheduler.run_job(job) is False  # done for this period
    assert attempts == 2
    await db.dispose()


@pytest.mark.pg
@pytest.mark.parametrize("engine", ["postgresql"])  # the multi-replica deployment story
async def test_two_processes_claim_a_period_exactly_once(database_url: str, tmp_path: Path) -> None:
    barrier = tmp_path / "go"
    worker = Path(__file__).with_name("_claim_worker.py")
    procs = [
        subprocess.Popen(
            [sys.executable, str(worker), database_url, str(barrier)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    await asyncio.sleep(1.0)  # both processes are up and waiting
    barrier.touch()
    outputs = [proc.communicate(timeout=60) for proc in procs]
    verdicts = sorted(out.strip().splitlines()[-1] for out, _ in outputs)
    assert verdicts == ["RAN", "SKIPPED"], outputs
    db = Database(database_url)
    async with db.session(write=False) as session:
        rows = list(await session.scalars(select(JobRun).where(JobRun.job_name == "test.claim")))
    await db.dispose()
    assert len(rows) == 1 and rows[0].claimed_by.endswith(":done")
