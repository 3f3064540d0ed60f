"""The seed's whole flow over HTTP, on both engines: master, funded follower, subscription
with a one-time license, signals relayed in order, events, heartbeats, pause/resume, rotation,
cancel and re-subscription."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx2
from sqlalchemy import select
from tests.helpers.identity import register_and_login
from tests.modules.copytrading.conftest import (
    API,
    balance,
    become_master,
    deposit,
    event,
    master_bot,
    subscribe,
)

from tessera.modules.copytrading.models import License


async def test_seed_flow(client: httpx2.AsyncClient, runtime: Any, engine: str) -> None:
    master = await register_and_login(client)
    profile = await become_master(client, master, fee="25.00")
    assert profile["user_id"] == master.id
    assert profile["monthly_fee"] == 25.0 and profile["performance_fee_pct"] == 20.0
    assert profile["win_rate"] == 0 and profile["performance_history"] == []

    follower = await register_and_login(client)
    await deposit(client, follower, "100.00")

    listed = await client.get(f"{API}/masters")  # public: no token
    assert listed.status_code == 200 and isinstance(listed.json(), list)
    assert [m["user_id"] for m in listed.json()] == [master.id]

    created = await client.post(
        f"{API}/subscriptions", json={"master_id": master.id}, headers=follower.headers
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["message"] == "Save this token - it won't be shown again"
    assert body["expires_at"] is None
    token = body["license_token"]
    assert len(token) == 43
    sub_id = body["subscription_id"]
    bot = {"X-License-Token": token}

    # The fee is charged once, and the master is credited (no platform share configured).
    assert await balance(client, follower) == Decimal("75.00")
    assert await balance(client, master) == Decimal("25.00")

    # The token never appears again.
    one = await client.get(f"{API}/subscriptions/{sub_id}", headers=follower.headers)
    assert one.status_code == 200 and token not in one.text
    assert one.json()["state"] == "SYNCED" and one.json()["master_name"] == "Alpha Trader"
    mine = await client.get(f"{API}/subscriptions", headers=follower.headers)
    assert [s["subscription_id"] for s in mine.json()] == [sub_id] and token not in mine.text

    subscribers = await client.get(f"{API}/masters/my/subscribers", headers=master.headers)
    assert subscribers.json()[0]["email"] == follower.email

    # The master publishes three signals; the follower's bot receives them in order.
    mbot = await master_bot(client, master)
    for seq in (1, 2, 3):
        published = await client.post(f"{API}/signals", json=mbot.signal(seq), headers=mbot.headers)
        assert published.status_code == 201, published.text
    status = await client.get(f"{API}/ea/status", headers=bot)
    assert status.status_code == 200
    assert status.json()["can_trade"] is True and status.json()["last_sequence"] == 3
    assert status.json()["max_ttl_ms"] == 500 and status.json()["max_price_deviation"] == 0.005
    etag = status.headers["ETag"]
    cached = await client.get(f"{API}/ea/status", headers={**bot, "If-None-Match": etag})
    assert cached.status_code == 304

    first = await client.get(f"{API}/signals/poll", params={"last_seq": 0, "limit": 2}, headers=bot)
    assert first.status_code == 200
    assert [s["sequence_number"] for s in first.json()["signals"]] == [1, 2]
    assert first.json()["last_sequence"] == 2 and first.json()["has_signals"] is True
    rest = await client.get(f"{API}/signals/poll", params={"last_seq": 2}, headers=bot)
    assert [s["sequence_number"] for s in rest.json()["signals"]] == [3]
    assert rest.json()["signals"][0]["volume"] == 0.1  # multiplier 1 of the master's lots
    empty = await client.get(f"{API}/signals/poll", params={"last_seq": 3}, headers=bot)
    assert empty.json() == {
        "has_signals": False,
        "signals": [],
        "last_sequence": 3,
        "master_last_sequence": 3,
    }

    # The bot reports a refusal and a heartbeat.
    posted = await client.post(
        f"{API}/protection-events",
        json=event("PRICE_DEVIATION", 3, price_deviation=0.0061, metadata={"slippage": 6.1}),
        headers=bot,
    )
    assert posted.status_code == 201, posted.text
    assert posted.json()["subscription_id"] == sub_id and posted.json()["trust_score"] == 97
    beat = await client.post(
        f"{API}/ea/heartbeat",
        json={
            "equity": "75.00",
            "balance": "75.00",
            "policy_version": 1,
            "ea_instance_id": "mt5-1",
        },
        headers=bot,
    )
    assert beat.status_code == 200 and beat.json()["state"] == "SYNCED"
    async with runtime.db.session(write=False) as session:
        used = await session.scalar(select(License).where(License.subscription_id == sub_id))
    assert used is not None and used.ea_instance_id == "mt5-1"
    assert used.ip_address == "203.0.113.7" and used.last_used_at is not None

    events = await client.get(f"{API}/protection-events", headers=follower.headers)
    assert [(e["reason"], e["signal_sequence"]) for e in events.json()] == [("PRICE_DEVIATION", 3)]
    assert events.json()[0]["price_deviation"] == 0.0061
    summary = await client.get(f"{API}/protection-events/summary", headers=follower.headers)
    assert summary.json() == {
        "time_window_hours": 24,
        "events_by_reason": [{"reason": "PRICE_DEVIATION", "count": 1, "avg_latency_ms": 120.0}],
    }

    # Pause (the seed client's trailing slash and empty body), resume.
    paused = await client.post(
        f"{API}/subscriptions/{sub_id}/pause/", json={}, headers=follower.headers
    )
    assert paused.status_code == 200 and paused.json() == {
        "message": "Subscription paused successfully"
    }
    assert (await client.get(f"{API}/ea/status", headers=bot)).json()["can_trade"] is False
    hidden = await client.get(f"{API}/signals/poll", params={"last_seq": 0}, headers=bot)
    assert hidden.json()["signals"] == []
    resumed = await client.post(
        f"{API}/subscriptions/{sub_id}/resume/", json={}, headers=follower.headers
    )
    assert (
        resumed.status_code == 200
        and resumed.json()["message"] == "Subscription resumed successfully"
    )

    # Rotation: the old token dies, the new one works.
    rotated = await client.post(
        f"{API}/subscriptions/{sub_id}/license/rotate", headers=follower.headers
    )
    assert rotated.status_code == 200
    new_bot = {"X-License-Token": rotated.json()["license_token"]}
    assert (await client.get(f"{API}/ea/status", headers=bot)).status_code == 401
    assert (await client.get(f"{API}/ea/status", headers=new_bot)).status_code == 200

    # Cancel, then the same pair may subscribe again (the fee is charged again).
    cancelled = await client.post(f"{API}/subscriptions/{sub_id}/cancel", headers=follower.headers)
    assert cancelled.status_code == 200
    assert (await client.get(f"{API}/ea/status", headers=new_bot)).status_code == 401
    again, _ = await subscribe(client, follower, master)
    assert again != sub_id
    assert await balance(client, follower) == Decimal("50.00")
    states = [
        s["state"]
        for s in (await client.get(f"{API}/subscriptions", headers=follower.headers)).json()
    ]
    assert states == ["SYNCED", "CANCELLED"]

    master_view = await client.get(f"{API}/masters/{master.id}")
    assert master_view.json()["total_signals"] == 3
    assert (
        await client.get(f"{API}/masters/profile/me", headers=master.headers)
    ).status_code == 200
    assert (
        await client.get(f"{API}/masters/profile/me", headers=follower.headers)
    ).status_code == 404
