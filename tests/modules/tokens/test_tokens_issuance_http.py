"""Buying tickets: receipts (test, hmac, wallet), blind signing, allowances, ownership."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections import Counter
from typing import Any

import httpx2
import pytest
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives.asymmetric import rsa
from tests.conftest import make_settings
from tests.helpers.identity import make_api_key, register_and_login
from tests.modules.tokens.conftest import CHALLENGE, install_key

from tessera.app import create_app
from tessera.client import tokens as sdk
from tessera.client.tokens_http import TokensApi, TokensApiError
from tessera.modules.tokens.config import TokensSettings
from tessera.modules.tokens.payments import sign_receipt

PRICE = 250  # the default TOKEN_PRICE_CENTS


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def receipt(client: httpx2.AsyncClient, headers: dict[str, str], tokens: int = 1) -> str:
    response = await client.post(
        "/v1/verify_receipt",
        json={
            "payment_provider": "test",
            "provider_receipt_id": f"card-{uuid.uuid4().hex}",
            "amount_cents": tokens * PRICE,
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    receipt_id: str = response.json()["receipt_id"]
    return receipt_id


async def test_test_receipt_allows_amount_over_price_tokens_and_cannot_be_reused(
    client: httpx2.AsyncClient, kiosk: dict[str, str]
) -> None:
    body = {"payment_provider": "TEST", "provider_receipt_id": "pos-0001", "amount_cents": 1000}
    first = await client.post("/v1/verify_receipt", json=body, headers=kiosk)
    assert first.status_code == 201
    assert first.json()["status"] == "verified"
    assert first.json()["tokens_allowed"] == 4

    again = await client.post("/v1/verify_receipt", json=body, headers=kiosk)
    assert again.status_code == 409
    assert again.json()["error"] == "receipt_already_used"

    odd = await client.post(
        "/v1/verify_receipt",
        json={**body, "provider_receipt_id": "pos-0002", "amount_cents": 300},
        headers=kiosk,
    )
    assert odd.status_code == 422 and odd.json()["error"] == "invalid_amount"
    unknown = await client.post(
        "/v1/verify_receipt",
        json={**body, "payment_provider": "bitcoin", "provider_receipt_id": "x"},
        headers=kiosk,
    )
    assert unknown.status_code == 400 and unknown.json()["error"] == "unknown_provider"


async def test_receipts_need_a_kiosk_key_or_a_user(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    body = {"payment_provider": "test", "provider_receipt_id": "pos-1"}
    assert (await client.post("/v1/verify_receipt", json=body)).status_code == 401
    validator = await make_api_key(runtime, "validator")
    denied = await client.post("/v1/verify_receipt", json=body, headers=validator)
    assert denied.status_code == 403


@pytest.fixture
async def hmac_client(database_url: str, tmp_path: Any) -> Any:
    settings = make_settings(
        database_url,
        tmp_path,
        module_settings=[TokensSettings(receipt_hmac_secret="s" * 32)],
    )
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http, app.state.runtime


async def test_hmac_receipts_must_carry_the_payment_adapters_signature(hmac_client: Any) -> None:
    client, runtime = hmac_client
    kiosk = await make_api_key(runtime, "kiosk")
    signature = sign_receipt(b"s" * 32, "psp-77", 500, "USD")
    body = {
        "payment_provider": "hmac",
        "provider_receipt_id": "psp-77",
        "amount_cents": 500,
        "currency": "USD",
        "signature": signature,
    }
    forged = await client.post(
        "/v1/verify_receipt", json={**body, "amount_cents": 5000}, headers=kiosk
    )
    assert forged.status_code == 402 and forged.json()["error"] == "receipt_rejected"
    good = await client.post("/v1/verify_receipt", json=body, headers=kiosk)
    assert good.status_code == 201 and good.json()["tokens_allowed"] == 2
    replay = await client.post("/v1/verify_receipt", json=body, headers=kiosk)
    assert replay.status_code == 409


async def test_hmac_provider_is_off_without_a_secret(
    client: httpx2.AsyncClient, kiosk: dict[str, str]
) -> None:
    response = await client.post(
        "/v1/verify_receipt",
        json={
            "payment_provider": "hmac",
            "provider_receipt_id": "psp-1",
            "amount_cents": 250,
            "currency": "USD",
            "signature": "00",
        },
        headers=kiosk,
    )
    assert response.status_code == 400 and response.json()["error"] == "provider_unavailable"


async def test_wallet_receipt_debits_the_callers_wallet_and_only_they_can_mint_from_it(
    client: httpx2.AsyncClient, issuer: sdk.IssuerKey, kiosk: dict[str, str]
) -> None:
    rider = await register_and_login(client)
    deposit = await client.post(
        "/api/v1/wallet/deposit", json={"amount_usd": "10.00"}, headers=rider.headers
    )
    assert deposit.status_code == 200, deposit.text

    bought = await client.post(
        "/v1/verify_receipt",
        json={"payment_provider": "wallet", "provider_receipt_id": "order-1", "amount_cents": 750},
        headers={**rider.headers, "Idempotency-Key": "buy-1"},
    )
    assert bought.status_code == 201, bought.text
    assert bought.json()["tokens_allowed"] == 3
    wallet = (await client.get("/api/v1/wallet", headers=rider.headers)).json()
    assert float(wallet["balance_usd"]) == 2.5

    replayed = await client.post(
        "/v1/verify_receipt",
        json={"payment_provider": "wallet", "provider_receipt_id": "order-1", "amount_cents": 750},
        headers={**rider.headers, "Idempotency-Key": "buy-1"},
    )
    assert replayed.json() == bought.json()
    wallet = (await client.get("/api/v1/wallet", headers=rider.headers)).json()
    assert float(wallet["balance_usd"]) == 2.5  # charged once

    too_much = await client.post(
        "/v1/verify_receipt",
        json={"payment_provider": "wallet", "provider_receipt_id": "order-2", "amount_cents": 500},
        headers=rider.headers,
    )
    assert too_much.status_code == 400
    assert too_much.json()["detail"] == "Insufficient balance"

    api = TokensApi(client)
    tickets = await api.sign(
        bought.json()["receipt_id"],
        [sdk.request_token(issuer, CHALLENGE) for _ in range(3)],
        headers=rider.headers,
    )
    assert all(sdk.verify(issuer, t.token_input, t.signature) for t in tickets)

    # The kiosk cannot mint from the rider's receipt, nor another rider: it does not exist for them.
    other = await register_and_login(client)
    for headers in (kiosk, other.headers):
        response = await client.post(
            "/v1/sign_blinded",
            json={"receipt_id": bought.json()["receipt_id"], "blinded_token": b64(bytes(256))},
            headers=headers,
        )
        assert response.status_code in (404, 422)
        pending = sdk.request_token(issuer, CHALLENGE)
        response = await client.post(
            "/v1/sign_blinded",
            json={
                "receipt_id": bought.json()["receipt_id"],
                "blinded_token": b64(pending.blinded_msg),
            },
            headers=headers,
        )
        assert response.status_code == 404 and response.json()["error"] == "receipt_not_found"


async def test_wallet_payment_needs_a_user(
    client: httpx2.AsyncClient, kiosk: dict[str, str]
) -> None:
    response = await client.post(
        "/v1/verify_receipt",
        json={"payment_provider": "wallet", "provider_receipt_id": "w-1", "amount_cents": 250},
        headers=kiosk,
    )
    assert response.status_code == 403 and response.json()["error"] == "wallet_needs_user"


async def test_sign_blinded_single_and_batch_shapes(
    client: httpx2.AsyncClient, issuer: sdk.IssuerKey, kiosk: dict[str, str]
) -> None:
    receipt_id = await receipt(client, kiosk, tokens=3)
    single = sdk.request_token(issuer, CHALLENGE)
    response = await client.post(
        "/v1/sign_blinded",
        json={"receipt_id": receipt_id, "blinded_token": b64(single.blinded_msg)},
        headers=kiosk,
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"signed_blinded", "key_id", "tokens_remaining"}
    assert body["key_id"] == issuer.key_id.hex() and body["tokens_remaining"] == 2
    ticket = sdk.finalize(single, base64.b64decode(body["signed_blinded"]))
    assert sdk.verify(issuer, ticket.token_input, ticket.signature)

    pair = [sdk.request_token(issuer, CHALLENGE) for _ in range(2)]
    response = await client.post(
        "/v1/sign_blinded",
        json={"receipt_id": receipt_id, "blinded_tokens": [b64(p.blinded_msg) for p in pair]},
        headers=kiosk,
    )
    assert response.status_code == 200
    assert set(response.json()) == {"signed_blinded_tokens", "key_id", "tokens_remaining"}
    assert len(response.json()["signed_blinded_tokens"]) == 2


async def test_a_receipt_never_mints_more_than_it_allows(
    client: httpx2.AsyncClient, issuer: sdk.IssuerKey, kiosk: dict[str, str], api: TokensApi
) -> None:
    receipt_id = await receipt(client, kiosk, tokens=3)
    with pytest.raises(TokensApiError) as too_many:
        await api.sign(
            receipt_id, [sdk.request_token(issuer, CHALLENGE) for _ in range(4)], headers=kiosk
        )
    assert too_many.value.status_code == 409
    assert too_many.value.body["error"] == "receipt_exhausted"
    # Nothing was consumed by the refused batch: all three can still be minted.
    tickets = await api.sign(
        receipt_id, [sdk.request_token(issuer, CHALLENGE) for _ in range(3)], headers=kiosk
    )
    assert len(tickets) == 3
    with pytest.raises(TokensApiError) as used_up:
        await api.sign(receipt_id, [sdk.request_token(issuer, CHALLENGE)], headers=kiosk)
    assert used_up.value.status_code == 409


async def test_parallel_signing_mints_exactly_the_allowance(
    client: httpx2.AsyncClient, issuer: sdk.IssuerKey, kiosk: dict[str, str]
) -> None:
    allowance = 5
    receipt_id = await receipt(client, kiosk, tokens=allowance)
    pending = [sdk.request_token(issuer, CHALLENGE) for _ in range(20)]

    async def one(p: sdk.PendingToken) -> int:
        response = await client.post(
            "/v1/sign_blinded",
            json={"receipt_id": receipt_id, "blinded_token": b64(p.blinded_msg)},
            headers=kiosk,
        )
        return response.status_code

    statuses = Counter(await asyncio.gather(*(one(p) for p in pending)))
    assert statuses == {200: allowance, 409: 20 - allowance}


async def test_bad_blinded_inputs_are_refused_before_anything_is_consumed(
    client: httpx2.AsyncClient,
    issuer: sdk.IssuerKey,
    issuer_key: rsa.RSAPrivateKey,
    kiosk: dict[str, str],
) -> None:
    receipt_id = await receipt(client, kiosk, tokens=1)
    n = issuer_key.public_key().public_numbers().n
    too_big = (n.to_bytes(256, "big"), (n + 1).to_bytes(256, "big"))
    for bad in (bytes(255), bytes(257), *too_big, bytes(256)):
        response = await client.post(
            "/v1/sign_blinded",
            json={"receipt_id": receipt_id, "blinded_token": b64(bad)},
            headers=kiosk,
        )
        assert response.status_code == 422, len(bad)
        assert response.json()["error"] == "invalid_blinded_token"
    not_base64 = await client.post(
        "/v1/sign_blinded",
        json={"receipt_id": receipt_id, "blinded_token": "%%%"},
        headers=kiosk,
    )
    assert not_base64.status_code == 422
    good = sdk.request_token(issuer, CHALLENGE)
    response = await client.post(
        "/v1/sign_blinded",
        json={"receipt_id": receipt_id, "blinded_token": b64(good.blinded_msg)},
        headers=kiosk,
    )
    assert response.status_code == 200  # the allowance of 1 is still there


async def test_sign_blinded_is_idempotent_per_key(
    client: httpx2.AsyncClient, issuer: sdk.IssuerKey, kiosk: dict[str, str]
) -> None:
    receipt_id = await receipt(client, kiosk, tokens=2)
    pending = sdk.request_token(issuer, CHALLENGE)
    body = {"receipt_id": receipt_id, "blinded_token": b64(pending.blinded_msg)}
    headers = {**kiosk, "Idempotency-Key": "sign-once"}
    first = await client.post("/v1/sign_blinded", json=body, headers=headers)
    second = await client.post("/v1/sign_blinded", json=body, headers=headers)
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert first.json()["tokens_remaining"] == 1  # one token minted, not two


async def test_signing_names_a_key_and_refuses_unknown_ones(
    client: httpx2.AsyncClient, issuer: sdk.IssuerKey, kiosk: dict[str, str]
) -> None:
    receipt_id = await receipt(client, kiosk, tokens=1)
    pending = sdk.request_token(issuer, CHALLENGE)
    response = await client.post(
        "/v1/sign_blinded",
        json={
            "receipt_id": receipt_id,
            "blinded_token": b64(pending.blinded_msg),
            "key_id": "ab" * 32,
        },
        headers=kiosk,
    )
    assert response.status_code == 422 and response.json()["error"] == "unknown_key"


async def test_signing_without_any_issuer_key_is_503(
    client: httpx2.AsyncClient, kiosk: dict[str, str]
) -> None:
    receipt_id = await receipt(client, kiosk, tokens=1)
    response = await client.post(
        "/v1/sign_blinded",
        json={"receipt_id": receipt_id, "blinded_token": b64(bytes(256))},
        headers=kiosk,
    )
    assert response.status_code == 503 and response.json()["error"] == "no_signing_key"


async def test_signing_is_rate_limited_per_caller(
    database_url: str, tmp_path: Any, issuer_key: rsa.RSAPrivateKey
) -> None:
    settings = make_settings(
        database_url, tmp_path, module_settings=[TokensSettings(sign_rate="2/minute")]
    )
    app = create_app(settings)
    async with LifespanManager(app):
        runtime = app.state.runtime
        issuer = await install_key(runtime, issuer_key)
        kiosk = await make_api_key(runtime, "kiosk")
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://t") as client:
            receipt_id = await receipt(client, kiosk, tokens=5)
            statuses = []
            for _ in range(3):
                pending = sdk.request_token(issuer, CHALLENGE)
                response = await client.post(
                    "/v1/sign_blinded",
                    json={"receipt_id": receipt_id, "blinded_token": b64(pending.blinded_msg)},
                    headers=kiosk,
                )
                statuses.append(response.status_code)
            assert statuses == [200, 200, 429]
            assert int(response.headers["Retry-After"]) >= 1


async def test_riders_buy_only_through_their_wallet(client: httpx2.AsyncClient) -> None:
    rider = await register_and_login(client)
    response = await client.post(
        "/v1/verify_receipt",
        json={"payment_provider": "test", "provider_receipt_id": "free-tickets"},
        headers=rider.headers,
    )
    assert response.status_code == 403 and response.json()["error"] == "provider_forbidden"
