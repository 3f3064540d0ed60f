"""Trust score: penalties per reason, clamping, the automatic pause, the recovery job and the
explanation; heartbeats, stale policies and stop-outs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx2
from sqlalchemy import select
from tests.helpers.identity import register_and_login
from tests.modules.copytrading.conftest import API, event, subscribed_pair

from tessera.core.audit.models import AuditLog
from tessera.core.db.base import utcnow
from tessera.core.jobs import Scheduler
from tessera.modules.copytrading.jobs import JOBS

JOB = {job.name: job for job in JOBS}


async def run_job(runtime: Any, name: str, at: Any) -> bool:
    scheduler = Scheduler(runtime.db, [JOB[name]], runtime, clock=lambda: at)
    return await scheduler.run_job(JOB[name])


async def sub_of(client: httpx2.AsyncClient, pair: Any) -> dict[str, Any]:
    response = await client.get(f"{API}/subscriptions/{pair.sub_id}", headers=pair.follower.headers)
    body: dict[str, Any] = response.json()
    return body


async def test_penalty_sequence_auto_pause_and_recovery(
    client: httpx2.AsyncClient, runtime: Any, engine: str
) -> None:
    pair = await subscribed_pair(client)
    expected = [
        ("TTL_EXPIRED", 95, "SYNCED"),
        ("PRICE_DEVIATION", 92, "SYNCED"),
        ("INSUFFICIENT_FUNDS", 82, "SYNCED"),
        ("RATE_LIMIT_EXCEEDED", 67, "SYNCED"),
        ("STATE_LOCKED", 62, "SYNCED"),
        ("SEQUENCE_GAP", 42, "PAUSED_TOXIC"),
        ("INVALID_SIGNATURE", 2, "PAUSED_TOXIC"),
        ("REPLAY_ATTACK", 0, "PAUSED_TOXIC"),  # clamped at 0
    ]
    for seq, (reason, score, state) in enumerate(expected, start=1):
        response = await client.post(
            f"{API}/protection-events", json=event(reason, seq), headers=pair.bot
        )
        assert response.status_code == 201, response.text
        assert (response.json()["trust_score"], response.json()["state"]) == (score, state), reason
    sub = await sub_of(client, pair)
    assert sub["paused_reason"] == "Trust score below 50"
    assert (await client.get(f"{API}/ea/status", headers=pair.bot)).json()["can_trade"] is False

    trust = await client.get(
        f"{API}/subscriptions/{pair.sub_id}/trust", headers=pair.follower.headers
    )
    body = trust.json()
    assert body["score"] == 0 and body["state"] == "PAUSED_TOXIC"
    assert [c["reason"] for c in body["changes"]][::-1] == [r for r, _, _ in expected]
    assert [c["delta"] for c in body["changes"]][-1] == -5

    now = utcnow()
    # Not yet 24 h quiet: nothing moves.
    assert await run_job(runtime, "copytrading.trust_recovery", now + timedelta(hours=23))
    assert (await sub_of(client, pair))["trust_score"] == 0
    for day in range(1, 6):  # +10 per incident-free 24 h
        assert await run_job(
            runtime, "copytrading.trust_recovery", now + timedelta(hours=24 * day + 1)
        )
    sub = await sub_of(client, pair)
    assert (sub["trust_score"], sub["state"]) == (50, "SYNCED")
    assert sub["paused_at"] is None
    trust = await client.get(
        f"{API}/subscriptions/{pair.sub_id}/trust", headers=pair.follower.headers
    )
    recoveries = [c for c in trust.json()["changes"] if c["cause"] == "recovery"]
    assert [c["score_after"] for c in recoveries] == [50, 40, 30, 20, 10]
    assert recoveries[0]["state_after"] == "SYNCED"


async def test_an_incident_restarts_the_quiet_period(
    client: httpx2.AsyncClient, runtime: Any, engine: str
) -> None:
    pair = await subscribed_pair(client)
    await client.post(f"{API}/protection-events", json=event("SEQUENCE_GAP"), headers=pair.bot)
    assert (await sub_of(client, pair))["state"] == "DEGRADED_GAP"  # a gap needs a full sync
    now = utcnow()
    await run_job(runtime, "copytrading.trust_recovery", now + timedelta(hours=25))
    assert (await sub_of(client, pair))["trust_score"] == 90
    # A second run in the same 24 h gives nothing more.
    await run_job(runtime, "copytrading.trust_recovery", now + timedelta(hours=26))
    assert (await sub_of(client, pair))["trust_score"] == 90
    # Heartbeat with the current policy: back in sync.
    beat = await client.post(
        f"{API}/ea/heartbeat",
        json={"equity": 100, "balance": 100, "policy_version": 1},
        headers=pair.bot,
    )
    assert beat.json()["state"] == "SYNCED"


async def test_user_trust_and_role_on_auth_me(client: httpx2.AsyncClient, engine: str) -> None:
    pair = await subscribed_pair(client)
    await client.post(f"{API}/protection-events", json=event("INVALID_SIGNATURE"), headers=pair.bot)
    loner = await register_and_login(client)
    seen = {}
    for who in (pair.follower, pair.master, loner):
        me = await client.get("/auth/me", headers=who.headers)
        assert me.status_code == 200, me.text
        seen[who.id] = {key: me.json()[key] for key in ("user_id", "role", "trust_score")}
        assert me.json()["email"] == who.email  # the core's fields stay
    assert seen[pair.follower.id] == {
        "user_id": pair.follower.id,
        "role": "user",
        "trust_score": 60,
    }
    assert seen[pair.master.id] == {"user_id": pair.master.id, "role": "master", "trust_score": 100}
    assert seen[loner.id]["trust_score"] == 100


async def test_stale_policy_silence_and_stop_out(
    client: httpx2.AsyncClient, runtime: Any, engine: str
) -> None:
    pair = await subscribed_pair(client, funds="1025.00")
    headers = pair.follower.headers
    policy = {
        "sizing": {"mode": "fixed", "value": "0.05"},
        "equity_floor": "800.00",
        "daily_loss_cap": "150.00",
        "stop_out_action": "close_only",
        "max_ttl_ms": 800,
    }
    put = await client.put(
        f"{API}/subscriptions/{pair.sub_id}/policy", json=policy, headers=headers
    )
    assert put.status_code == 200, put.text
    assert put.json()["version"] == 2 and put.json()["equity_floor"] == 800.0
    status = (await client.get(f"{API}/ea/status", headers=pair.bot)).json()
    assert status["policy_version"] == 2 and status["max_ttl_ms"] == 800

    def beat(equity: str, version: int = 2) -> Any:
        return client.post(
            f"{API}/ea/heartbeat",
            json={"equity": equity, "balance": equity, "policy_version": version},
            headers=pair.bot,
        )

    stale = await beat("1000.00", version=1)
    assert stale.json()["state"] == "DEGRADED_GAP"
    assert (await beat("1000.00")).json()["state"] == "SYNCED"
    # Silence past the timeout: the watch job marks the gap.
    await run_job(runtime, "copytrading.heartbeat_watch", utcnow() + timedelta(minutes=10))
    assert (await sub_of(client, pair))["state"] == "DEGRADED_GAP"
    assert (await beat("1000.00")).json()["state"] == "SYNCED"
    # A 150 loss on the day (anchored at the day's first heartbeat): stopped out, close only.
    stopped = await beat("850.00")
    assert stopped.json()["state"] == "STOPPED_OUT"
    assert stopped.json()["stop_out_action"] == "close_only"
    assert stopped.json()["stop_out_reason"] == "Daily loss cap reached"
    # Further heartbeats never clear it; resume is refused; only the owner's reset does.
    assert (await beat("1000.00")).json()["state"] == "STOPPED_OUT"
    refused = await client.post(f"{API}/subscriptions/{pair.sub_id}/resume", headers=headers)
    assert refused.status_code == 409
    reset = await client.post(
        f"{API}/subscriptions/{pair.sub_id}/stop-out/reset/", json={}, headers=headers
    )
    assert reset.status_code == 200 and reset.json()["state"] == "SYNCED"
    floor = await beat("799.99")
    assert floor.json()["stop_out_reason"] == "Equity below the floor"
    async with runtime.db.session(write=False) as session:
        actions = list(
            await session.scalars(
                select(AuditLog.action)
                .where(AuditLog.target_id == pair.sub_id)
                .order_by(AuditLog.seq)
            )
        )
    assert actions.count("copytrading.stopped_out") == 2
    assert "copytrading.stop_out_reset" in actions
    bad = await client.put(
        f"{API}/subscriptions/{pair.sub_id}/policy",
        json={"sizing": {"mode": "martingale", "value": 2}},
        headers=headers,
    )
    assert bad.status_code == 422
