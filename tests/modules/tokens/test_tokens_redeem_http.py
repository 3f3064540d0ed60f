"""Redeeming tickets online: exactly once, and only genuine, unexpired, unrevoked ones."""

from __future__ import annotations

import asyncio
import base64
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx2
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select, update
from tests.helpers.identity import make_admin, register_and_login
from tests.modules.tokens.conftest import CHALLENGE, install_new_key

from tessera.client import tokens as sdk
from tessera.client.tokens_http import TokensApi
from tessera.core.db.base import utcnow
from tessera.modules.tokens.models import SpentToken, TokenKey
from tessera.modules.tokens.state import TokensState
from tessera.protocols.tokens import formats, keys


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def buy(
    api: TokensApi, issuer: sdk.IssuerKey, kiosk: dict[str, str], count: int = 1
) -> list[sdk.FinishedToken]:
    receipt = await api.verify_receipt(
        "test", f"card-{utcnow().timestamp()}", amount_cents=250 * count, headers=kiosk
    )
    pending = [sdk.request_token(issuer, CHALLENGE) for _ in range(count)]
    return await api.sign(receipt["receipt_id"], pending, headers=kiosk)


async def redeem_raw(
    client: httpx2.AsyncClient, headers: dict[str, str], token: bytes, signature: bytes | None
) -> httpx2.Response:
    body: dict[str, Any] = {"token": b64(token), "validator_id": "gate-1"}
    if signature is not None:
        body["signature"] = b64(signature)
    return await client.post("/v1/redeem", json=body, headers=headers)


async def test_a_ticket_is_accepted_once_then_spent(
    api: TokensApi,
    issuer: sdk.IssuerKey,
    kiosk: dict[str, str],
    validator: dict[str, str],
    runtime: Any,
) -> None:
    (ticket,) = await buy(api, issuer, kiosk)
    assert await api.redeem(ticket, "conductor-1", headers=validator) == {"status": "accepted"}
    assert await api.redeem(ticket, "conductor-2", headers=validator) == {
        "status": "rejected",
        "reason": "spent",
    }
    async with runtime.db.session(write=False) as session:
        row = await session.scalar(select(SpentToken))
    assert row is not None
    assert row.spent_key == ticket.spent_key()  # only the hash of the ticket is stored
    assert row.validator_id == "conductor-1" and row.channel == "online"


async def test_the_rfc9578_token_form_redeems_too(
    client: httpx2.AsyncClient,
    api: TokensApi,
    issuer: sdk.IssuerKey,
    kiosk: dict[str, str],
    validator: dict[str, str],
) -> None:
    (ticket,) = await buy(api, issuer, kiosk)
    first = await redeem_raw(client, validator, ticket.token(), None)
    assert first.json() == {"status": "accepted"}
    # The same ticket as token_input + signature is the same spend.
    again = await redeem_raw(client, validator, ticket.token_input, ticket.signature)
    assert again.json() == {"status": "rejected", "reason": "spent"}


async def test_forged_and_malformed_tickets_are_invalid(
    client: httpx2.AsyncClient,
    api: TokensApi,
    issuer: sdk.IssuerKey,
    issuer_key: rsa.RSAPrivateKey,
    kiosk: dict[str, str],
    validator: dict[str, str],
) -> None:
    (ticket,) = await buy(api, issuer, kiosk)
    n = issuer_key.public_key().public_numbers().n
    s = int.from_bytes(ticket.signature, "big")
    flipped = bytes([ticket.signature[0] ^ 1]) + ticket.signature[1:]
    other_nonce = bytes([ticket.token_input[5] ^ 1])
    cases: dict[str, tuple[bytes, bytes | None]] = {
        "signature bit flipped": (ticket.token_input, flipped),
        "message bit flipped": (
            ticket.token_input[:5] + other_nonce + ticket.token_input[6:],
            ticket.signature,
        ),
        "signature = n": (ticket.token_input, n.to_bytes(256, "big")),
        "signature all ones (>= n)": (ticket.token_input, b"\xff" * 256),
        "signature missing": (ticket.token_input, None),
        "truncated token_input": (ticket.token_input[:97], ticket.signature),
        "Token with a different signature": (ticket.token(), flipped),
        "wrong token type": (b"\x00\x01" + ticket.token_input[2:], ticket.signature),
    }
    if s + n < 2**2048:  # the non-canonical twin s + n, when it fits in 256 bytes
        cases["signature s + n"] = (ticket.token_input, (s + n).to_bytes(256, "big"))
    for name, (token, signature) in cases.items():
        response = await redeem_raw(client, validator, token, signature)
        assert response.status_code == 200, name
        assert response.json() == {"status": "rejected", "reason": "invalid"}, name

    # A ticket signed by a key this issuer never had.
    stranger = sdk.IssuerKey(keys.generate_private_key().public_key())
    forged = sdk.FinishedToken(sdk.prepare(stranger, CHALLENGE), ticket.signature)
    assert (await api.redeem(forged, "gate-1", headers=validator))["reason"] == "invalid"

    # None of that spent the genuine ticket.
    assert await api.redeem(ticket, "gate-1", headers=validator) == {"status": "accepted"}

    not_base64 = await client.post(
        "/v1/redeem", json={"token": "***", "validator_id": "g"}, headers=validator
    )
    assert not_base64.status_code == 422


