"""The database holds no plaintext license token or signing secret: dump every table and
search. Tokens are stored as SHA-256 only, and a replayed subscribe never shows one."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx2
from sqlalchemy import select
from tests.helpers.identity import register_and_login
from tests.modules.copytrading.conftest import API, become_master, deposit, event, master_bot

from tessera.models import metadata


async def dump(runtime: Any) -> str:
    parts = []
    async with runtime.db.session(write=False) as session:
        for table in metadata.sorted_tables:
            for row in (await session.execute(select(table))).all():
                parts.append(repr(tuple(row)))
    return "\n".join(parts)


async def test_no_plaintext_secret_in_the_database(
    client: httpx2.AsyncClient, runtime: Any, engine: str
) -> None:
    master = await register_and_login(client)
    await become_master(client, master)
    follower = await register_and_login(client)
    await deposit(client, follower, "100.00")
    key = {"Idempotency-Key": "subscribe-once", **follower.headers}
    created = await client.post(f"{API}/subscriptions", json={"master_id": master.id}, headers=key)
    assert created.status_code == 201
    first = created.json()["license_token"]
    replay = await client.post(f"{API}/subscriptions", json={"master_id": master.id}, headers=key)
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["subscription_id"] == created.json()["subscription_id"]
    assert replay.json()["license_token"] is None
    sub_id = created.json()["subscription_id"]
    bot = {"X-License-Token": first}
    await client.post(f"{API}/protection-events", json=event("TTL_EXPIRED"), headers=bot)
    rotated = await client.post(
        f"{API}/subscriptions/{sub_id}/license/rotate", headers=follower.headers
    )
    second = rotated.json()["license_token"]
    mbot = await master_bot(client, master)
    await client.post(f"{API}/signals", json=mbot.signal(1), headers=mbot.headers)

    text = await dump(runtime)
    for secret in (first, second, mbot.token, mbot.secret):
        assert secret not in text
    for token in (first, second, mbot.token):
        assert hashlib.sha256(token.encode()).hexdigest() in text
