"""What is refused, with which status and message (the seed client shows `detail`)."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx2
from asgi_lifespan import LifespanManager
from tests.conftest import make_settings
from tests.helpers.identity import register_and_login
from tests.modules.copytrading.conftest import (
    API,
    become_master,
    event,
    master_bot,
    subscribed_pair,
)

from tessera.app import create_app
from tessera.modules.copytrading.config import CopytradingSettings


async def test_subscribe_refusals(client: httpx2.AsyncClient, engine: str) -> None:
    pair = await subscribed_pair(client)
    self_sub = await client.post(
        f"{API}/subscriptions", json={"master_id": pair.master.id}, headers=pair.master.headers
    )
    assert self_sub.status_code == 400 and self_sub.json()["error"] == "self_subscription"
    second = await client.post(
        f"{API}/subscriptions", json={"master_id": pair.master.id}, headers=pair.follower.headers
    )
    assert second.status_code == 400
    assert second.json() == {
        "detail": "Active subscription already exists",
        "error": "active_subscription_exists",
    }
    unknown = await client.post(
        f"{API}/subscriptions", json={"master_id": str(uuid.uuid4())}, headers=pair.follower.headers
    )
    assert unknown.status_code == 404 and unknown.json()["detail"] == "Master trader not found"
    # A plain user is not a master.
    not_master = await client.post(
        f"{API}/subscriptions", json={"master_id": pair.follower.id}, headers=pair.master.headers
    )
    assert not_master.status_code == 404
    broke = await register_and_login(client)
    poor = await client.post(
        f"{API}/subscriptions", json={"master_id": pair.master.id}, headers=broke.headers
    )
    assert poor.status_code == 400 and poor.json()["detail"] == "Insufficient balance"
    assert (await client.get(f"{API}/subscriptions", headers=broke.headers)).json() == []
    no_auth = await client.post(f"{API}/subscriptions", json={"master_id": pair.master.id})
    assert no_auth.status_code == 401


async def test_other_users_subscriptions_are_not_found(
    client: httpx2.AsyncClient, engine: str
) -> None:
    pair = await subscribed_pair(client)
    stranger = await register_and_login(client)
    for method, path in [
        ("GET", f"/subscriptions/{pair.sub_id}"),
        ("POST", f"/subscriptions/{pair.sub_id}/pause"),
        ("POST", f"/subscriptions/{pair.sub_id}/resume"),
        ("POST", f"/subscriptions/{pair.sub_id}/cancel"),
        ("POST", f"/subscriptions/{pair.sub_id}/license/rotate"),
        ("GET", f"/subscriptions/{pair.sub_id}/trust"),
        ("GET", f"/subscriptions/{pair.sub_id}/quality"),
        ("GET", f"/subscriptions/{pair.sub_id}/fees/preview"),
        ("GET", f"/protection-events?subscription_id={pair.sub_id}"),
    ]:
        response = await client.request(method, API + path, headers=stranger.headers)
        assert response.status_code == 404, (path, response.text)
        assert set(response.json()) == {"detail", "error"}
    # The master sees its subscribers but cannot act for them.
    assert (
        await client.post(f"{API}/subscriptions/{pair.sub_id}/pause", headers=pair.master.headers)
    ).status_code == 404
    # Only an admin suspends.
    suspend = await client.post(
        f"{API}/subscriptions/{pair.sub_id}/suspend", headers=pair.follower.headers
    )
    assert suspend.status_code == 403
    # The subscriber list is for masters.
    assert (
        await client.get(f"{API}/masters/my/subscribers", headers=stranger.headers)
    ).status_code == 403


async def test_bot_api_refusals(client: httpx2.AsyncClient, engine: str) -> None:
    pair = await subscribed_pair(client)
    missing = await client.get(f"{API}/ea/status")
    assert missing.status_code == 401 and missing.json()["error"] == "license_token_missing"
    wrong = await client.get(f"{API}/ea/status", headers={"X-License-Token": "x" * 43})
    assert wrong.status_code == 401 and wrong.json()["error"] == "license_token_invalid"
    # The old seed's way (a subscription id, no token) is refused.
    forged = await client.post(
        f"{API}/protection-events", json={**event("REPLAY_ATTACK"), "subscription_id": pair.sub_id}
    )
    assert forged.status_code == 401
    bad_reason = await client.post(
        f"{API}/protection-events", json=event("SOLAR_FLARE"), headers=pair.bot
    )
    assert bad_reason.status_code == 422
    bad_state = await client.post(
        f"{API}/protection-events",
        json={**event("TTL_EXPIRED"), "current_state": "HAPPY"},
        headers=pair.bot,
    )
    assert bad_state.status_code == 422
    naive = await client.post(
        f"{API}/protection-events",
        json={**event("TTL_EXPIRED"), "signal_generated_at": "2026-01-05T10:00:00"},
        headers=pair.bot,
    )
    assert naive.status_code == 422
    # Nothing was recorded and the score is untouched.
    sub = await client.get(f"{API}/subscriptions/{pair.sub_id}", headers=pair.follower.headers)
    assert sub.json()["trust_score"] == 100


async def test_signal_refusals(client: httpx2.AsyncClient, engine: str) -> None:
    pair = await subscribed_pair(client)
    mbot = await master_bot(client, pair.master)
    ok = await client.post(f"{API}/signals", json=mbot.signal(5), headers=mbot.headers)
    assert ok.status_code == 201
    same = await client.post(f"{API}/signals", json=mbot.signal(5), headers=mbot.headers)
    assert same.status_code == 409 and same.json()["error"] == "sequence_not_increasing"
    lower = await client.post(f"{API}/signals", json=mbot.signal(4), headers=mbot.headers)
    assert lower.status_code == 409
    tampered = mbot.signal(6)
    tampered["volume"] = "5.00"  # changed after signing
    bad = await client.post(f"{API}/signals", json=tampered, headers=mbot.headers)
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_signature"
    # A follower's license cannot publish, a master's cannot poll as a follower.
    as_follower = await client.post(f"{API}/signals", json=mbot.signal(7), headers=pair.bot)
    assert as_follower.status_code == 403
    assert (await client.get(f"{API}/signals/poll", headers=mbot.headers)).status_code == 403
    # A new master license revokes the old one (and its signing secret).
    newer = await master_bot(client, pair.master)
    stale = await client.post(f"{API}/signals", json=mbot.signal(8), headers=mbot.headers)
    assert stale.status_code == 401
    fresh = await client.post(f"{API}/signals", json=newer.signal(8), headers=newer.headers)
    assert fresh.status_code == 201
    polled = await client.get(f"{API}/signals/poll", params={"last_seq": 0}, headers=pair.bot)
    assert [s["sequence_number"] for s in polled.json()["signals"]] == [5, 8]


async def test_master_profile_validation_and_upsert(
    client: httpx2.AsyncClient, engine: str
) -> None:
    user = await register_and_login(client)
    for bad in (
        {"display_name": "ab", "strategy_name": "Valid name", "monthly_fee": 1},
        {"display_name": "Valid", "strategy_name": "Valid name", "monthly_fee": -1},
        {"display_name": "Valid", "strategy_name": "Valid name", "monthly_fee": "1.001"},
        {"display_name": "Valid", "strategy_name": "Valid name", "bio": "x" * 1001},
    ):
        response = await client.post(f"{API}/masters/profile", json=bad, headers=user.headers)
        assert response.status_code == 422, bad
    await become_master(client, user, fee="10")
    again = await become_master(client, user, fee="12.50", pct="12.5")
    assert again["monthly_fee"] == 12.5 and again["performance_fee_pct"] == 12.5
    assert len((await client.get(f"{API}/masters")).json()) == 1


async def test_resume_refused_from_system_states(client: httpx2.AsyncClient, engine: str) -> None:
    pair = await subscribed_pair(client)
    for _ in range(2):  # 100 - 2 × 30 = 40: below 50 → PAUSED_TOXIC
        await client.post(f"{API}/protection-events", json=event("DUPLICATE_SEQ"), headers=pair.bot)
    sub = await client.get(f"{API}/subscriptions/{pair.sub_id}", headers=pair.follower.headers)
    assert sub.json()["state"] == "PAUSED_TOXIC" and sub.json()["trust_score"] == 40
    refused = await client.post(
        f"{API}/subscriptions/{pair.sub_id}/resume", headers=pair.follower.headers
    )
    assert refused.status_code == 409 and "PAUSED_TOXIC" in refused.json()["detail"]
    # The owner may pause it, but resuming then returns to the toxic pause, not to copying.
    await client.post(f"{API}/subscriptions/{pair.sub_id}/pause", headers=pair.follower.headers)
    await client.post(f"{API}/subscriptions/{pair.sub_id}/resume", headers=pair.follower.headers)
    sub = await client.get(f"{API}/subscriptions/{pair.sub_id}", headers=pair.follower.headers)
    assert sub.json()["state"] == "PAUSED_TOXIC"


async def test_rate_limits_per_license_and_guesses_per_ip(
    database_url: str, tmp_path: Path, engine: str
) -> None:
    settings = make_settings(
        database_url,
        tmp_path,
        module_settings=[CopytradingSettings(ea_rate="3/minute", license_guess_rate="2/minute")],
    )
    application = create_app(settings)
    async with LifespanManager(application):
        transport = httpx2.ASGITransport(app=application, client=("203.0.113.50", 5000))
        async with httpx2.AsyncClient(transport=transport, base_url="http://t") as http:
            pair = await subscribed_pair(http)
            codes = [
                (await http.get(f"{API}/ea/status", headers=pair.bot)).status_code for _ in range(4)
            ]
            assert codes == [200, 200, 200, 429]
            limited = await http.get(f"{API}/ea/status", headers=pair.bot)
            assert int(limited.headers["Retry-After"]) >= 1
            guesses = [
                (
                    await http.get(f"{API}/ea/status", headers={"X-License-Token": f"guess-{i}"})
                ).status_code
                for i in range(4)
            ]
            assert guesses == [401, 401, 429, 429]
