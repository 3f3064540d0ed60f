"""Thin async HTTP helpers for the Tessera token issuer, on top of `tessera.client.tokens`.

    async with httpx2.AsyncClient(base_url="http://127.0.0.1:8000") as http:
        api = TokensApi(http)
        issuer = await api.issuer_key()
        receipt = await api.verify_receipt("test", "order-1", amount_cents=500, headers=kiosk)
        pending = [request_token(issuer, challenge) for _ in range(2)]
        tickets = await api.sign(receipt["receipt_id"], pending, headers=kiosk)
        await api.redeem(tickets[0], "gate-1", headers=validator)   # {"status": "accepted"}

Every method raises `TokensApiError` (status and JSON body) on a non-2xx answer.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx2

from tessera.client.tokens import FinishedToken, IssuerKey, PendingToken, finalize

TOKEN_REQUEST_TYPE = "application/private-token-request"
TOKEN_RESPONSE_TYPE = "application/private-token-response"


class TokensApiError(RuntimeError):
    def __init__(self, status_code: int, body: Any) -> None:
        super().__init__(f"HTTP {status_code}: {body}")
        self.status_code = status_code
        self.body = body


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    """Standard or URL-safe base64, padded or not."""
    text = text.rstrip("=").replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _json(response: httpx2.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if response.status_code >= 300:
        raise TokensApiError(response.status_code, body)
    return body


class TokensApi:
    def __init__(self, http: httpx2.AsyncClient, headers: dict[str, str] | None = None) -> None:
        self.http = http
        self.headers = headers or {}

    def _h(self, headers: dict[str, str] | None) -> dict[str, str]:
        return {**self.headers, **(headers or {})}

    async def issuer_keys(self) -> list[IssuerKey]:
        keys = _json(await self.http.get("/keys/public"))
        return [IssuerKey.from_spki(key["spki_pem"]) for key in keys]

    async def issuer_key(self) -> IssuerKey:
        """The preferred (signing) key."""
        return (await self.issuer_keys())[0]

    async def verify_receipt(
        self,
        provider: str,
        provider_receipt_id: str,
        *,
        amount_cents: int | None = None,
        currency: str | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "payment_provider": provider,
            "provider_receipt_id": provider_receipt_id,
        }
        for name, value in (
            ("amount_cents", amount_cents),
            ("currency", currency),
            ("signature", signature),
        ):
            if value is not None:
                payload[name] = value
        result: dict[str, Any] = _json(
            await self.http.post("/v1/verify_receipt", json=payload, headers=self._h(headers))
        )
        return result

    async def sign(
        self,
        receipt_id: str,
        pending: Sequence[PendingToken],
        *,
        headers: dict[str, str] | None = None,
    ) -> list[FinishedToken]:
        """POST /v1/sign_blinded (batch form) and finalize every answer."""
        payload = {
            "receipt_id": receipt_id,
            "blinded_tokens": [b64(p.blinded_msg) for p in pending],
            "key_id": pending[0].issuer.key_id.hex(),
        }
        body = _json(
            await self.http.post("/v1/sign_blinded", json=payload, headers=self._h(headers))
        )
        signed = body["signed_blinded_tokens"]
        return [finalize(p, unb64(s)) for p, s in zip(pending, signed, strict=True)]

    async def token_request(
        self, receipt_id: str, pending: PendingToken, *, headers: dict[str, str] | None = None
    ) -> FinishedToken:
        """RFC 9578 issuance through /token-request."""
        response = await self.http.post(
            "/token-request",
            params={"receipt_id": receipt_id},
            content=pending.token_request(),
            headers=self._h(
                {
                    **(headers or {}),
                    "Content-Type": TOKEN_REQUEST_TYPE,
                    "Accept": TOKEN_RESPONSE_TYPE,
                }
            ),
        )
        if response.status_code != 200:
            raise TokensApiError(response.status_code, response.text)
        return finalize(pending, response.content)

    async def redeem(
        self, ticket: FinishedToken, validator_id: str, *, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        payload = {
            "token": b64(ticket.token_input),
            "signature": b64(ticket.signature),
            "validator_id": validator_id,
        }
        result: dict[str, Any] = _json(
            await self.http.post("/v1/redeem", json=payload, headers=self._h(headers))
        )
        return result

    async def bloom(self, *, headers: dict[str, str] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = _json(await self.http.get("/v1/bloom", headers=self._h(headers)))
        return result

    async def sync_offline(
        self,
        validator_id: str,
        accepted: Sequence[tuple[str, FinishedToken, datetime]],
        *,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """POST /v1/sync_offline with (local_id, ticket, redeemed_at) items."""
        payload = {
            "validator_id": validator_id,
            "accepted_tokens": [
                {
                    "local_id": local_id,
                    "token": b64(ticket.token_input),
                    "signature": b64(ticket.signature),
                    "redeemed_at": redeemed_at.isoformat(),
                }
                for local_id, ticket, redeemed_at in accepted
            ],
        }
        result: dict[str, Any] = _json(
            await self.http.post("/v1/sync_offline", json=payload, headers=self._h(headers))
        )
        return result

    async def redeem_voucher(
        self,
        voucher_code: str,
        amount_cents: int,
        pending: Sequence[PendingToken],
        *,
        headers: dict[str, str] | None = None,
    ) -> tuple[list[FinishedToken], int]:
        """Pay from a voucher; (finalized tickets, remaining balance in cents)."""
        payload = {
            "voucher_code": voucher_code,
            "amount_cents": amount_cents,
            "blinded_tokens": [b64(p.blinded_msg) for p in pending],
            "key_id": pending[0].issuer.key_id.hex(),
        }
        body = _json(
            await self.http.post("/v1/redeem_voucher", json=payload, headers=self._h(headers))
        )
        tickets = [
            finalize(p, unb64(s))
            for p, s in zip(pending, body["signed_blinded_tokens"], strict=True)
        ]
        return tickets, int(body["remaining_balance"])
