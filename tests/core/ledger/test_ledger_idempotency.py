"""Idempotency-Key on the wallet's money-moving POSTs (reliability plan I1–I3, I6, I8)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select

from tessera.core.ledger import LedgerTransaction
from tests.helpers.identity import AuthedUser, register_and_login

WALLET = "/api/v1/wallet"


async def movements(runtime: Any) -> int:
    async with runtime.db.session(write=False) as session:
        return int(await session.scalar(select(func.count()).select_from(LedgerTransaction)) or 0)


async def funded(client: httpx2.AsyncClient, amount: str = "100.00") -> AuthedUser:
    user = await register_and_login(client)
    response = await client.post(
        f"{WALLET}/deposit", json={"amount_usd": amount}, headers=user.headers
    )
    assert response.status_code == 200
    return user


async def test_i1_a_replay_returns_the_stored_reply_byte_for_byte(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    user = await funded(client)
    headers = user.headers | {"Idempotency-Key": "withdraw-0001"}
    replies = [
        await client.post(f"{WALLET}/withdraw", json={"amount_usd": "7.50"}, headers=headers)
        for _ in range(10)
    ]
    assert {r.status_code for r in replies} == {200}
    assert len({r.content for r in replies}) == 1
    assert "Idempotent-Replayed" not in replies[0].headers
    assert all(r.headers["Idempotent-Replayed"] == "true" for r in replies[1:])
    assert await movements(runtime) == 2  # the funding deposit and one withdrawal
    wallet = (await client.get(WALLET, headers=user.headers)).json()
    assert wallet["balance_usd"] == "92.50"
    async with runtime.db.session(write=False) as session:
        stored = await session.scalar(
            select(LedgerTransaction.idempotency_key).where(LedgerTransaction.kind == "WITHDRAWAL")
        )
    assert stored == "withdraw-0001"


async def test_i2_the_same_key_with_another_body_is_422_and_moves_nothing(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    user = await funded(client)
    headers = user.headers | {"Idempotency-Key": "deposit-a"}
    first = await client.post(f"{WALLET}/deposit", json={"amount_usd": "1.00"}, headers=headers)
    assert first.status_code == 200
    other = await client.post(f"{WALLET}/deposit", json={"amount_usd": "2.00"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["error"] == "idempotency_key_reused"
    elsewhere = await client.post(
        f"{WALLET}/withdraw", json={"amount_usd": "1.00"}, headers=headers
    )
    assert elsewhere.status_code == 422  # the key names one request, whatever the path
    assert await movements(runtime) == 2
    assert (await client.get(WALLET, headers=user.headers)).json()["balance_usd"] == "101.00"


async def test_i3_one_key_sent_fifty_times_at_once_moves_money_once(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    user = await funded(client)
    headers = user.headers | {"Idempotency-Key": "burst-key"}

    async def send() -> httpx2.Response:
        return await client.post(f"{WALLET}/withdraw", json={"amount_usd": "3.00"}, headers=headers)

    replies = await asyncio.gather(*(send() for _ in range(50)))
    statuses = Counter(r.status_code for r in replies)
    assert set(statuses) <= {200, 409}, statuses
    successes = [r for r in replies if r.status_code == 200]
    assert len({r.content for r in successes}) == 1  # the one execution, or its replay
    assert await movements(runtime) == 2
    assert (await client.get(WALLET, headers=user.headers)).json()["balance_usd"] == "97.00"


@pytest.mark.parametrize("key", ["k" * 256, "bad\x01key", "   ", "ключ".encode()], ids=repr)
async def test_i6_a_malformed_key_is_400_and_moves_nothing(
    client: httpx2.AsyncClient, runtime: Any, key: str | bytes
) -> None:
    user = await funded(client)
    response = await client.post(
        f"{WALLET}/withdraw",
        json={"amount_usd": "1.00"},
        headers=user.headers | {"Idempotency-Key": key},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_idempotency_key"
    assert await movements(runtime) == 1


async def test_i6_without_a_key_each_request_runs(client: httpx2.AsyncClient, runtime: Any) -> None:
    user = await funded(client)
    for _ in range(2):
        response = await client.post(
            f"{WALLET}/withdraw", json={"amount_usd": "1.00"}, headers=user.headers
        )
        assert response.status_code == 200
    assert await movements(runtime) == 3


async def test_i8_failed_requests_are_not_stored_so_a_fixed_retry_runs(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    user = await funded(client, "5.00")
    headers = user.headers | {"Idempotency-Key": "fix-and-retry"}
    invalid = await client.post(f"{WALLET}/withdraw", json={"amount_usd": "0"}, headers=headers)
    assert invalid.status_code == 422
    too_much = await client.post(f"{WALLET}/withdraw", json={"amount_usd": "9.00"}, headers=headers)
    assert too_much.status_code == 400  # a refusal is not stored either
    fixed = await client.post(f"{WALLET}/withdraw", json={"amount_usd": "2.00"}, headers=headers)
    assert fixed.status_code == 200 and "Idempotent-Replayed" not in fixed.headers
    assert (await client.get(WALLET, headers=user.headers)).json()["balance_usd"] == "3.00"


async def test_keys_belong_to_their_caller(client: httpx2.AsyncClient, runtime: Any) -> None:
    alice, bob = await funded(client), await funded(client)
    key = {"Idempotency-Key": "shared-key"}
    mine = await client.post(
        f"{WALLET}/withdraw", json={"amount_usd": "1.00"}, headers=alice.headers | key
    )
    theirs = await client.post(
        f"{WALLET}/withdraw", json={"amount_usd": "1.00"}, headers=bob.headers | key
    )
    assert theirs.status_code == 200 and "Idempotent-Replayed" not in theirs.headers
    assert theirs.json()["ledger_id"] != mine.json()["ledger_id"]
    assert await movements(runtime) == 4
