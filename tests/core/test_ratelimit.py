import asyncio
from pathlib import Path

import httpx2
import pytest
from asgi_lifespan import LifespanManager
from fastapi import Depends

from tessera.app import create_app
from tessera.core.ratelimit import RateLimiter, rate_limit
from tests.conftest import REDIS_URL, make_settings, require_redis


async def test_exactly_n_of_100_concurrent_requests_pass(
    engine: str, database_url: str, tmp_path: Path
) -> None:
    """On SQLite the in-process limiter, on PostgreSQL the Redis one shared by replicas."""
    app = create_app(make_settings(database_url, tmp_path))

    @app.post("/limited", dependencies=[Depends(rate_limit("probe", "7/minute"))])
    async def limited() -> dict[str, bool]:
        await asyncio.sleep(0.01)
        return {"ok": True}

    async with LifespanManager(app) as manager:
        assert app.state.runtime.limiter.backend == (
            "redis" if engine == "postgresql" else "memory"
        )
        transport = httpx2.ASGITransport(app=manager.app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://t") as http:
            responses = await asyncio.gather(*(http.post("/limited") for _ in range(100)))
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 7
    assert statuses.count(429) == 93
    refused = next(r for r in responses if r.status_code == 429)
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json()["error"] == "rate_limited"


async def test_two_replicas_share_one_redis_limit() -> None:
    require_redis()
    prefix = f"shared-{id(object())}"
    replicas = [RateLimiter(REDIS_URL, prefix=prefix) for _ in range(2)]
    results = await asyncio.gather(
        *(replicas[i % 2].hit("5/minute", "shared", "k") for i in range(40))
    )
    assert sum(result is None for result in results) == 5


async def test_redis_outage_does_not_lift_the_limit() -> None:
    limiter = RateLimiter("redis://127.0.0.1:1/0", prefix="down")  # nothing listens there
    results = [await limiter.hit("3/minute", "login", "alice") for _ in range(6)]
    assert [r is None for r in results] == [True, True, True, False, False, False]


@pytest.mark.parametrize("limit", ["3/minute", "1/second"])
async def test_retry_after_is_the_time_until_a_slot_frees(limit: str) -> None:
    limiter = RateLimiter()
    count = int(limit.split("/")[0])
    for _ in range(count):
        assert await limiter.hit(limit, "k") is None
    retry = await limiter.hit(limit, "k")
    window = 60 if limit.endswith("minute") else 1
    assert retry is not None and 1 <= retry <= window
