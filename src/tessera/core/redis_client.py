"""The Redis client of a process: bounded waits, and a short back-off once Redis has failed.

Redis only ever makes an answer cheaper or shares a counter; the database is the truth. So a
Redis that is gone, or worse one that accepts connections and never answers, must cost a
request at most one short timeout: connect and command timeouts (`TESSERA_REDIS_*_TIMEOUT`),
no retries, and a `RedisGate` that, after a failure, has callers take their fallback at once
for `TESSERA_REDIS_RETRY_AFTER_SECONDS` instead of each waiting for its own timeout. The
fallbacks: session and API-key checks read the database, rate limits count in the process
(never unlimited), revocations refuse with 503 (a tombstone that cannot be written must not
be pretended).
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tessera.core.config import Settings

log = structlog.get_logger("tessera.redis")


def redis_options(settings: Settings) -> dict[str, Any]:
    """Client options for every Redis connection of the process (ours and the limiter's)."""
    return {
        "socket_connect_timeout": settings.redis_connect_timeout_seconds,
        "socket_timeout": settings.redis_timeout_seconds,
        # redis-py retries timeouts three times by default: four timeouts per call.
        "retry": Retry(NoBackoff(), 0),
    }


def build_redis(settings: Settings) -> Redis | None:
    if not settings.redis_url:
        return None
    return Redis.from_url(settings.redis_url, **redis_options(settings))


class RedisGate:
    """Open while Redis works; closed for `retry_after` seconds after a failure."""

    def __init__(self, retry_after: float = 2.0) -> None:
        self.retry_after = retry_after
        self._closed_until = 0.0

    @property
    def open(self) -> bool:
        return time.monotonic() >= self._closed_until

    def failed(self, what: str, error: BaseException) -> None:
        if self.open:  # one line per outage period, not one per request
            log.warning(
                "redis_unavailable",
                during=what,
                error=type(error).__name__,
                retry_after_seconds=self.retry_after,
            )
        self._closed_until = time.monotonic() + self.retry_after
