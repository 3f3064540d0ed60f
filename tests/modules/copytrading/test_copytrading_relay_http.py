"""The signal relay: order, once-only delivery by cursor, long-poll, the risk policy applied
to what a follower receives, Redis Streams and the archive behind them."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx2
from tests.modules.copytrading.conftest import API, master_bot, subscribed_pair

from tessera.modules.copytrading.state import CopytradingState


async def test_long_poll_wakes_on_publish(client: httpx2.AsyncClient, engine: str) -> None:
    pair = await subscribed_pair(client)
    mbot = await master_bot(client, pair.master)

    async def later() -> None:
        await asyncio.sleep(0.3)
        response = await client.post(f"{API}/signals", json=mbot.signal(1), headers=mbot.headers)
        assert response.status_code == 201

    started = time.monotonic()
    polled, _ = await asyncio.gather(
        client.get(f"{API}/signals/poll", params={"last_seq": 0, "wait": 5}, headers=pair.bot),
        later(),
    )
    elapsed = time.monotonic() - started
    assert [s["sequence_number"] for s in polled.json()["signals"]] == [1]
    assert 0.25 < elapsed < 4
    # Nothing new: the long-poll waits its time and answers empty.
    started = time.monotonic()
    idle = await client.get(
        f"{API}/signals/poll", params={"last_seq": 1, "wait": 0.4}, headers=pair.bot
    )
    assert idle.json()["signals"] == [] and time.monotonic() - started >= 0.35


async def test_policy_shapes_what_the_follower_receives(
    client: httpx2.AsyncClient, engine: str
) -> None:
    pair = await subscribed_pair(client, funds="2525.00")
    policy = {
        "sizing": {"mode": "multiplier", "value": "2.5"},
        "symbol_map": {"XAUUSD": "GOLD"},
        "block_symbols": ["BTCUSD"],
    }
    await client.put(
        f"{API}/subscriptions/{pair.sub_id}/policy", json=policy, headers=pair.follower.headers
    )
    mbot = await master_bot(client, pair.master)
    for seq, symbol in enumerate(["EURUSD", "XAUUSD", "BTCUSD"], start=1):
        response = await client.post(
            f"{API}/signals",
            json=mbot.signal(seq, symbol=symbol, volume="0.13"),
            headers=mbot.headers,
        )
        assert response.status_code == 201
    polled = (await client.get(f"{API}/signals/poll", headers=pair.bot)).json()["signals"]
    assert [(s["symbol"], s["volume"], s["skipped"]) for s in polled] == [
        ("EURUSD", 0.32, False),  # 0.13 × 2.5 = 0.325, rounded down to the lot step
        ("GOLD", 0.32, False),
        ("BTCUSD", 0.32, True),
    ]
    assert polled[2]["skip_reason"] == "symbol blocked"
    # Equity ratio: 0.5 lots per 10,000 of the last reported equity (2,500 → 0.12).
    await client.put(
        f"{API}/subscriptions/{pair.sub_id}/policy",
        json={"sizing": {"mode": "equity_ratio", "value": "0.5"}},
        headers=pair.follower.headers,
    )
    await client.post(
        f"{API}/ea/heartbeat",
        json={"equity": "2500.00", "balance": "2500.00", "policy_version": 3},
        headers=pair.bot,
    )
    polled = (await client.get(f"{API}/signals/poll", headers=pair.bot)).json()["signals"]
    assert polled[0]["volume"] == 0.12


async def test_stopped_out_close_only_passes_closes(
    client: httpx2.AsyncClient, engine: str
) -> None:
    pair = await subscribed_pair(client, funds="1025.00")
    await client.put(
        f"{API}/subscriptions/{pair.sub_id}/policy",
        json={"equity_floor": "900", "stop_out_action": "close_only"},
        headers=pair.follower.headers,
    )
    beat = await client.post(
        f"{API}/ea/heartbeat",
        json={"equity": "899", "balance": "899", "policy_version": 2},
        headers=pair.bot,
    )
    assert beat.json()["state"] == "STOPPED_OUT"
    mbot = await master_bot(client, pair.master)
    await client.post(f"{API}/signals", json=mbot.signal(1), headers=mbot.headers)
    await client.post(
        f"{API}/signals", json=mbot.signal(2, order_type="CLOSE"), headers=mbot.headers
    )
    polled = (await client.get(f"{API}/signals/poll", headers=pair.bot)).json()["signals"]
    assert [(s["order_type"], s["skipped"]) for s in polled] == [("BUY", True), ("CLOSE", False)]
    # `freeze` delivers nothing.
    await client.post(
        f"{API}/subscriptions/{pair.sub_id}/stop-out/reset", headers=pair.follower.headers
    )
    await client.put(
        f"{API}/subscriptions/{pair.sub_id}/policy",
        json={"equity_floor": "900", "stop_out_action": "freeze"},
        headers=pair.follower.headers,
    )
    await client.post(
        f"{API}/ea/heartbeat",
        json={"equity": "899", "balance": "899", "policy_version": 3},
        headers=pair.bot,
    )
    assert (await client.get(f"{API}/signals/poll", headers=pair.bot)).json()["signals"] == []


async def test_archive_serves_what_the_stream_lacks(
    client: httpx2.AsyncClient, runtime: Any, engine: str
) -> None:
    """With Redis (the PostgreSQL variant), trimmed or lost stream entries come from the
    archive, in order; without Redis the archive is the relay."""
    pair = await subscribed_pair(client)
    mbot = await master_bot(client, pair.master)
    for seq in (1, 2, 3, 4):
        await client.post(f"{API}/signals", json=mbot.signal(seq), headers=mbot.headers)
    relay = runtime.get(CopytradingState).relay
    if runtime.redis is not None:
        key = relay.stream_key(pair.master.id)
        assert await runtime.redis.xlen(key) == 4
        await runtime.redis.xtrim(key, minid="3-0", approximate=False)  # as if trimmed by age
        assert await runtime.redis.xlen(key) == 2
    polled = await client.get(f"{API}/signals/poll", params={"last_seq": 0}, headers=pair.bot)
    assert [s["sequence_number"] for s in polled.json()["signals"]] == [1, 2, 3, 4]
    tail = await client.get(f"{API}/signals/poll", params={"last_seq": 2}, headers=pair.bot)
    assert [s["sequence_number"] for s in tail.json()["signals"]] == [3, 4]
    # A gap the master made is visible to the follower as a jump in sequence numbers.
    await client.post(f"{API}/signals", json=mbot.signal(7), headers=mbot.headers)
    jump = await client.get(f"{API}/signals/poll", params={"last_seq": 4}, headers=pair.bot)
    assert [s["sequence_number"] for s in jump.json()["signals"]] == [7]


async def test_a_pause_during_a_long_poll_stops_delivery(
    client: httpx2.AsyncClient, engine: str
) -> None:
    pair = await subscribed_pair(client)
    mbot = await master_bot(client, pair.master)

    async def pause_then_publish() -> None:
        await asyncio.sleep(0.3)
        paused = await client.post(
            f"{API}/subscriptions/{pair.sub_id}/pause", headers=pair.follower.headers
        )
        assert paused.status_code == 200
        await asyncio.sleep(1.3)  # a state change stops deliveries within a second
        await client.post(f"{API}/signals", json=mbot.signal(1), headers=mbot.headers)

    polled, _ = await asyncio.gather(
        client.get(f"{API}/signals/poll", params={"last_seq": 0, "wait": 3}, headers=pair.bot),
        pause_then_publish(),
    )
    assert polled.json()["signals"] == []
