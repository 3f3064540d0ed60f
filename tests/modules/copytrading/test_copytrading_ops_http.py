"""Operators and reports: admin suspension, the execution-quality report, retention."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx2
from sqlalchemy import func, select, update
from tests.helpers.identity import make_admin
from tests.modules.copytrading.conftest import API, event, master_bot, subscribed_pair

from tessera.core.db.base import utcnow
from tessera.core.jobs import Scheduler
from tessera.modules.copytrading.jobs import JOBS
from tessera.modules.copytrading.models import ProtectionEvent, Signal
from tessera.modules.copytrading.state import CopytradingState

PURGE = next(job for job in JOBS if job.name == "copytrading.purge_events")


async def test_admin_suspend_and_unsuspend(
    client: httpx2.AsyncClient, runtime: Any, engine: str
) -> None:
    pair = await subscribed_pair(client)
    admin = await make_admin(client, runtime)
    url = f"{API}/subscriptions/{pair.sub_id}"
    suspended = await client.post(
        f"{url}/suspend/", json={"reason": "KYC review"}, headers=admin.headers
    )
    assert suspended.status_code == 200 and suspended.json()["state"] == "SUSPENDED_ADMIN"
    assert suspended.json()["paused_reason"] == "KYC review"
    # The owner can neither resume nor pause it back into their own hands.
    assert (await client.post(f"{url}/resume", headers=pair.follower.headers)).status_code == 409
    assert (await client.post(f"{url}/pause", headers=pair.follower.headers)).status_code == 404
    assert (await client.get(f"{API}/ea/status", headers=pair.bot)).json()["can_trade"] is False
    assert (await client.post(f"{url}/suspend", headers=admin.headers)).status_code == 409
    lifted = await client.post(f"{url}/unsuspend", headers=admin.headers)
    assert lifted.json()["state"] == "SYNCED" and lifted.json()["paused_at"] is None


async def test_quality_report(client: httpx2.AsyncClient, engine: str) -> None:
    pair = await subscribed_pair(client)
    mbot = await master_bot(client, pair.master)
    for seq in range(1, 21):
        await client.post(f"{API}/signals", json=mbot.signal(seq), headers=mbot.headers)
    for latency, deviation in [(100, 0.001), (200, 0.002), (300, None), (900, 0.009)]:
        await client.post(
            f"{API}/protection-events",
            json=event("TTL_EXPIRED", latency_ms=latency, price_deviation=deviation),
            headers=pair.bot,
        )
    report = await client.get(
        f"{API}/subscriptions/{pair.sub_id}/quality", headers=pair.follower.headers
    )
    body = report.json()
    assert body["signals"] == 20 and body["events"] == 4
    assert body["events_per_100_signals"] == 20.0
    assert body["latency_ms"] == {"p50": 200.0, "p95": 900.0, "p99": 900.0}
    assert body["price_deviation_p95"] == 0.009
    assert body["events_by_reason"] == [
        {"reason": "TTL_EXPIRED", "count": 4, "avg_latency_ms": 375.0}
    ]


async def test_retention_purges_old_events_and_signals(
    client: httpx2.AsyncClient, runtime: Any, engine: str
) -> None:
    pair = await subscribed_pair(client)
    mbot = await master_bot(client, pair.master)
    for seq in (1, 2):
        await client.post(f"{API}/signals", json=mbot.signal(seq), headers=mbot.headers)
    await client.post(f"{API}/protection-events", json=event("TTL_EXPIRED"), headers=pair.bot)
    await client.post(f"{API}/protection-events", json=event("TTL_EXPIRED", 2), headers=pair.bot)
    now = utcnow()
    async with runtime.db.session() as session:  # age one event past 90 days, one signal past 365
        first = await session.scalar(
            select(ProtectionEvent.id).where(ProtectionEvent.signal_sequence == 1)
        )
        await session.execute(
            update(ProtectionEvent)
            .where(ProtectionEvent.id == first)
            .values(event_time=now - timedelta(days=91))
        )
        await session.execute(
            update(Signal).where(Signal.sequence == 1).values(received_at=now - timedelta(days=366))
        )
    assert await Scheduler(runtime.db, [PURGE], runtime).run_job(PURGE)
    async with runtime.db.session(write=False) as session:
        events = await session.scalar(select(func.count()).select_from(ProtectionEvent))
        signals = list(await session.scalars(select(Signal.sequence)))
    assert events == 1 and signals == [2]
    if runtime.redis is not None:  # the stream keeps only what is younger than 24 h
        key = runtime.get(CopytradingState).relay.stream_key(pair.master.id)
        assert await runtime.redis.xlen(key) == 1


async def test_admin_verifies_a_master(
    client: httpx2.AsyncClient, runtime: Any, engine: str
) -> None:
    pair = await subscribed_pair(client)
    admin = await make_admin(client, runtime)
    url = f"{API}/masters/{pair.master.id}/verify"
    assert (await client.post(url, headers=pair.master.headers)).status_code == 403
    verified = await client.post(url, headers=admin.headers)
    assert verified.status_code == 200 and verified.json()["verified"] is True
    assert (await client.get(f"{API}/masters")).json()[0]["verified"] is True
    withdrawn = await client.post(url, params={"verified": "false"}, headers=admin.headers)
    assert withdrawn.json()["verified"] is False
