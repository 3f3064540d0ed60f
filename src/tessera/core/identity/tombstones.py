"""A Redis cache whose entries a revocation replaces with tombstones: the mechanism behind the
session cache and the API-key cache.

The database is the truth; the cache, shared by every replica, the worker and the CLI through
Redis, only makes the answer cheaper. Revocation never waits for a TTL: it writes a tombstone
(`x`) *before* the revoking transaction commits, and readers that fill the cache from the
database use SET-if-absent, so a reader that saw an entry alive just before the revocation
cannot put it back. Live entries expire after ALIVE_TTL_SECONDS (that bounds memory, not
correctness). If a tombstone cannot be written the revocation fails rather than pretending
(fail closed); a read that fails returns None, and the caller asks the database (fail open to
the truth, never to a stale answer). While the process's `RedisGate` is closed (Redis failed
moments ago), reads and fills skip Redis at once; revocations still try it.
"""

from __future__ import annotations

from collections.abc import Iterable

import structlog
from redis.asyncio import Redis

from tessera.core.errors import ServiceUnavailable
from tessera.core.redis_client import RedisGate

log = structlog.get_logger("tessera.identity.cache")

REVOKED = "x"
ALIVE_TTL_SECONDS = 600

# Overwrite unless revoked: a refresh never resurrects a tombstone.
_SET_UNLESS_REVOKED = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""


class TombstoneCache:
    def __init__(
        self,
        redis: Redis,
        prefix: str,
        tombstone_ttl: int,
        *,
        revoke_failed: str,
        gate: RedisGate | None = None,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.tombstone_ttl = tombstone_ttl
        self.revoke_failed = revoke_failed  # the 503's detail when a tombstone cannot be written
        self.gate = gate or RedisGate()
        self._set_unless_revoked = redis.register_script(_SET_UNLESS_REVOKED)

    async def get(self, name: str) -> str | None:
        if not self.gate.open:
            return None
        try:
            value = await self.redis.get(self.prefix + name)
        except Exception as exc:  # Redis down: the caller asks the database
            self.gate.failed("cache_read", exc)
            return None
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def remember(self, name: str, value: str, ttl: int = ALIVE_TTL_SECONDS) -> None:
        """Cache what the database just said, unless anything (a tombstone) is there already."""
        if not self.gate.open:
            return
        try:
            await self.redis.set(self.prefix + name, value, ex=_alive_ttl(ttl), nx=True)
        except Exception as exc:
            self.gate.failed("cache_write", exc)

    async def replace(self, name: str, value: str, ttl: int = ALIVE_TTL_SECONDS) -> None:
        """Overwrite a live entry (best effort); a tombstone stays."""
        if not self.gate.open:
            return
        try:
            await self._set_unless_revoked(
                keys=[self.prefix + name], args=[REVOKED, value, _alive_ttl(ttl)]
            )
        except Exception as exc:
            self.gate.failed("cache_write", exc)

    async def revoke(self, names: Iterable[str]) -> None:
        keys = [self.prefix + name for name in names]
        if not keys:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.set(key, REVOKED, ex=self.tombstone_ttl)
                await pipe.execute()
        except Exception as exc:
            self.gate.failed("cache_revocation", exc)
            log.error("cache_revocation_failed", cache=self.prefix, error=type(exc).__name__)
            raise ServiceUnavailable(self.revoke_failed, code="revocation_store_down") from exc


def _alive_ttl(ttl: int) -> int:
    return max(1, min(ttl, ALIVE_TTL_SECONDS))
