"""Which live API key has this hash? Asked on every request a kiosk or validator makes.

With Redis this is a `TombstoneCache` (see `tombstones`) keyed by the key's SHA-256 (never the
key): revoking writes a tombstone before the revoking transaction commits, so the next request
with that key fails on every replica. Without Redis there is no cache and each request reads
the key's row, for the same reason as sessions: no process-local cache could hear about a
revocation made by another process. Unknown keys are never cached.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Literal, Protocol

from redis.asyncio import Redis

from tessera.core.identity.tombstones import REVOKED, TombstoneCache
from tessera.core.redis_client import RedisGate

Revoked = Literal["revoked"]


@dataclass(frozen=True)
class ApiKeyIdentity:
    id: str
    name: str
    role: str


class ApiKeyCache(Protocol):
    async def get(self, key_hash: str) -> ApiKeyIdentity | Revoked | None: ...
    async def remember(self, key_hash: str, key: ApiKeyIdentity) -> None: ...
    async def revoke(self, key_hash: str) -> None: ...


class NoApiKeyCache:
    async def get(self, key_hash: str) -> ApiKeyIdentity | Revoked | None:
        return None

    async def remember(self, key_hash: str, key: ApiKeyIdentity) -> None:
        return None

    async def revoke(self, key_hash: str) -> None:
        return None


class RedisApiKeyCache:
    def __init__(
        self, redis: Redis, prefix: str, tombstone_ttl: int, gate: RedisGate | None = None
    ) -> None:
        self.entries = TombstoneCache(
            redis,
            f"{prefix}:identity:api_key:",
            tombstone_ttl,
            revoke_failed="The API key could not be revoked right now; try again",
            gate=gate,
        )

    async def get(self, key_hash: str) -> ApiKeyIdentity | Revoked | None:
        value = await self.entries.get(key_hash)
        if value is None:
            return None
        if value == REVOKED:
            return "revoked"
        try:
            return ApiKeyIdentity(**json.loads(value))
        except (ValueError, TypeError):  # not ours (an older format): ask the database
            return None

    async def remember(self, key_hash: str, key: ApiKeyIdentity) -> None:
        await self.entries.remember(key_hash, json.dumps(asdict(key)))

    async def revoke(self, key_hash: str) -> None:
        await self.entries.revoke([key_hash])
