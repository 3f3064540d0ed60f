"""The Privacy Pass faces: /keys/public, the issuer directory and RFC 9578 /token-request."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import httpx2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from tests.modules.tokens.conftest import CHALLENGE, install_key, install_new_key

from tessera.client import tokens as sdk
from tessera.client.tokens_http import TokensApi
from tessera.core.db.base import utcnow
from tessera.protocols.tokens import keys

REQUEST_TYPE = "application/private-token-request"
RESPONSE_TYPE = "application/private-token-response"


async def new_receipt(client: httpx2.AsyncClient, kiosk: dict[str, str], tokens: int) -> str:
    response = await client.post(
        "/v1/verify_receipt",
        json={
            "payment_provider": "test",
            "provider_receipt_id": f"rcpt-{tokens}-{utcnow().timestamp()}",
            "amount_cents": 250 * tokens,
        },
        headers=kiosk,
    )
    assert response.status_code == 201, response.text
    receipt_id: str = response.json()["receipt_id"]
    return receipt_id


async def token_request(
    client: httpx2.AsyncClient, receipt_id: str, body: bytes, headers: dict[str, str]
) -> httpx2.Response:
    return await client.post(
        "/token-request",
        params={"receipt_id": receipt_id},
        content=body,
        headers={**headers, "Content-Type": REQUEST_TYPE, "Accept": RESPONSE_TYPE},
    )


async def test_rfc9578_vectors_through_token_request_byte_for_byte(
    client: httpx2.AsyncClient,
    runtime: Any,
    rfc9578_key: rsa.RSAPrivateKey,
    rfc9578_vectors: list[dict[str, Any]],
    kiosk: dict[str, str],
) -> None:
    """The vectors' issuer key is our issuer key; the deterministic variant makes every
    TokenResponse a function of the TokenRequest alone."""
    issuer = await install_key(runtime, rfc9578_key)
    assert issuer.key_id.hex() == "ca572f8982a9ca248a3056186322d93ca147266121ddeb5632c07f1f71cd2708"
    receipt_id = await new_receipt(client, kiosk, tokens=len(rfc9578_vectors))
    for vector in rfc9578_vectors:
        response = await token_request(
            client, receipt_id, bytes.fromhex(vector["token_request"]), kiosk
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == RESPONSE_TYPE
        assert response.content == bytes.fromhex(vector["token_response"]), vector["name"]

        # And the published token (its authenticator unblinded from this very response)
        # redeems as a valid ticket.
        token = bytes.fromhex(vector["token"])
        assert sdk.verify(issuer, token[:98], token[98:])

    directory = await client.get("/.well-known/private-token-issuer-directory")
    token_keys = directory.json()["token-keys"]
    assert base64.urlsafe_b64decode(token_keys[0]["token-key"]) == bytes.fromhex(
        rfc9578_vectors[0]["pkS"]
    )


async def test_token_request_round_trip_is_a_plain_rsassa_pss_signature(
    client: httpx2.AsyncClient,
    issuer: sdk.IssuerKey,
    issuer_key: rsa.RSAPrivateKey,
    kiosk: dict[str, str],
    validator: dict[str, str],
) -> None:
    receipt_id = await new_receipt(client, kiosk, tokens=1)
    ticket = await TokensApi(client).token_request(
        receipt_id, sdk.request_token(issuer, CHALLENGE), headers=kiosk
    )
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
    issuer_key.public_key().verify(ticket.signature, ticket.token_input, pss, hashes.SHA384())
    result = await TokensApi(client).redeem(ticket, "gate-9", headers=validator)
    assert result == {"status": "accepted"}
    # One token per request: the receipt of one is now used up.
    again = await token_request(
        client, receipt_id, sdk.request_token(issuer, CHALLENGE).token_request(), kiosk
    )
    assert again.status_code == 409


async def test_token_request_refusals_use_protocol_status_codes(
    client: httpx2.AsyncClient,
    issuer: sdk.IssuerKey,
    issuer_key: rsa.RSAPrivateKey,
    kiosk: dict[str, str],
) -> None:
    receipt_id = await new_receipt(client, kiosk, tokens=1)
    good = sdk.request_token(issuer, CHALLENGE).token_request()
    n = issuer_key.public_key().public_numbers().n
    other_key_id = (issuer.truncated_key_id + 1) % 256
    cases = {
        "truncated": good[:-1],
        "trailing byte": good + b"\x00",
        "wrong token type": b"\x00\x01" + good[2:],
        "unknown key": good[:2] + bytes([other_key_id]) + good[3:],
        "blinded >= n": good[:3] + n.to_bytes(256, "big"),
        "blinded = 0": good[:3] + bytes(256),
    }
    for name, body in cases.items():
        response = await token_request(client, receipt_id, body, kiosk)
        assert response.status_code == 422, name
    wrong_type = await client.post(
        "/token-request",
        params={"receipt_id": receipt_id},
        content=good,
        headers={**kiosk, "Content-Type": "application/octet-stream"},
    )
    assert wrong_type.status_code == 415
    anonymous = await token_request(client, receipt_id, good, {})
    assert anonymous.status_code == 401
    # None of the refusals spent the allowance.
    assert (await token_request(client, receipt_id, good, kiosk)).status_code == 200


async def test_public_keys_and_directory_list_live_then_upcoming_keys(
    client: httpx2.AsyncClient, runtime: Any, issuer: sdk.IssuerKey
) -> None:
    upcoming = await install_new_key(
        runtime, not_before=utcnow() + timedelta(hours=2), lifetime=timedelta(days=1)
    )
    listed = (await client.get("/keys/public")).json()
    assert [k["key_id"] for k in listed] == [issuer.key_id.hex(), upcoming.key_id.hex()]
    first = listed[0]
    assert set(first) == {
        "key_id",
        "truncated_key_id",
        "token_type",
        "n",
        "e",
        "spki_pem",
        "not_before",
        "expires_at",
    }
    assert first["e"] == 65537 and first["truncated_key_id"] == issuer.key_id[-1]
    assert keys.public_key_from_n_e(first["n"]).public_numbers() == (
        issuer.public_key.public_numbers()
    )
    assert sdk.IssuerKey.from_spki(first["spki_pem"]).key_id == issuer.key_id

    response = await client.get("/.well-known/private-token-issuer-directory")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/private-token-issuer-directory")
    directory = response.json()
    assert directory["issuer-request-uri"].endswith("/token-request")
    assert [k["token-type"] for k in directory["token-keys"]] == [2, 2]
    spki = base64.urlsafe_b64decode(directory["token-keys"][0]["token-key"])
    assert sdk.IssuerKey.from_spki(spki).key_id == issuer.key_id
    assert directory["token-keys"][1]["not-before"] > utcnow().timestamp()

    etag = response.headers["etag"]
    cached = await client.get(
        "/.well-known/private-token-issuer-directory", headers={"If-None-Match": etag}
    )
    assert cached.status_code == 304 and cached.content == b""


async def test_upcoming_keys_do_not_sign_yet(
    client: httpx2.AsyncClient, runtime: Any, kiosk: dict[str, str]
) -> None:
    later = await install_new_key(runtime, not_before=utcnow() + timedelta(hours=1))
    receipt_id = await new_receipt(client, kiosk, tokens=1)
    response = await token_request(
        client, receipt_id, sdk.request_token(later, CHALLENGE).token_request(), kiosk
    )
    assert response.status_code == 422  # names no live key
