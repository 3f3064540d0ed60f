"""One "replica" for the scheduler test: claims a fixed period and prints whether it ran."""

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from tessera.core.db.engine import Database
from tessera.core.jobs import Job, JobContext, Scheduler


async def main(url: str, barrier_file: str) -> None:
    db = Database(url)

    async def effect(ctx: JobContext) -> None:
        await asyncio.sleep(0.5)  # hold the claim while the other replica tries
        await ctx.session.execute(
            text("UPDATE job_runs SET claimed_by = claimed_by || :suffix WHERE period_key = :k"),
            {"k": ctx.period_key, "suffix": ":done"},
        )

    job = Job("test.claim", timedelta(hours=1), effect)
    fixed = datetime(2026, 1, 1, 12, 30, tzinfo=UTC)
    scheduler = Scheduler(db, [job], runtime=None, clock=lambda: fixed)
    while not os.path.exists(barrier_file):  # start together
        await asyncio.sleep(0.01)
    ran = await scheduler.run_job(job)
    print("RAN" if ran else "SKIPPED", flush=True)
    await db.dispose()


asyncio.run(main(sys.argv[1], sys.argv[2]))
