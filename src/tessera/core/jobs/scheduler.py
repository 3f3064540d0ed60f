"""Periodic jobs claimed per period by a unique `(job_name, period_key)` row in `job_runs`.

The claim and the job's database effects share one transaction: if the job fails, the claim
rolls back with its effects and the next tick (on this replica or another) retries. Losers of a
race block on the unique index until the winner commits, then see the conflict and skip.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.db.base import new_uuid
from tessera.core.db.engine import Database, insert_for
from tessera.core.jobs.models import JobRun
from tessera.core.metrics import JOB_DURATION, JOB_RUNS

log = structlog.get_logger("tessera.jobs")


@dataclass(frozen=True)
class JobContext:
    session: AsyncSession
    period_key: str
    period_start: datetime
    now: datetime
    runtime: Any  # the app's Runtime (settings, db, redis …); typed loosely to keep core.jobs small


@dataclass(frozen=True)
class Job:
    name: str
    period: timedelta
    run: Callable[[JobContext], Awaitable[None]]
    description: str = ""


def period_start(now: datetime, period: timedelta) -> datetime:
    seconds = int(period.total_seconds())
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


def period_key(now: datetime, period: timedelta) -> str:
    """The period's start in UTC: derived from the period, not the tick, so skew cannot split it."""
    return period_start(now, period).strftime("%Y-%m-%dT%H:%M:%SZ")


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Scheduler:
    def __init__(
        self,
        db: Database,
        jobs: Sequence[Job],
        runtime: Any,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        worker_name: str | None = None,
    ) -> None:
        self.db = db
        self.jobs = {job.name: job for job in jobs}
        self.runtime = runtime
        self.clock = clock
        self.worker_name = worker_name or _worker_name()

    async def run_job(self, job: Job, *, key: str | None = None) -> bool:
        """Claim and run one period of `job`. True if this call ran it, False if already done."""
        now = self.clock()
        key = key or period_key(now, job.period)
        started = time.perf_counter()
        try:
            async with self.db.session(write=True) as session:
                stmt = (
                    insert_for(self.db.dialect, JobRun)
                    .values(
                        id=new_uuid(),
                        job_name=job.name,
                        period_key=key,
                        claimed_by=self.worker_name,
                        claimed_at=now,
                    )
                    .on_conflict_do_nothing(index_elements=["job_name", "period_key"])
                    .returning(JobRun.id)
                )
                claimed = (await session.execute(stmt)).scalar_one_or_none()
                if claimed is None:
                    return False
                context = JobContext(
                    session=session,
                    period_key=key,
                    period_start=period_start(now, job.period),
                    now=now,
                    runtime=self.runtime,
                )
                await job.run(context)
        except Exception:
            JOB_RUNS.labels(job=job.name, outcome="failed").inc()
            log.exception("job_failed", job=job.name, period=key)
            return False
        JOB_RUNS.labels(job=job.name, outcome="succeeded").inc()
        JOB_DURATION.labels(job=job.name).observe(time.perf_counter() - started)
        log.info(
            "job_ran", job=job.name, period=key, seconds=round(time.perf_counter() - started, 3)
        )
        return True

    async def tick(self) -> list[str]:
        """Run every job whose current period is unclaimed; returns the names that ran."""
        ran = []
        for job in self.jobs.values():
            if await self.run_job(job):
                ran.append(job.name)
        return ran

    async def run_forever(self, tick_seconds: float) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # a broken database must not kill the loop
                log.exception("scheduler_tick_failed")
            await asyncio.sleep(tick_seconds)
