"""API keys are cached in Redis, and a revocation still takes effect on the very next request on
every replica; without Redis every request reads the key's row."""

from __future__ import annotations

import uuid

import pytest
from redis.asyncio import Redis

from tessera.core.errors import ServiceUnavailable
from tessera.core.identity.api_key_cache import ApiKeyIdentity, RedisApiKeyCache
from tessera.core.identity.secret_tokens import sha256_hex
from tests.conftest import REDIS_URL, require_redis
from tests.core.identity.conftest import AppFactory
from tests.helpers.identity import make_admin, make_api_key
from tests.helpers.server import free_port

GARBAGE = {"token": "AAAA", "validator_id": "gate-1"}  # well-formed request, invalid ticket


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)  # SQLite: one process
@pytest.mark.parametrize("shared_redis", [True, False], ids=["redis", "no-redis"])
async def test_api_key_revocation_reaches_every_replica(
    app_with: AppFactory, shared_redis: bool
) -> None:
    overrides = {"redis_prefix": f"replica-{uuid.uuid4().hex[:8]}"}
    if not shared_redis:
        overrides["redis_url"] = None
    async with app_with(**overrides) as (app_a, a), app_with(**overrides) as (_, b):
        validator = await make_api_key(app_a.state.runtime, "validator")
        for replica in (a, b):  # both know the key now (and cache it, with Redis)
            answer = await replica.post("/v1/redeem", json=GARBAGE, headers=validator)
            assert answer.status_code == 200 and answer.json()["reason"] == "invalid"
        admin = await make_admin(a, app_a.state.runtime)
        keys = (await a.get("/admin/api-keys", headers=admin.headers)).json()["items"]
        key_id = next(k["id"] for k in keys if k["role"] == "validator")
        assert (await a.delete(f"/admin/api-keys/{key_id}", headers=admin.headers)).is_success
        for replica in (b, a):
            refused = await replica.post("/v1/redeem", json=GARBAGE, headers=validator)
            assert refused.status_code == 401
            assert refused.json()["error"] == "invalid_api_key"


async def test_a_tombstone_outlasts_a_late_reader() -> None:
    require_redis()
    redis = Redis.from_url(REDIS_URL)
    cache = RedisApiKeyCache(redis, f"t{uuid.uuid4().hex[:8]}", tombstone_ttl=60)
    key_hash = sha256_hex("tsk_example")
    key = ApiKeyIdentity(id="k1", name="gate", role="validator")
    try:
        await cache.remember(key_hash, key)
        assert await cache.get(key_hash) == key
        await cache.revoke(key_hash)
        # A reader that found the key live just before the revocation arrives late.
        await cache.remember(key_hash, key)
        assert await cache.get(key_hash) == "revoked"
        assert await redis.exists(cache.entries.prefix + key_hash)
        assert not await redis.exists(cache.entries.prefix + "tsk_example")  # hashes only
    finally:
        await redis.aclose()


async def test_unreachable_redis_refuses_the_revocation() -> None:
    redis = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    cache = RedisApiKeyCache(redis, "down", tombstone_ttl=60)
    try:
        assert await cache.get("h") is None  # the caller reads the database instead
        with pytest.raises(ServiceUnavailable):
            await cache.revoke("h")
    finally:
        await redis.aclose()
