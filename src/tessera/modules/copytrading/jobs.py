"""Scheduled work of copy-trading (each period runs once across replicas)."""

from __future__ import annotations

from datetime import timedelta

import structlog

from tessera.core.jobs import Job, JobContext
from tessera.modules.copytrading.bot import mark_silent, recover_trust
from tessera.modules.copytrading.fees import FeeService
from tessera.modules.copytrading.repository import CopytradingRepository
from tessera.modules.copytrading.state import state_of

log = structlog.get_logger("tessera.copytrading.jobs")


async def trust_recovery(ctx: JobContext) -> None:
    moved = await recover_trust(ctx.session, ctx.now)
    log.info("copytrading_trust_recovered", subscriptions=moved)


async def charge_fees(ctx: JobContext) -> None:
    """Charge every subscription whose paid period has ended; lock those that cannot pay and
    unlock those whose wallet can pay again (e.g. after a deposit)."""
    settings = state_of(ctx.runtime).settings
    fees = FeeService(ctx.session, settings)
    outcomes: dict[str, int] = {}
    for sub_id in await CopytradingRepository(ctx.session).due_for_fee(ctx.now):
        outcome = await fees.charge_due(sub_id, ctx.now)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    log.info("copytrading_fees", **outcomes)


async def heartbeat_watch(ctx: JobContext) -> None:
    settings = state_of(ctx.runtime).settings
    moved = await mark_silent(
        ctx.session, ctx.now, timedelta(seconds=settings.heartbeat_timeout_seconds)
    )
    if moved:
        log.info("copytrading_bots_silent", subscriptions=moved)


async def purge_events(ctx: JobContext) -> None:
    """Retention: protection events (90 days), archived signals (365), stream entries (24 h)."""
    state = state_of(ctx.runtime)
    repo = CopytradingRepository(ctx.session)
    events = await repo.purge_events(ctx.now - timedelta(days=state.settings.event_retention_days))
    trimmed = await state.relay.trim(
        ctx.session, ctx.now - timedelta(hours=state.settings.stream_retention_hours)
    )
    signals = await repo.purge_signals(
        ctx.now - timedelta(days=state.settings.signal_retention_days)
    )
    log.info("copytrading_retention", events=events, signals=signals, stream_entries=trimmed)


JOBS = [
    Job(
        "copytrading.trust_recovery",
        timedelta(hours=1),
        trust_recovery,
        "+10 trust per incident-free 24 h; lift PAUSED_TOXIC at 50",
    ),
    Job(
        "copytrading.charge_fees",
        timedelta(minutes=1),
        charge_fees,
        "charge due monthly fees; lock unpaid, unlock funded subscriptions",
    ),
    Job(
        "copytrading.heartbeat_watch",
        timedelta(minutes=1),
        heartbeat_watch,
        "mark bots without a recent heartbeat DEGRADED_GAP",
    ),
    Job(
        "copytrading.purge_events",
        timedelta(hours=6),
        purge_events,
        "retention of protection events, archived signals and stream entries",
    ),
]
