"""Races over real HTTP against a real server process on PostgreSQL: parallel requests with
a start barrier (`asyncio.gather`) and exact counts, never a 5xx."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select
from tests.helpers.identity import register_and_login
from tests.modules.copytrading.conftest import API, balance, become_master, deposit, event

from tessera.core.audit.models import AuditLog
from tessera.core.config import Settings
from tessera.core.db.engine import Database
from tessera.core.ledger.models import LedgerTransaction
from tessera.modules.copytrading.models import ProtectionEvent, Subscription

pytestmark = pytest.mark.parametrize("engine", ["postgresql"], indirect=True)

LIMITS = httpx2.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=1.0)


async def count(database_url: str, stmt: Any) -> int:
    db = Database(database_url)
    try:
        async with db.session(write=False) as session:
            return int(await session.scalar(stmt) or 0)
    finally:
        await db.dispose()


async def test_concurrent_subscribes(
    live_server: str, database_url: str, settings: Settings
) -> None:
    async with httpx2.AsyncClient(base_url=live_server, limits=LIMITS, timeout=60) as http:
        master = await register_and_login(http)
        await become_master(http, master, fee="25.00")
        follower = await register_and_login(http)
        await deposit(http, follower, "100.00")
        keyed = {"Idempotency-Key": "one-subscribe", **follower.headers}
        body = {"master_id": master.id}
        responses = await asyncio.gather(
            *(http.post(f"{API}/subscriptions", json=body, headers=keyed) for _ in range(20))
        )
        codes = Counter(r.status_code for r in responses)
        assert set(codes) <= {201, 409} and codes[201] >= 1, codes
        created = [r.json() for r in responses if r.status_code == 201]
        assert len({c["subscription_id"] for c in created}) == 1
        assert sum(1 for c in created if c["license_token"]) == 1  # shown exactly once
        # Without a key the pair's unique active subscription decides: all refused.
        unkeyed = await asyncio.gather(
            *(
                http.post(f"{API}/subscriptions", json=body, headers=follower.headers)
                for _ in range(10)
            )
        )
        assert Counter(r.status_code for r in unkeyed) == {400: 10}
        assert await balance(http, follower) == Decimal("75.00")
    assert (
        await count(
            database_url,
            select(func.count())
            .select_from(Subscription)
            .where(Subscription.subscriber_id == follower.id),
        )
        == 1
    )
    assert (
        await count(
            database_url,
            select(func.count())
            .select_from(LedgerTransaction)
            .where(LedgerTransaction.kind == "FEE_SUBSCRIPTION"),
        )
        == 1
    )
    log = (settings.data_dir / "live_server.log").read_text()
    for c in created:
        if c["license_token"]:
            assert c["license_token"] not in log


async def test_concurrent_events_lose_no_penalty(live_server: str, database_url: str) -> None:
    async with httpx2.AsyncClient(base_url=live_server, limits=LIMITS, timeout=60) as http:
        master = await register_and_login(http)
        await become_master(http, master, fee="0")
        follower = await register_and_login(http)
        created = await http.post(
            f"{API}/subscriptions", json={"master_id": master.id}, headers=follower.headers
        )
        sub_id, token = created.json()["subscription_id"], created.json()["license_token"]
        bot = {"X-License-Token": token}
        responses = await asyncio.gather(
            *(
                http.post(
                    f"{API}/protection-events", json=event("PRICE_DEVIATION", seq), headers=bot
                )
                for seq in range(50)
            )
        )
        assert Counter(r.status_code for r in responses) == {201: 50}
        # Each event saw the score its predecessors left: 97, 94, … 1, then clamped at 0.
        seen = sorted((r.json()["trust_score"] for r in responses), reverse=True)
        assert seen == [max(0, 100 - 3 * n) for n in range(1, 51)]
        sub = await http.get(f"{API}/subscriptions/{sub_id}", headers=follower.headers)
        assert (sub.json()["trust_score"], sub.json()["state"]) == (0, "PAUSED_TOXIC")
    assert (
        await count(
            database_url,
            select(func.count())
            .select_from(ProtectionEvent)
            .where(ProtectionEvent.subscription_id == sub_id),
        )
        == 50
    )
    assert (
        await count(
            database_url,
            select(func.count())
            .select_from(AuditLog)
            .where(
                AuditLog.action == "copytrading.subscription_auto_paused",
                AuditLog.target_id == sub_id,
            ),
        )
        == 1
    )
