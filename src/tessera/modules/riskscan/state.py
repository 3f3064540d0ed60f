"""The module's long-lived objects: the AI service client, the per-user in-flight counter
and the runner of asynchronous scans."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

import structlog
from redis.asyncio import Redis

from tessera.core.errors import TooManyRequests
from tessera.modules.riskscan.client import AiClient
from tessera.modules.riskscan.config import RiskscanSettings

log = structlog.get_logger("tessera.riskscan")

IN_FLIGHT_RETRY_AFTER = 2


class InFlight:
    """How many scans each user has running, shared by replicas through Redis when there is
    one. A key expires a little after the longest possible scan, so a crashed replica's
    slots free themselves. If Redis fails, counting goes on per process."""

    def __init__(self, redis: Redis | None, prefix: str, cap: int, ttl_seconds: int) -> None:
        self.redis, self.prefix, self.cap, self.ttl = redis, prefix, cap, ttl_seconds
        self._local: Counter[str] = Counter()

    def _key(self, user_id: str) -> str:
        return f"{self.prefix}:riskscan:inflight:{user_id}"

    async def _acquire(self, user_id: str) -> str | None:
        """ "redis" or "local" (where the slot was counted), None when the cap is reached."""
        if self.redis is not None:
            try:
                key = self._key(user_id)
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.incr(key)
                    pipe.expire(key, self.ttl)
                    count, _ = await pipe.execute()
                if int(count) <= self.cap:
                    return "redis"
                await self.redis.decr(key)
                return None
            except Exception as exc:  # Redis down: keep the cap, per process
                log.warning("riskscan_inflight_redis_failed", error=type(exc).__name__)
        if self._local[user_id] >= self.cap:
            return None
        self._local[user_id] += 1
        return "local"

    async def _release(self, user_id: str, where: str) -> None:
        if where == "local":
            self._local[user_id] -= 1
            if self._local[user_id] <= 0:
                del self._local[user_id]
        elif self.redis is not None:
            with contextlib.suppress(Exception):
                await self.redis.decr(self._key(user_id))

    @contextlib.asynccontextmanager
    async def slot(self, user_id: str) -> AsyncIterator[None]:
        where = await self._acquire(user_id)
        if where is None:
            raise TooManyRequests(
                IN_FLIGHT_RETRY_AFTER,
                f"At most {self.cap} scans may run at once; wait for one to finish",
            )
        try:
            yield
        finally:
            await asyncio.shield(self._release(user_id, where))


class Waker(Protocol):
    def wake(self) -> None: ...


@dataclass
class RiskscanState:
    settings: RiskscanSettings
    client: AiClient
    in_flight: InFlight
    runner: Waker | None = None  # the ScanRunner (runner.py), when this process runs one
