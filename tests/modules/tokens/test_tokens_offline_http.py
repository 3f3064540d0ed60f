"""Offline validation and /v1/sync_offline (reliability plan T6 a, b, c)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
from tests.helpers.identity import make_admin, make_api_key
from tests.modules.tokens.conftest import CHALLENGE

from tessera.client import tokens as sdk
from tessera.client.tokens_http import TokensApi
from tessera.core.db.base import utcnow


async def buy(
    api: TokensApi, issuer: sdk.IssuerKey, kiosk: dict[str, str], count: int
) -> list[sdk.FinishedToken]:
    tickets: list[sdk.FinishedToken] = []
    while len(tickets) < count:
        batch = min(100, count - len(tickets))
        receipt = await api.verify_receipt(
            "test", f"card-{utcnow().timestamp()}", amount_cents=250 * batch, headers=kiosk
        )
        pending = [sdk.request_token(issuer, CHALLENGE) for _ in range(batch)]
        tickets += await api.sign(receipt["receipt_id"], pending, headers=kiosk)
    return tickets


def statuses(result: dict[str, Any]) -> Counter[str]:
    return Counter(item["status"] for item in result["results"])


async def test_t6a_already_redeemed_tickets_are_duplicates_and_reported(
    api: TokensApi,
    issuer: sdk.IssuerKey,
    kiosk: dict[str, str],
    validator: dict[str, str],
) -> None:
    tickets = await buy(api, issuer, kiosk, 20)
    online = tickets[:10]
    for ticket in online:
        assert (await api.redeem(ticket, "conductor-1", headers=validator))["status"] == "accepted"
    later = datetime.now(UTC)
    queue = [(f"local-{i}", t, later) for i, t in enumerate(tickets)]
    result = await api.sync_offline("train-7", queue, headers=validator)
    assert result["synced"] == 20
    assert [r["local_id"] for r in result["results"]] == [q[0] for q in queue]  # input order
    assert statuses(result) == {"accepted": 10, "duplicate": 10}
    assert len(result["conflicts"]) == 10
    conflict = next(c for c in result["conflicts"] if c["local_id"] == "local-0")
    assert conflict["token_hash"] == online[0].spent_key().hex()
    assert conflict["original"]["validator_id"] == "conductor-1"
    assert conflict["duplicate"]["validator_id"] == "train-7"
    # Every ticket is now spent, whichever way it was accepted.
    for ticket in tickets:
        assert (await api.redeem(ticket, "conductor-2", headers=validator))["reason"] == "spent"


async def test_t6b_resending_a_batch_replays_the_same_results(
    api: TokensApi,
    issuer: sdk.IssuerKey,
    kiosk: dict[str, str],
    validator: dict[str, str],
) -> None:
    tickets = await buy(api, issuer, kiosk, 6)
    await api.redeem(tickets[0], "conductor-1", headers=validator)
    now = datetime.now(UTC)
    queue = [(f"q{i}", t, now) for i, t in enumerate(tickets)]
    first = await api.sync_offline("train-7", queue, headers=validator)
    second = await api.sync_offline("train-7", queue, headers=validator)
    assert second == first
    assert statuses(first) == {"accepted": 5, "duplicate": 1}

    # Another device's key is another scope: the same local ids are new items there, and
    # the tickets are all spent by now.
    other = await api.sync_offline("train-7", queue, headers=await make_api_key_for(api))
    assert statuses(other) == {"duplicate": 6}


async def make_api_key_for(api: TokensApi) -> dict[str, str]:
    runtime = api.http._transport.app.state.runtime  # type: ignore[attr-defined]
    return await make_api_key(runtime, "validator")


async def test_t6c_overlapping_batches_from_two_devices_accept_each_ticket_once(
    api: TokensApi,
    issuer: sdk.IssuerKey,
    kiosk: dict[str, str],
    validator: dict[str, str],
    runtime: Any,
) -> None:
    tickets = await buy(api, issuer, kiosk, 150)
    second_device = await make_api_key(runtime, "validator")
    now = datetime.now(UTC)
    batch_a = [(f"a{i}", t, now) for i, t in enumerate(tickets[:100])]
    batch_b = [(f"b{i}", t, now) for i, t in enumerate(reversed(tickets[50:]))]
    result_a, result_b = await asyncio.gather(
        api.sync_offline("device-a", batch_a, headers=validator),
        api.sync_offline("device-b", batch_b, headers=second_device),
    )
    accepted = statuses(result_a)["accepted"] + statuses(result_b)["accepted"]
    assert accepted == 150
    assert statuses(result_a)["duplicate"] + statuses(result_b)["duplicate"] == 50
    shared = {t.spent_key().hex() for t in tickets[50:100]}
    accepted_hashes = Counter(
        c["token_hash"] for c in result_a["conflicts"] + result_b["conflicts"]
    )
    assert set(accepted_hashes) == shared and set(accepted_hashes.values()) == {1}


async def test_earliest_claimed_spend_is_recorded_as_the_original(
    client: httpx2.AsyncClient,
    api: TokensApi,
    issuer: sdk.IssuerKey,
    kiosk: dict[str, str],
    validator: dict[str, str],
    runtime: Any,
) -> None:
    (ticket,) = await buy(api, issuer, kiosk, 1)
    assert (await api.redeem(ticket, "conductor-1", headers=validator))["status"] == "accepted"
    earlier = datetime.now(UTC) - timedelta(seconds=30)  # accepted offline before the online scan
    result = await api.sync_offline("train-3", [("x1", ticket, earlier)], headers=validator)
    (conflict,) = result["conflicts"]
    assert result["results"] == [{"local_id": "x1", "status": "duplicate"}]
    assert conflict["original"]["validator_id"] == "train-3"
    assert datetime.fromisoformat(conflict["original"]["redeemed_at"]) == earlier
    assert conflict["duplicate"]["validator_id"] == "conductor-1"

    admin = await make_admin(client, runtime)
    review = (await client.get("/v1/admin/double_spends", headers=admin.headers)).json()
    assert review["total"] == 1
    assert review["items"][0]["original"]["validator_id"] == "train-3"
    assert review["items"][0]["duplicate_channel"] == "online"


async def test_offline_policy_refuses_impossible_claims(
    api: TokensApi,
    issuer: sdk.IssuerKey,
    kiosk: dict[str, str],
    validator: dict[str, str],
) -> None:
    future, before_key, fine = await buy(api, issuer, kiosk, 3)
    now = datetime.now(UTC)
    forged = sdk.FinishedToken(fine.token_input, bytes(256))
    result = await api.sync_offline(
        "train-1",
        [
            ("f", future, now + timedelta(hours=1)),
            ("b", before_key, now - timedelta(days=365)),
            ("x", forged, now),
            ("ok", fine, now),
        ],
        headers=validator,
    )
    assert {r["local_id"]: r["status"] for r in result["results"]} == {
        "f": "invalid",
        "b": "invalid",
        "x": "invalid",
        "ok": "accepted",
    }
    assert {e["local_id"] for e in result["errors"]} == {"f", "b", "x"}


async def test_sync_needs_a_validator_and_a_sane_batch(
    client: httpx2.AsyncClient, kiosk: dict[str, str], validator: dict[str, str]
) -> None:
    body = {"validator_id": "t", "accepted_tokens": []}
    assert (await client.post("/v1/sync_offline", json=body, headers=kiosk)).status_code == 403
    empty = await client.post("/v1/sync_offline", json=body, headers=validator)
    assert empty.json() == {"synced": 0, "conflicts": [], "errors": [], "results": []}
    item = {"local_id": "1", "token": "AAAA", "redeemed_at": "2025-01-01T00:00:00"}
    naive = await client.post(
        "/v1/sync_offline",
        json={"validator_id": "t", "accepted_tokens": [item]},
        headers=validator,
    )
    assert naive.status_code == 422  # timestamps must carry an offset
    twice = {**item, "redeemed_at": "2025-01-01T00:00:00Z"}
    dup = await client.post(
        "/v1/sync_offline",
        json={"validator_id": "t", "accepted_tokens": [twice, twice]},
        headers=validator,
    )
    assert dup.status_code == 422
