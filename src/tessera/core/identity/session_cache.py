"""Is session `sid` still alive, and which access token is its newest? Asked on every request.

The database is the truth; this cache, shared by every replica through Redis when `REDIS_URL`
is set, makes the answer cheaper. Without Redis there is no cache: each check reads the
session row by primary key, because no process-local cache can hear about a revocation made
by another process (a second replica, the worker, the CLI).

Revocation never waits for a TTL: revoking writes a tombstone (`x`) *before* the revoking
transaction commits, and the readers that fill the cache from the database use SET-if-absent,
so a reader that saw the session alive just before the revocation cannot put it back. The
tombstone outlives every access token of the session (access TTL + leeway). If the tombstone
cannot be written the revocation fails rather than pretending (fail closed).
Values: `a:<jti>` (alive, newest access token `jti`) or `x` (revoked).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import structlog
from redis.asyncio import Redis

from tessera.core.errors import ServiceUnavailable

log = structlog.get_logger("tessera.identity.cache")

REVOKED = "x"
ALIVE_TTL_SECONDS = 600  # bounds memory, not correctness: revocation writes a tombstone

# Overwrite unless the session is already revoked: a refresh never resurrects a tombstone.
_SET_UNLESS_REVOKED = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""


def alive(jti: str) -> str:
    return f"a:{jti}"


class SessionCache(Protocol):
    async def get(self, sid: str) -> str | None: ...
    async def remember(self, sid: str, jti: str, ttl: int) -> None: ...
    async def set_current(self, sid: str, jti: str, ttl: int) -> None: ...
    async def revoke(self, sids: Iterable[str]) -> None: ...


class NoSessionCache:
    """No Redis: every check reads the session row (a primary-key lookup). A cache inside
    one process would be unsafe even on SQLite: `tessera identity end-sessions`, a worker or
    a second server process revoke from outside it, and it could not hear about it."""

    async def get(self, sid: str) -> str | None:
        return None

    async def remember(self, sid: str, jti: str, ttl: int) -> None:
        return None

    async def set_current(self, sid: str, jti: str, ttl: int) -> None:
        return None

    async def revoke(self, sids: Iterable[str]) -> None:
        return None


class RedisSessionCache:
    """Every replica: Redis. A read that fails falls back to the database (returns None)."""

    def __init__(self, redis: Redis, prefix: str, tombstone_ttl: int) -> None:
        self.redis = redis
        self.prefix = f"{prefix}:identity:sid:"
        self.tombstone_ttl = tombstone_ttl
        self._set_unless_revoked = redis.register_script(_SET_UNLESS_REVOKED)

    async def get(self, sid: str) -> str | None:
        try:
            value = await self.redis.get(self.prefix + sid)
        except Exception as exc:  # Redis down: the caller asks the database
            log.warning("session_cache_read_failed", error=type(exc).__name__)
            return None
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def remember(self, sid: str, jti: str, ttl: int) -> None:
        try:
            await self.redis.set(
                self.prefix + sid, alive(jti), ex=max(1, min(ttl, ALIVE_TTL_SECONDS)), nx=True
            )
        except Exception as exc:
            log.warning("session_cache_write_failed", error=type(exc).__name__)

    async def set_current(self, sid: str, jti: str, ttl: int) -> None:
        try:
            await self._set_unless_revoked(
                keys=[self.prefix + sid],
                args=[REVOKED, alive(jti), max(1, min(ttl, ALIVE_TTL_SECONDS))],
            )
        except Exception as exc:
            # Stale `a:<old jti>` is safe: a mismatch is re-checked against the database.
            log.warning("session_cache_write_failed", error=type(exc).__name__)

    async def revoke(self, sids: Iterable[str]) -> None:
        keys = [self.prefix + sid for sid in sids]
        if not keys:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.set(key, REVOKED, ex=self.tombstone_ttl)
                await pipe.execute()
        except Exception as exc:
            log.error("session_revocation_cache_failed", error=type(exc).__name__)
            raise ServiceUnavailable(
                "Sessions could not be ended right now; try again", code="session_store_down"
            ) from exc
