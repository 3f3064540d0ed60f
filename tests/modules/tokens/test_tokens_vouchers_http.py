"""Prepaid vouchers: sold by staff, spent anonymously, never below zero."""

from __future__ import annotations

import asyncio
import base64
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
from sqlalchemy import select, update
from tests.helpers.identity import make_admin, register_and_login
from tests.modules.tokens.conftest import CHALLENGE

from tessera.client import tokens as sdk
from tessera.client.tokens_http import TokensApi
from tessera.modules.tokens.models import Voucher

CODE = re.compile(r"^[A-HJ-NP-Z2-9]{4}(-[A-HJ-NP-Z2-9]{4}){3}$")  # no I, O, 0, 1


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def sell(client: httpx2.AsyncClient, staff: dict[str, str], cents: int, **extra: Any) -> str:
    response = await client.post(
        "/v1/create_voucher", json={"balance_cents": cents, **extra}, headers=staff
    )
    assert response.status_code == 201, response.text
    code: str = response.json()["voucher_code"]
    return code


async def test_staff_sell_vouchers_and_riders_spend_them_without_an_account(
    client: httpx2.AsyncClient,
    issuer: sdk.IssuerKey,
    staff: dict[str, str],
    validator: dict[str, str],
    runtime: Any,
) -> None:
    created = await client.post(
        "/v1/create_voucher",
        json={"balance_cents": 1000, "currency": "usd", "staff_id": "counter-3"},
        headers=staff,
    )
    assert created.status_code == 201
    body = created.json()
    assert CODE.match(body["voucher_code"]), body["voucher_code"]
    assert body["balance"] == 1000 and body["currency"] == "USD"
    expires = datetime.fromisoformat(body["expires"])
    assert timedelta(days=364) < expires - datetime.now(UTC) <= timedelta(days=365)

    async with runtime.db.session(write=False) as session:
        stored = (await session.scalars(select(Voucher))).one()
    plain = body["voucher_code"].replace("-", "")
    assert plain not in stored.code_hash and body["voucher_code"] not in stored.code_hash

    # The rider, with no credentials at all, buys two tickets (lower-case, no dashes: fine).
    pending = [sdk.request_token(issuer, CHALLENGE) for _ in range(2)]
    tickets, remaining = await TokensApi(client).redeem_voucher(plain.lower(), 500, pending)
    assert remaining == 500
    for ticket in tickets:
        assert await TokensApi(client).redeem(ticket, "gate", headers=validator) == {
            "status": "accepted"
        }

    single = sdk.request_token(issuer, CHALLENGE)
    response = await client.post(
        "/v1/redeem_voucher",
        json={
            "voucher_code": body["voucher_code"],
            "amount_cents": 250,
            "blinded_token": b64(single.blinded_msg),
        },
    )
    assert response.status_code == 200
    assert set(response.json()) == {"signed_blinded", "remaining_balance", "key_id"}
    assert response.json()["remaining_balance"] == 250

    balance = await client.get("/v1/voucher_balance", params={"code": body["voucher_code"]})
    assert balance.status_code == 200
    assert balance.json()["balance"] == 250 and balance.json()["original_amount"] == 1000
    assert balance.json()["currency"] == "USD"
    posted = await client.post("/v1/voucher_balance", json={"voucher_code": plain})
    assert posted.json() == balance.json()


async def test_voucher_refusals(
    client: httpx2.AsyncClient, issuer: sdk.IssuerKey, staff: dict[str, str], runtime: Any
) -> None:
    code = await sell(client, staff, 250)
    pending = sdk.request_token(issuer, CHALLENGE)

    async def redeem(voucher: str, amount: int) -> httpx2.Response:
        return await client.post(
            "/v1/redeem_voucher",
            json={
                "voucher_code": voucher,
                "amount_cents": amount,
                "blinded_token": b64(pending.blinded_msg),
            },
        )

    wrong_amount = await redeem(code, 100)
    assert wrong_amount.status_code == 422 and wrong_amount.json()["error"] == "invalid_amount"
    unknown = await redeem("ABCD-EFGH-JKLM-NPQR", 250)
    assert unknown.status_code == 404 and unknown.json()["error"] == "voucher_not_found"
    not_a_code = await redeem("0000-1111", 250)
    assert not_a_code.status_code == 404
    assert (await redeem(code, 250)).status_code == 200
    empty = await redeem(code, 250)
    assert empty.status_code == 400 and empty.json()["error"] == "insufficient_balance"

    stale = await sell(client, staff, 500)
    async with runtime.db.session() as session:
        await session.execute(
            update(Voucher).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    expired = await redeem(stale, 250)
    assert expired.status_code == 400 and expired.json()["error"] == "voucher_expired"
    missing = await client.get("/v1/voucher_balance", params={"code": "ZZZZ-ZZZZ-ZZZZ-ZZZZ"})
    assert missing.status_code == 404


async def test_only_staff_and_admins_create_vouchers(
    client: httpx2.AsyncClient, kiosk: dict[str, str], runtime: Any
) -> None:
    body = {"balance_cents": 500}
    assert (await client.post("/v1/create_voucher", json=body)).status_code == 401
    assert (await client.post("/v1/create_voucher", json=body, headers=kiosk)).status_code == 403
    rider = await register_and_login(client)
    response = await client.post("/v1/create_voucher", json=body, headers=rider.headers)
    assert response.status_code == 403
    admin = await make_admin(client, runtime)
    response = await client.post("/v1/create_voucher", json=body, headers=admin.headers)
    assert response.status_code == 201
    past = await client.post(
        "/v1/create_voucher",
        json={"balance_cents": 500, "expires_at": "2020-01-01T00:00:00Z"},
        headers=admin.headers,
    )
    assert past.status_code == 422
    other_currency = await client.post(
        "/v1/create_voucher", json={"balance_cents": 500, "currency": "CHF"}, headers=admin.headers
    )
    assert other_currency.status_code == 422


async def test_a_voucher_worth_five_tickets_yields_exactly_five_under_fifty_parallel_spends(
    client: httpx2.AsyncClient,
    issuer: sdk.IssuerKey,
    staff: dict[str, str],
    kiosk: dict[str, str],
) -> None:
    code = await sell(client, staff, 5 * 250)
    pending = [sdk.request_token(issuer, CHALLENGE) for _ in range(50)]

    async def spend(p: sdk.PendingToken) -> int:
        response = await client.post(
            "/v1/redeem_voucher",
            json={"voucher_code": code, "amount_cents": 250, "blinded_token": b64(p.blinded_msg)},
            headers=kiosk,
        )
        return response.status_code

    outcomes = Counter(await asyncio.gather(*(spend(p) for p in pending)))
    assert outcomes == {200: 5, 400: 45}
    balance = await client.get("/v1/voucher_balance", params={"code": code})
    assert balance.json()["balance"] == 0


async def test_voucher_redemption_is_idempotent(
    client: httpx2.AsyncClient, issuer: sdk.IssuerKey, staff: dict[str, str]
) -> None:
    code = await sell(client, staff, 500)
    pending = sdk.request_token(issuer, CHALLENGE)
    body = {"voucher_code": code, "amount_cents": 250, "blinded_token": b64(pending.blinded_msg)}
    headers = {"Idempotency-Key": "pay-1"}
    first = await client.post("/v1/redeem_voucher", json=body, headers=headers)
    second = await client.post("/v1/redeem_voucher", json=body, headers=headers)
    assert first.status_code == 200 and second.json() == first.json()
    balance = await client.get("/v1/voucher_balance", params={"code": code})
    assert balance.json()["balance"] == 250  # paid once