async def test_tickets_of_an_expired_key_are_expired(
    client: httpx2.AsyncClient,
    api: TokensApi,
    issuer: sdk.IssuerKey,
    kiosk: dict[str, str],
    validator: dict[str, str],
    runtime: Any,
    tokens_state: TokensState,
) -> None:
    tickets = await buy(api, issuer, kiosk, count=2)
    async with runtime.db.session() as session:
        await session.execute(
            update(TokenKey)
            .where(TokenKey.key_id == issuer.key_id.hex())
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    tokens_state.keyring.invalidate()
    assert await api.redeem(tickets[0], "gate-1", headers=validator) == {
        "status": "rejected",
        "reason": "expired",
    }
    # An expired key no longer signs or appears in /keys/public.
    assert (await client.get("/keys/public")).json() == []


async def test_a_rotated_key_keeps_verifying_until_it_expires(
    api: TokensApi,
    issuer: sdk.IssuerKey,
    kiosk: dict[str, str],
    validator: dict[str, str],
    runtime: Any,
) -> None:
    (old_ticket,) = await buy(api, issuer, kiosk)
    newer = await install_new_key(runtime)
    assert (await api.issuer_key()).key_id == newer.key_id  # the new key is preferred
    (new_ticket,) = await buy(api, newer, kiosk)
    for ticket in (old_ticket, new_ticket):
        assert await api.redeem(ticket, "gate-1", headers=validator) == {"status": "accepted"}


async def test_revoked_tickets_are_invalid(
    client: httpx2.AsyncClient,
    api: TokensApi,
    issuer: sdk.IssuerKey,
    kiosk: dict[str, str],
    validator: dict[str, str],
    runtime: Any,
) -> None:
    by_hash, by_token = await buy(api, issuer, kiosk, count=2)
    admin = await make_admin(client, runtime)
    body = {"token_hash": by_hash.spent_key().hex(), "reason": "reported stolen"}
    response = await client.post("/v1/admin/revoke", json=body, headers=admin.headers)
    assert response.status_code == 200
    assert response.json()["token_hash"] == by_hash.spent_key().hex()
    assert response.json()["already_revoked"] is False
    repeat = await client.post("/v1/admin/revoke", json=body, headers=admin.headers)
    assert repeat.json()["already_revoked"] is True
    response = await client.post(
        "/v1/admin/revoke",
        json={"token": b64(by_token.token()), "reason": "fraud"},
        headers=admin.headers,
    )
    assert response.json()["token_hash"] == by_token.spent_key().hex()

    for ticket in (by_hash, by_token):
        assert await api.redeem(ticket, "gate-1", headers=validator) == {
            "status": "rejected",
            "reason": "invalid",
        }

    rider = await register_and_login(client)
    forbidden = await client.post("/v1/admin/revoke", json=body, headers=rider.headers)
    assert forbidden.status_code == 403
    bad = await client.post(
        "/v1/admin/revoke", json={"token_hash": "abc", "reason": "x"}, headers=admin.headers
    )
    assert bad.status_code == 422


async def test_only_validators_redeem(
    client: httpx2.AsyncClient, api: TokensApi, issuer: sdk.IssuerKey, kiosk: dict[str, str]
) -> None:
    (ticket,) = await buy(api, issuer, kiosk)
    body = {"token": b64(ticket.token()), "validator_id": "gate-1"}
    assert (await client.post("/v1/redeem", json=body)).status_code == 401
    assert (await client.post("/v1/redeem", json=body, headers=kiosk)).status_code == 403


async def test_parallel_redemptions_of_one_ticket_accept_exactly_one(
    client: httpx2.AsyncClient,
    api: TokensApi,
    issuer: sdk.IssuerKey,
    kiosk: dict[str, str],
    validator: dict[str, str],
    runtime: Any,
) -> None:
    tickets = await buy(api, issuer, kiosk, count=5)
    attempts = [t for t in tickets for _ in range(6)]
    results = await asyncio.gather(
        *(api.redeem(t, f"gate-{i}", headers=validator) for i, t in enumerate(attempts))
    )
    outcomes = Counter(r.get("reason", r["status"]) for r in results)
    assert outcomes == {"accepted": 5, "spent": 25}
    async with runtime.db.session(write=False) as session:
        assert await session.scalar(select(func.count()).select_from(SpentToken)) == 5


@pytest.mark.parametrize("form", ["token_input", "token"])
async def test_spent_key_is_over_the_signed_message_only(
    form: str, issuer_key: rsa.RSAPrivateKey
) -> None:
    """The spent key a validator derives offline is the one the server stores."""
    issuer = sdk.IssuerKey(issuer_key.public_key())
    pending = sdk.request_token(issuer, CHALLENGE)
    blind_sig = formats.sign_token_request(
        issuer_key, formats.TokenRequest.decode(pending.token_request())
    )
    ticket = sdk.finalize(pending, blind_sig.encode())
    source = ticket.token_input if form == "token_input" else ticket.token()[:98]
    assert formats.spent_key(source) == ticket.spent_key()


async def test_oversized_bodies_are_refused_before_parsing(
    client: httpx2.AsyncClient, validator: dict[str, str]
) -> None:
    huge = {"token": "A" * 1_100_000, "validator_id": "gate-1"}
    response = await client.post("/v1/redeem", json=huge, headers=validator)
    assert response.status_code == 413
    long_token = {"token": "A" * 2000, "signature": "A" * 344, "validator_id": "gate-1"}
    response = await client.post("/v1/redeem", json=long_token, headers=validator)
    assert response.status_code == 422
