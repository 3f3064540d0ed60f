"""Races over real HTTP against a real server process on PostgreSQL (reliability plan T3).

Many clients at once, a start barrier (`asyncio.gather` of prepared requests), and exact
counts: one acceptance per ticket, one mint per allowance unit, never a 5xx.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select
from tests.conftest import make_settings
from tests.helpers.server import serve
from tests.modules.tokens.conftest import CHALLENGE

from tessera.client import tokens as sdk
from tessera.client.tokens_http import TokensApi
from tessera.core.config import Settings
from tessera.core.db.base import utcnow
from tessera.core.db.engine import Database
from tessera.core.identity.api_keys import create_api_key
from tessera.modules.tokens.config import TokensConfig
from tessera.modules.tokens.keyring import store_key
from tessera.modules.tokens.models import SpentToken

pytestmark = pytest.mark.parametrize("engine", ["postgresql"], indirect=True)

# Idle connections are dropped by the client (1 s) before uvicorn drops them (5 s): otherwise
# a busy machine can make the client reuse a socket the server is closing (a ReadError that
# says nothing about the service).
LIMITS = httpx2.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=1.0)


async def prepare_server(
    database_url: str, settings: Settings, private_key: rsa.RSAPrivateKey
) -> dict[str, dict[str, str]]:
    """Install the issuer key and make kiosk/validator/staff keys, straight in the database."""
    db = Database(database_url)
    headers = {}
    try:
        async with db.session(write=True) as session:
            start = utcnow() - timedelta(minutes=1)
            stored = await store_key(
                session,
                TokensConfig.from_settings(settings).kek,
                private_key,
                not_before=start,
                expires_at=start + timedelta(days=1),
            )
            assert stored is not None
            for role in ("kiosk", "validator", "staff"):
                _, plaintext = await create_api_key(session, name=f"race-{role}", role=role)
                headers[role] = {"Authorization": f"ApiKey {plaintext}"}
    finally:
        await db.dispose()
    return headers


async def spent_rows(database_url: str) -> int:
    db = Database(database_url)
    try:
        async with db.session(write=False) as session:
            return int(await session.scalar(select(func.count()).select_from(SpentToken)) or 0)
    finally:
        await db.dispose()


async def burst(calls: list[Callable[[], Awaitable[httpx2.Response]]]) -> list[httpx2.Response]:
    """Fire every prepared request at once."""
    return list(await asyncio.gather(*(call() for call in calls)))


def codes(responses: list[httpx2.Response]) -> Counter[int]:
    return Counter(r.status_code for r in responses)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def test_t3_100_tickets_times_10_parallel_redemptions(
    live_server: str, database_url: str, settings: Settings, issuer_key: rsa.RSAPrivateKey
) -> None:
    roles = await prepare_server(database_url, settings, issuer_key)
    issuer = sdk.IssuerKey(issuer_key.public_key())
    async with httpx2.AsyncClient(base_url=live_server, limits=LIMITS, timeout=60) as http:
        api = TokensApi(http)
        receipt = await api.verify_receipt(
            "test", "t3", amount_cents=250 * 100, headers=roles["kiosk"]
        )
        pending = [sdk.request_token(issuer, CHALLENGE) for _ in range(100)]
        tickets = await api.sign(receipt["receipt_id"], pending, headers=roles["kiosk"])

        def redeem(ticket: sdk.FinishedToken, gate: int) -> Callable[[], Awaitable[Any]]:
            body = {
                "token": b64(ticket.token_input),
                "signature": b64(ticket.signature),
                "validator_id": f"gate-{gate}",
            }
            return lambda: http.post("/v1/redeem", json=body, headers=roles["validator"])

        responses = await burst([redeem(t, g) for g in range(10) for t in tickets])
    assert codes(responses) == {200: 1000}  # no 5xx, no 4xx
    outcomes = Counter(r.json().get("reason", r.json()["status"]) for r in responses)
    assert outcomes == {"accepted": 100, "spent": 900}
    assert await spent_rows(database_url) == 100


async def test_parallel_mints_and_voucher_spends_stop_exactly_at_the_limit(
    live_server: str, database_url: str, settings: Settings, issuer_key: rsa.RSAPrivateKey
) -> None:
    roles = await prepare_server(database_url, settings, issuer_key)
    issuer = sdk.IssuerKey(issuer_key.public_key())
    blinded = [sdk.request_token(issuer, CHALLENGE).blinded_msg for _ in range(50)]
    async with httpx2.AsyncClient(base_url=live_server, limits=LIMITS, timeout=60) as http:
        api = TokensApi(http)
        receipt = await api.verify_receipt(
            "test", f"r-{uuid.uuid4()}", amount_cents=250 * 10, headers=roles["kiosk"]
        )

        def mint(b: bytes) -> Callable[[], Awaitable[httpx2.Response]]:
            body = {"receipt_id": receipt["receipt_id"], "blinded_token": b64(b)}
            return lambda: http.post("/v1/sign_blinded", json=body, headers=roles["kiosk"])

        mints = await burst([mint(b) for b in blinded[:40]])

        created = await http.post(
            "/v1/create_voucher", json={"balance_cents": 5 * 250}, headers=roles["staff"]
        )
        code = created.json()["voucher_code"]

        def spend(b: bytes) -> Callable[[], Awaitable[httpx2.Response]]:
            body = {"voucher_code": code, "amount_cents": 250, "blinded_token": b64(b)}
            return lambda: http.post("/v1/redeem_voucher", json=body, headers=roles["kiosk"])

        spends = await burst([spend(b) for b in blinded])
        balance = await http.get("/v1/voucher_balance", params={"code": code})
    assert codes(mints) == {200: 10, 409: 30}
    assert codes(spends) == {200: 5, 400: 45}
    assert balance.json()["balance"] == 0


async def test_a_burst_of_signers_larger_than_the_pool_gets_no_503_and_exact_counts(
    database_url: str, tmp_path: Path, issuer_key: rsa.RSAPrivateKey
) -> None:
    """40 batches of 5 at once against a server with 2 pooled connections and no overflow,
    on a receipt allowing 100: no request waits for a connection while another signs, so
    none is refused for want of one; exactly 20 batches are issued and every signature
    verifies; the other 20 get 409 `receipt_exhausted`."""
    settings = make_settings(database_url, tmp_path, db_pool_size=2, db_max_overflow=0)
    roles = await prepare_server(database_url, settings, issuer_key)
    issuer = sdk.IssuerKey(issuer_key.public_key())
    batches = [[sdk.request_token(issuer, CHALLENGE) for _ in range(5)] for _ in range(40)]
    blinded_one = sdk.request_token(issuer, CHALLENGE).blinded_msg
    with serve(settings, tmp_path / "small_pool.log") as base:
        async with httpx2.AsyncClient(base_url=base, limits=LIMITS, timeout=120) as http:
            api = TokensApi(http)
            receipt = await api.verify_receipt(
                "test", "burst", amount_cents=250 * 100, headers=roles["kiosk"]
            )

            def mint(batch: list[sdk.PendingToken]) -> Callable[[], Awaitable[httpx2.Response]]:
                body = {
                    "receipt_id": receipt["receipt_id"],
                    "blinded_tokens": [b64(p.blinded_msg) for p in batch],
                }
                return lambda: http.post("/v1/sign_blinded", json=body, headers=roles["kiosk"])

            responses = await burst([mint(batch) for batch in batches])
            left = await http.post(
                "/v1/sign_blinded",
                json={"receipt_id": receipt["receipt_id"], "blinded_token": b64(blinded_one)},
                headers=roles["kiosk"],
            )
    assert codes(responses) == {200: 20, 409: 20}
    assert {r.json()["error"] for r in responses if r.status_code == 409} == {"receipt_exhausted"}
    issued = [(r, b) for r, b in zip(responses, batches, strict=True) if r.status_code == 200]
    assert sorted(r.json()["tokens_remaining"] for r, _ in issued) == list(range(0, 100, 5))
    for response, batch in issued:
        signed = response.json()["signed_blinded_tokens"]
        for pending, signature in zip(batch, signed, strict=True):
            ticket = sdk.finalize(pending, base64.b64decode(signature))
            assert sdk.verify(issuer, ticket.token_input, ticket.signature)
    assert left.status_code == 409  # the allowance is spent exactly
