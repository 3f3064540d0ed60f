"""GET /v1/bloom: every spent ticket is in the served filter, and caching works."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
from sqlalchemy import func, select
from tests.helpers.identity import make_admin, register_and_login
from tests.modules.tokens.conftest import CHALLENGE

from tessera.client import tokens as sdk
from tessera.client.tokens_http import TokensApi
from tessera.core.db.base import utcnow
from tessera.modules.tokens.models import BloomSnapshotRow
from tessera.protocols.tokens.bloom import BloomSnapshot


async def buy(
    api: TokensApi, issuer: sdk.IssuerKey, kiosk: dict[str, str], count: int
) -> list[sdk.FinishedToken]:
    receipt = await api.verify_receipt(
        "test", f"card-{utcnow().timestamp()}", amount_cents=250 * count, headers=kiosk
    )
    pending = [sdk.request_token(issuer, CHALLENGE) for _ in range(count)]
    return await api.sign(receipt["receipt_id"], pending, headers=kiosk)


async def run_job(runtime: Any) -> None:
    scheduler = runtime.scheduler
    ran = await scheduler.run_job(
        scheduler.jobs["tokens.bloom_rebuild"], key=f"test:{utcnow().isoformat()}"
    )
    assert ran


async def test_every_spent_ticket_is_in_the_served_filter(
    client: httpx2.AsyncClient,
    api: TokensApi,
    issuer: sdk.IssuerKey,
    kiosk: dict[str, str],
    validator: dict[str, str],
    runtime: Any,
) -> None:
    tickets = await buy(api, issuer, kiosk, 40)
    online, offline, unspent = tickets[:15], tickets[15:30], tickets[30:]
    for ticket in online[:5]:
        await api.redeem(ticket, "gate-1", headers=validator)
    await run_job(runtime)  # a stored snapshot, then spends after it (served as increments)
    for ticket in online[5:]:
        await api.redeem(ticket, "gate-1", headers=validator)
    now = datetime.now(UTC)
    await api.sync_offline(
        "train-1", [(f"o{i}", t, now) for i, t in enumerate(offline)], headers=validator
    )

    document = await api.bloom(headers=validator)
    assert document["hash"] == "sha256-km-v1" and document["p"] == 1e-6
    snapshot = BloomSnapshot.from_json(document)
    for ticket in online + offline:
        assert sdk.possibly_spent(ticket.token_input, snapshot)
    assert not any(sdk.possibly_spent(t.token_input, snapshot) for t in unspent)
    assert document["n"] == 30
    # A validator offline decides with it.
    assert sdk.offline_check(issuer, online[0].token_input, online[0].signature, document) == (
        sdk.OfflineVerdict.SPENT
    )
    assert sdk.offline_check(issuer, unspent[0].token_input, unspent[0].signature, document) == (
        sdk.OfflineVerdict.ACCEPT
    )
    valid_until = datetime.fromisoformat(document["valid_until"])
    assert timedelta(minutes=59) < valid_until - datetime.now(UTC) <= timedelta(hours=1)


async def test_filter_is_sized_for_the_target_rate_and_measured_within_twice_it(
    api: TokensApi,
    issuer: sdk.IssuerKey,
    kiosk: dict[str, str],
    validator: dict[str, str],
) -> None:
    tickets = await buy(api, issuer, kiosk, 10)
    for ticket in tickets:
        await api.redeem(ticket, "gate-1", headers=validator)
    document = await api.bloom(headers=validator)
    # Sized for its capacity (at least 10 000 spends) at p = 1e-6: ~28.8 bits per element.
    assert document["m"] >= 28 * 10_000 and document["k"] == 20
    snapshot = BloomSnapshot.from_json(document)
    # 10 elements in a filter built for 10 000 at 1e-6: the expected rate is far below one in
    # 20 000 (the rate at capacity is measured in test_tokens_bloom.py).
    false_positives = sum(os.urandom(32) in snapshot.filter for _ in range(20_000))
    assert false_positives == 0


async def test_etag_and_if_none_match(
    client: httpx2.AsyncClient,
    api: TokensApi,
    issuer: sdk.IssuerKey,
    kiosk: dict[str, str],
    validator: dict[str, str],
) -> None:
    first = await client.get("/v1/bloom", headers=validator)
    assert first.status_code == 200
    etag = first.headers["etag"]
    same = await client.get("/v1/bloom", headers={**validator, "If-None-Match": etag})
    assert same.status_code == 304 and same.headers["etag"] == etag

    (ticket,) = await buy(api, issuer, kiosk, 1)
    await api.redeem(ticket, "gate-1", headers=validator)
    changed = await client.get("/v1/bloom", headers={**validator, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert sdk.possibly_spent(ticket.token_input, changed.json())


async def test_the_job_stores_numbered_snapshots(
    api: TokensApi,
    issuer: sdk.IssuerKey,
    kiosk: dict[str, str],
    validator: dict[str, str],
    runtime: Any,
) -> None:
    tickets = await buy(api, issuer, kiosk, 3)
    for ticket in tickets:
        await api.redeem(ticket, "gate-1", headers=validator)
    await run_job(runtime)
    await run_job(runtime)
    async with runtime.db.session(write=False) as session:
        versions = list(await session.scalars(select(BloomSnapshotRow.version)))
        latest = await session.get(BloomSnapshotRow, max(versions))
    assert sorted(versions) == [1, 2]  # older snapshots are pruned, the previous one kept
    assert latest is not None and latest.n == 3
    document = await api.bloom(headers=validator)
    assert document["version"] == 2 and document["n"] == 3


async def test_the_filter_is_for_validators_and_admins(
    client: httpx2.AsyncClient, kiosk: dict[str, str], runtime: Any
) -> None:
    assert (await client.get("/v1/bloom")).status_code == 401
    assert (await client.get("/v1/bloom", headers=kiosk)).status_code == 403
    rider = await register_and_login(client)
    assert (await client.get("/v1/bloom", headers=rider.headers)).status_code == 403
    admin = await make_admin(client, runtime)
    assert (await client.get("/v1/bloom", headers=admin.headers)).status_code == 200
    async with runtime.db.session(write=False) as session:  # a GET never writes a snapshot
        count = await session.scalar(select(func.count()).select_from(BloomSnapshotRow))
    assert count == 0
