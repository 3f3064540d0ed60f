"""Wallets in the ledger: what a parent and a child read, and what a conversion refuses."""

from __future__ import annotations

from typing import Any

import httpx2
from tests.modules.family.conftest import World

from tessera.core.ledger import Ledger


async def test_wallets_read_and_convert(
    client: httpx2.AsyncClient, runtime: Any, world: World
) -> None:
    child, other = world.a.children
    parent = world.a.parent.headers
    empty = await client.get(f"/api/wallets/{child.id}", headers=child.headers)
    assert empty.json() == {"childId": child.id, "balance": 0, "transactions": []}
    never_paid = await client.post(
        f"/api/wallets/{child.id}/convert", json={"amount": 1}, headers=parent
    )
    assert never_paid.status_code == 404 and never_paid.json()["detail"] == "Wallet not found"
    for not_a_child in (world.a.parent.id, "nobody"):
        response = await client.get(f"/api/wallets/{not_a_child}", headers=parent)
        assert response.status_code == 404  # no wallet appears for a parent or a stranger

    async with runtime.db.session() as session:
        await Ledger(session).credit_user(child.id, 1234, "EUR", kind="DAILY_REWARD")
    for amount in (12.35, 0, -1, "abc", 0.001):
        refused = await client.post(
            f"/api/wallets/{child.id}/convert", json={"amount": amount}, headers=parent
        )
        assert refused.status_code == 400, (amount, refused.text)
        assert refused.json() == {"detail": "Invalid amount", "error": "invalid_amount"}
    paid = await client.post(
        f"/api/wallets/{child.id}/convert",
        json={"amount": 2.34, "comment": "Livre", "childId": other.id},
        headers=parent,
    )
    assert paid.status_code == 200, paid.text
    body = paid.json()
    assert body["balance"] == 10.0
    assert [(t["amount"], t["reason"]) for t in body["transactions"]] == [
        (-2.34, "Livre"),
        (12.34, ""),
    ]
    listed = await client.get(f"/api/wallets/{child.id}/transactions", headers=child.headers)
    assert [t["amount"] for t in listed.json()] == [-2.34, 12.34]
    assert (await client.get(f"/api/wallets/{child.id}", headers=other.headers)).status_code == 403
