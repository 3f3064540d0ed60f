"""Scheduled work of the token issuer."""

from __future__ import annotations

from datetime import timedelta

import structlog

from tessera.core.jobs import Job, JobContext
from tessera.modules.tokens.filters import rebuild_snapshot
from tessera.modules.tokens.repository import TokensRepository
from tessera.modules.tokens.state import TokensState

log = structlog.get_logger("tessera.tokens.jobs")

BLOOM_REBUILD_PERIOD = timedelta(minutes=10)


async def bloom_rebuild(ctx: JobContext) -> None:
    """Retire expired keys' slots, forget spends no sync can still conflict with, and
    rebuild the Bloom filter at a size fit for the current number of spends."""
    tokens = ctx.runtime.get(TokensState)
    repo = TokensRepository(ctx.session)
    released = await repo.release_expired_slots(ctx.now)
    pruned = await repo.prune_spent_of_keys_expired_before(
        ctx.now - tokens.config.offline_sync_grace
    )
    version = await rebuild_snapshot(ctx.session, tokens.config, now=ctx.now)
    if released:
        tokens.keyring.invalidate()
    log.info("tokens_maintenance", released_slots=released, pruned_spends=pruned, bloom=version)


JOBS = [
    Job(
        "tokens.bloom_rebuild",
        BLOOM_REBUILD_PERIOD,
        bloom_rebuild,
        "rebuild the spent-token Bloom filter; retire expired keys",
    )
]
