"""Scheduled work of the family module.

- `family.daily_rewards` runs every 15 minutes (time zones are offset by quarter hours) and
  settles, for every family, the local days that are over (at `reward_hour` the next day, in
  the family's zone) and not settled yet: midnight in Auckland and in Los Angeles are
  different instants, each paid once. The scheduler's claim makes each run happen once across
  replicas; the unique (contract, day) row makes each day paid once across runs.
- `family.task_windows` runs daily and generates recurring tasks' instances up to the window.
"""

from __future__ import annotations

from datetime import timedelta

import structlog

from tessera.core.jobs import Job, JobContext
from tessera.modules.family.config import FamilySettings
from tessera.modules.family.rewards import settle_due_days
from tessera.modules.family.tasks import extend_windows

log = structlog.get_logger("tessera.family.jobs")

REWARD_PERIOD = timedelta(minutes=15)
WINDOW_PERIOD = timedelta(days=1)


async def daily_rewards(ctx: JobContext) -> None:
    settings = ctx.runtime.settings.module(FamilySettings)
    tally = await settle_due_days(ctx.session, settings, ctx.now)
    if tally.processed or tally.skipped:
        log.info(
            "family_rewards_settled",
            paid=tally.processed,
            skipped=tally.skipped,
            credited_cents=tally.credited_cents,
        )


async def task_windows(ctx: JobContext) -> None:
    settings = ctx.runtime.settings.module(FamilySettings)
    extended = await extend_windows(ctx.session, settings, ctx.now)
    if extended:
        log.info("family_task_windows_extended", series=extended)


JOBS = [
    Job(
        "family.daily_rewards",
        REWARD_PERIOD,
        daily_rewards,
        "pay each contract's daily reward for the families' finished local days",
    ),
    Job(
        "family.task_windows",
        WINDOW_PERIOD,
        task_windows,
        "generate recurring tasks' instances up to the rolling window",
    ),
]
