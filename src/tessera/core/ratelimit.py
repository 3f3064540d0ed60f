"""Rate limits declared per route, shared by replicas through Redis when `REDIS_URL` is set.

Moving-window counters (`limits`): on Redis a Lua script checks and records a hit atomically,
in process the event loop does. If Redis fails, the limiter falls back to in-process counters
rather than letting requests through: an outage never lifts a limit. Redis calls are bounded by
the process's Redis timeouts, and after a failure the `RedisGate` sends hits straight to the
in-process counters for a moment (see `tessera.core.redis_client`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import structlog
from fastapi import Depends, Request
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from tessera.core.errors import TooManyRequests
from tessera.core.metrics import RATE_LIMITED
from tessera.core.redis_client import RedisGate

log = structlog.get_logger("tessera.ratelimit")


class RateLimiter:
    def __init__(
        self,
        redis_url: str | None = None,
        *,
        prefix: str = "tessera",
        options: dict[str, Any] | None = None,
        gate: RedisGate | None = None,
    ) -> None:
        self._fallback = MovingWindowRateLimiter(MemoryStorage())
        self._primary: MovingWindowRateLimiter | None = None
        self.gate = gate or RedisGate()
        if redis_url:
            storage: Storage = RedisStorage(
                "async+" + redis_url,
                implementation="redispy",
                key_prefix=f"{prefix}-rl",
                **(options or {}),
            )
            self._primary = MovingWindowRateLimiter(storage)

    @property
    def backend(self) -> str:
        return "redis" if self._primary else "memory"

    async def hit(self, limit: str | RateLimitItem, *key: str) -> int | None:
        """Record one hit. Returns None when allowed, else the seconds until a retry can pass."""
        item = parse(limit) if isinstance(limit, str) else limit
        limiter = self._primary if self._primary is not None and self.gate.open else self._fallback
        try:
            allowed = await limiter.hit(item, *key)
            stats = None if allowed else await limiter.get_window_stats(item, *key)
        except Exception as exc:  # Redis down: keep limiting, per process
            log.warning("ratelimit_backend_failed", error=type(exc).__name__)
            self.gate.failed("rate_limit", exc)
            limiter = self._fallback
            allowed = await limiter.hit(item, *key)
            stats = None if allowed else await limiter.get_window_stats(item, *key)
        if allowed:
            return None
        assert stats is not None
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def enforce(self, name: str, limit: str, *key: str, detail: str | None = None) -> None:
        retry_after = await self.hit(limit, name, *key)
        if retry_after is not None:
            RATE_LIMITED.labels(limit=name).inc()
            raise TooManyRequests(retry_after, detail or "Too many requests, try again later")

    async def reset(self, limit: str, *key: str) -> None:
        item = parse(limit)
        for limiter in filter(None, (self._primary, self._fallback)):
            try:
                await limiter.clear(item, *key)
            except Exception:  # noqa: S112 - best effort on a failing backend
                continue


def client_ip(request: Request) -> str:
    """The caller's address; behind a proxy uvicorn's --proxy-headers has already set it."""
    return request.client.host if request.client else "unknown"


async def get_rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.runtime.limiter
    return limiter


RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]
KeyFunc = Callable[[Request], Awaitable[str] | str]


def rate_limit(name: str, limit: str, key: KeyFunc = client_ip) -> Callable[..., Awaitable[None]]:
    """A route dependency: `dependencies=[Depends(rate_limit("register", "10/hour"))]`."""
    parse(limit)  # fail at import time on a typo

    async def dependency(request: Request, limiter: RateLimiterDep) -> None:
        value = key(request)
        ident = value if isinstance(value, str) else await value
        await limiter.enforce(name, limit, ident)

    dependency.__name__ = f"rate_limit_{name}"
    return dependency
