"""Scheduled clean-up: sessions long expired or revoked, and stale reset tokens."""

from __future__ import annotations

from datetime import timedelta

import structlog

from tessera.core.identity.repository import IdentityRepository
from tessera.core.jobs import Job, JobContext

log = structlog.get_logger("tessera.identity.jobs")

# Revoked sessions stay listed for a while: an admin investigating reuse can still see them.
KEEP_REVOKED = timedelta(days=7)
KEEP_EXPIRED = timedelta(days=1)


async def purge_expired_sessions(ctx: JobContext) -> None:
    repo = IdentityRepository(ctx.session)
    sessions = await repo.purge_sessions(
        expired_before=ctx.now - KEEP_EXPIRED, revoked_before=ctx.now - KEEP_REVOKED
    )
    tokens = await repo.purge_reset_tokens(expired_before=ctx.now - KEEP_EXPIRED)
    log.info("identity_purged", sessions=sessions, reset_tokens=tokens)


PURGE_EXPIRED_SESSIONS = Job(
    name="identity.purge_expired_sessions",
    period=timedelta(hours=1),
    run=purge_expired_sessions,
    description="Delete sessions expired for a day or revoked for a week, and old reset tokens",
)
