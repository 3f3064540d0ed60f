"""Poisoned requests among honest ones: each honest redemption is answered correctly, each
poisoned one is refused on its own, and nothing is a 500."""

from __future__ import annotations

import asyncio
import base64
from collections import Counter
from typing import Any

import httpx2
from tests.modules.tokens.test_tokens_redeem_http import buy

from tessera.client import tokens as sdk
from tessera.client.tokens_http import TokensApi
from tessera.core.db.base import utcnow


def redeem_body(ticket: sdk.FinishedToken, validator_id: str) -> dict[str, str]:
    return {
        "token": base64.b64encode(ticket.token_input).decode(),
        "signature": base64.b64encode(ticket.signature).decode(),
        "validator_id": validator_id,
    }


async def test_poisoned_redemptions_fail_alone(
    client: httpx2.AsyncClient,
    api: TokensApi,
    issuer: sdk.IssuerKey,
    kiosk: dict[str, str],
    validator: dict[str, str],
) -> None:
    tickets = await buy(api, issuer, kiosk, count=39)
    poisoned = set(range(3, 39, 8))  # 5 of the 39
    bodies = [
        redeem_body(ticket, "evil\u0000" if i in poisoned else f"gate-{i}")
        for i, ticket in enumerate(tickets)
    ]
    responses = await asyncio.gather(
        *(client.post("/v1/redeem", json=body, headers=validator) for body in bodies)
    )
    for i, response in enumerate(responses):
        if i in poisoned:
            assert response.status_code == 422, response.text
            assert response.json()["detail"][0]["loc"] == ["body", "validator_id"]
        else:
            assert response.status_code == 200, response.text
            assert response.json() == {"status": "accepted"}
    # The poisoned tickets were never spent: redeemed honestly now, they are accepted.
    again = await asyncio.gather(
        *(api.redeem(tickets[i], "gate-honest", headers=validator) for i in sorted(poisoned))
    )
    assert Counter(r["status"] for r in again) == {"accepted": 5}


async def test_sync_offline_with_a_nul_local_id_is_422_not_500(
    client: httpx2.AsyncClient,
    api: TokensApi,
    issuer: sdk.IssuerKey,
    kiosk: dict[str, str],
    validator: dict[str, str],
) -> None:
    (ticket,) = await buy(api, issuer, kiosk)
    item: dict[str, Any] = {
        "local_id": "l\u00001",
        "token": base64.b64encode(ticket.token()).decode(),
        "redeemed_at": utcnow().isoformat(),
    }
    response = await client.post(
        "/v1/sync_offline",
        json={"validator_id": "bus-7", "accepted_tokens": [item]},
        headers=validator,
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "accepted_tokens", 0, "local_id"]
    item["local_id"] = "l-1"
    accepted = await client.post(
        "/v1/sync_offline",
        json={"validator_id": "bus-7", "accepted_tokens": [item]},
        headers=validator,
    )
    assert accepted.status_code == 200
    assert accepted.json()["results"] == [{"local_id": "l-1", "status": "accepted"}]
