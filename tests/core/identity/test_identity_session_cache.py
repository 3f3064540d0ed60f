"""The Redis session cache: a revocation cannot be undone by a late reader or a refresh,
and an unreachable Redis fails closed for revocations and open (to the database) for reads."""

from __future__ import annotations

import uuid

import pytest
from redis.asyncio import Redis

from tessera.core.errors import ServiceUnavailable
from tessera.core.identity.session_cache import REVOKED, RedisSessionCache, alive
from tests.conftest import REDIS_URL, require_redis
from tests.helpers.server import free_port


async def test_a_tombstone_outlasts_late_writers() -> None:
    require_redis()
    redis = Redis.from_url(REDIS_URL)
    cache = RedisSessionCache(redis, f"t{uuid.uuid4().hex[:8]}", tombstone_ttl=60)
    try:
        await cache.remember("s1", "u1", "jti-1", 300)
        assert await cache.get("s1") == alive("u1", "jti-1")
        await cache.set_current("s1", "u1", "jti-2", 300)  # a refresh moves the current token
        assert await cache.get("s1") == alive("u1", "jti-2")
        await cache.revoke(["s1"])
        # A reader that saw the session alive just before, and a refresh racing the
        # revocation, both arrive late: neither may resurrect the session.
        await cache.remember("s1", "u1", "jti-2", 300)
        await cache.set_current("s1", "u1", "jti-3", 300)
        assert await cache.get("s1") == REVOKED
        ttl = await redis.ttl(cache.prefix + "s1")
        assert 0 < ttl <= 60
    finally:
        await redis.aclose()


async def test_unreachable_redis_fails_closed_for_revocation() -> None:
    redis = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    cache = RedisSessionCache(redis, "down", tombstone_ttl=60)
    try:
        assert await cache.get("s1") is None  # the caller asks the database instead
        await cache.remember("s1", "u1", "jti", 60)  # best effort, no error
        with pytest.raises(ServiceUnavailable):
            await cache.revoke(["s1"])
    finally:
        await redis.aclose()
