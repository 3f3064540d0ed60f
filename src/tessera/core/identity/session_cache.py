"""Is session `sid` still alive, and which access token is its newest? Asked on every request.

With Redis this is a `TombstoneCache` (see `tombstones`): ending a session writes a tombstone
before the ending transaction commits, so the very next request on any replica is refused.
Without Redis there is no cache: each check reads the session row by primary key, because no
process-local cache can hear about a revocation made by another process (a second replica,
the worker, the CLI).
Values: `a:<user id>:<jti>` (alive: the session's user and its newest access token) or `x`
(revoked). The entry names the user so that a token pairing one user's `sub` with another
user's live `sid` never matches it: such a token goes to the database, which refuses it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from redis.asyncio import Redis

from tessera.core.identity.tombstones import REVOKED, TombstoneCache
from tessera.core.redis_client import RedisGate

__all__ = ["REVOKED", "NoSessionCache", "RedisSessionCache", "SessionCache", "alive"]


def alive(user_id: str, jti: str) -> str:
    return f"a:{user_id}:{jti}"


class SessionCache(Protocol):
    async def get(self, sid: str) -> str | None: ...
    async def remember(self, sid: str, user_id: str, jti: str, ttl: int) -> None: ...
    async def set_current(self, sid: str, user_id: str, jti: str, ttl: int) -> None: ...
    async def revoke(self, sids: Iterable[str]) -> None: ...


class NoSessionCache:
    """No Redis: every check reads the session row (a primary-key lookup). A cache inside
    one process would be unsafe even on SQLite: `tessera identity end-sessions`, a worker or
    a second server process revoke from outside it, and it could not hear about it."""

    async def get(self, sid: str) -> str | None:
        return None

    async def remember(self, sid: str, user_id: str, jti: str, ttl: int) -> None:
        return None

    async def set_current(self, sid: str, user_id: str, jti: str, ttl: int) -> None:
        return None

    async def revoke(self, sids: Iterable[str]) -> None:
        return None


class RedisSessionCache:
    """Every replica: Redis. A read that fails falls back to the database (returns None)."""

    def __init__(
        self, redis: Redis, prefix: str, tombstone_ttl: int, gate: RedisGate | None = None
    ) -> None:
        self.entries = TombstoneCache(
            redis,
            f"{prefix}:identity:sid:",
            tombstone_ttl,
            revoke_failed="Sessions could not be ended right now; try again",
            gate=gate,
        )
        self.prefix = self.entries.prefix

    async def get(self, sid: str) -> str | None:
        return await self.entries.get(sid)

    async def remember(self, sid: str, user_id: str, jti: str, ttl: int) -> None:
        await self.entries.remember(sid, alive(user_id, jti), ttl)

    async def set_current(self, sid: str, user_id: str, jti: str, ttl: int) -> None:
        # Stale `a:<user>:<old jti>` is safe: a mismatch is re-checked against the database.
        await self.entries.replace(sid, alive(user_id, jti), ttl)

    async def revoke(self, sids: Iterable[str]) -> None:
        await self.entries.revoke(sids)
