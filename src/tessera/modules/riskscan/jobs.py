"""Scheduled work of the risk scans: fail the asynchronous scans whose every attempt died
(and delete their documents), so nothing waits in the queue for ever."""

from __future__ import annotations

from datetime import timedelta

import structlog

from tessera.core.jobs import Job, JobContext
from tessera.modules.riskscan.config import RiskscanSettings
from tessera.modules.riskscan.repository import RiskscanRepository

log = structlog.get_logger("tessera.riskscan.jobs")


async def fail_abandoned(ctx: JobContext) -> None:
    settings = ctx.runtime.settings.module(RiskscanSettings)
    failed = await RiskscanRepository(ctx.session).fail_exhausted(ctx.now, settings.max_attempts)
    if failed:
        log.info("riskscan_abandoned_failed", scans=len(failed))


JOBS = [
    Job(
        "riskscan.fail_abandoned",
        timedelta(minutes=5),
        fail_abandoned,
        "fail asynchronous scans whose every attempt died; delete their documents",
    )
]
