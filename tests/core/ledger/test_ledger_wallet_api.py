"""Seed 001's wallet over HTTP: shapes, messages, entry types, admin adjustments (both engines)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select

from tessera.app import create_app
from tessera.core.audit.models import AuditLog
from tessera.core.ledger import LedgerEntry, LedgerTransaction
from tests.conftest import make_settings
from tests.helpers.identity import AuthedUser, make_admin, register_and_login

WALLET = "/api/v1/wallet"


async def ledger_rows(runtime: Any) -> tuple[int, int]:
    async with runtime.db.session(write=False) as session:
        txns = await session.scalar(select(func.count()).select_from(LedgerTransaction))
        entries = await session.scalar(select(func.count()).select_from(LedgerEntry))
        return int(txns or 0), int(entries or 0)


async def deposit(client: httpx2.AsyncClient, user: AuthedUser, amount: Any) -> httpx2.Response:
    return await client.post(f"{WALLET}/deposit", json={"amount_usd": amount}, headers=user.headers)


async def test_registration_opens_an_empty_usd_wallet(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    response = await client.get(WALLET, headers=user.headers)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "wallet_id",
        "user_id",
        "balance_usd",
        "reserved_usd",
        "lifetime_deposits",
        "lifetime_fees",
        "created_at",
    }
    assert body["user_id"] == user.id
    assert (body["balance_usd"], body["reserved_usd"]) == ("0.00", "0.00")
    assert (body["lifetime_deposits"], body["lifetime_fees"]) == ("0.00", "0.00")


async def test_the_wallet_needs_a_signed_in_user(client: httpx2.AsyncClient) -> None:
    assert (await client.get(WALLET)).status_code == 401
    refused = await client.post(f"{WALLET}/deposit", json={"amount_usd": "1.00"})
    assert refused.status_code == 401
    assert (await client.get(WALLET, headers={"Authorization": "Bearer nope"})).status_code == 401


async def test_deposit_withdraw_and_history(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    first = await deposit(client, user, 100.5)
    assert first.status_code == 200
    entry = first.json()
    assert set(entry) == {
        "ledger_id",
        "entry_type",
        "amount_usd",
        "direction",
        "balance_before",
        "balance_after",
        "description",
        "created_at",
    }
    assert (entry["entry_type"], entry["amount_usd"], entry["direction"]) == (
        "DEPOSIT",
        "100.50",
        "credit",
    )
    assert (entry["balance_before"], entry["balance_after"]) == ("0.00", "100.50")
    assert entry["description"] == "Wallet deposit"

    out = await client.post(
        f"{WALLET}/withdraw",
        json={"amount_usd": "30.25", "description": "To my bank"},
        headers=user.headers,
    )
    assert out.status_code == 200
    withdrawal = out.json()
    assert (withdrawal["entry_type"], withdrawal["amount_usd"], withdrawal["direction"]) == (
        "WITHDRAWAL",
        "30.25",
        "debit",
    )
    assert (withdrawal["balance_before"], withdrawal["balance_after"]) == ("100.50", "70.25")
    assert withdrawal["description"] == "To my bank"

    wallet = (await client.get(WALLET, headers=user.headers)).json()
    assert (wallet["balance_usd"], wallet["lifetime_deposits"]) == ("70.25", "100.50")

    history = await client.get(f"{WALLET}/transactions", headers=user.headers)
    assert history.status_code == 200 and history.headers["X-Total-Count"] == "2"
    assert [item["ledger_id"] for item in history.json()] == [
        withdrawal["ledger_id"],
        entry["ledger_id"],
    ]  # newest first
    assert history.json()[0] == withdrawal
    page = await client.get(
        f"{WALLET}/transactions", params={"limit": 1, "offset": 1}, headers=user.headers
    )
    assert [item["entry_type"] for item in page.json()] == ["DEPOSIT"]
    for bad in ({"limit": 0}, {"limit": 101}, {"offset": -1}):
        bad_page = await client.get(f"{WALLET}/transactions", params=bad, headers=user.headers)
        assert bad_page.status_code == 422


async def test_an_overdraft_is_400_insufficient_balance(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    await deposit(client, user, "5.00")
    refused = await client.post(
        f"{WALLET}/withdraw", json={"amount_usd": "5.01"}, headers=user.headers
    )
    assert refused.status_code == 400
    assert refused.json() == {"detail": "Insufficient balance", "error": "insufficient_balance"}
    wallet = (await client.get(WALLET, headers=user.headers)).json()
    assert wallet["balance_usd"] == "5.00"
    emptied = await client.post(f"{WALLET}/withdraw", json={"amount_usd": 5}, headers=user.headers)
    assert emptied.json()["balance_after"] == "0.00"


INVALID_AMOUNTS: list[Any] = [
    0,
    -1,
    "-0.01",
    0.001,
    "1.005",
    "1e3",
    "abc",
    "",
    None,
    True,
    10**30,
    2**63,
    [5],
    {"value": 5},
]


async def test_l4_invalid_amounts_are_422_and_write_nothing(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    user = await register_and_login(client)
    await deposit(client, user, "10.00")
    before = await ledger_rows(runtime)
    for amount in INVALID_AMOUNTS:
        for path in ("deposit", "withdraw"):
            response = await client.post(
                f"{WALLET}/{path}", json={"amount_usd": amount}, headers=user.headers
            )
            assert response.status_code == 422, (amount, response.text)
            assert response.json()["error"] == "validation_error"
    assert await ledger_rows(runtime) == before
    assert (await client.get(WALLET, headers=user.headers)).json()["balance_usd"] == "10.00"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"amount_usd": NaN}',
        b'{"amount_usd": Infinity}',
        b'{"amount_usd": 1e400}',
        b'{"amount_usd": 9e999999}',
        b'{"amount_usd": 1e-1000005}',
        b'{"amount_usd": 1.0000000000000001}',
        b"{}",
    ],
)
async def test_non_numbers_in_raw_json_are_422(
    client: httpx2.AsyncClient, runtime: Any, raw: bytes
) -> None:
    user = await register_and_login(client)
    headers = user.headers | {"content-type": "application/json"}
    response = await client.post(f"{WALLET}/deposit", content=raw, headers=headers)
    assert response.status_code == 422
    assert await ledger_rows(runtime) == (0, 0)


@pytest.fixture
async def no_deposits_client(
    database_url: str, tmp_path: Path
) -> AsyncIterator[httpx2.AsyncClient]:
    settings = make_settings(database_url, tmp_path, wallet_direct_deposits=False)
    application = create_app(settings)
    async with LifespanManager(application):
        transport = httpx2.ASGITransport(app=application, client=("203.0.113.9", 50000))
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def test_direct_deposits_can_be_switched_off(
    no_deposits_client: httpx2.AsyncClient,
) -> None:
    user = await register_and_login(no_deposits_client)
    refused = await deposit(no_deposits_client, user, "10.00")
    assert refused.status_code == 403
    assert refused.json()["error"] == "direct_deposits_disabled"
    wallet = (await no_deposits_client.get(WALLET, headers=user.headers)).json()
    assert wallet["balance_usd"] == "0.00"


async def test_admins_adjust_wallets_with_a_reason(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    user = await register_and_login(client)
    admin = await make_admin(client, runtime)
    path = f"/admin/wallets/{user.id}/adjust"
    body = {"amount_usd": "50.00", "description": "Goodwill credit"}

    assert (await client.post(path, json=body, headers=user.headers)).status_code == 403
    credited = await client.post(path, json=body, headers=admin.headers)
    assert credited.status_code == 200
    assert (credited.json()["entry_type"], credited.json()["direction"]) == (
        "ADJUSTMENT_ADMIN",
        "credit",
    )
    debited = await client.post(
        path, json={"amount_usd": -20, "description": "Chargeback"}, headers=admin.headers
    )
    assert (debited.json()["balance_before"], debited.json()["balance_after"]) == (
        "50.00",
        "30.00",
    )
    too_much = await client.post(
        path, json={"amount_usd": "-30.01", "description": "Oops"}, headers=admin.headers
    )
    assert too_much.status_code == 400 and too_much.json()["error"] == "insufficient_balance"
    for bad in ({"amount_usd": 0, "description": "x"}, {"amount_usd": 5, "description": ""}):
        assert (await client.post(path, json=bad, headers=admin.headers)).status_code == 422
    unknown = await client.post(
        "/admin/wallets/00000000-0000-4000-8000-000000000000/adjust",
        json=body,
        headers=admin.headers,
    )
    assert unknown.status_code == 404 and unknown.json()["detail"] == "Wallet not found"

    wallet = await client.get(f"/admin/wallets/{user.id}", headers=admin.headers)
    assert wallet.json()["balance_usd"] == "30.00"
    assert (await client.get(f"/admin/wallets/{user.id}", headers=user.headers)).status_code == 403
    history = (await client.get(f"{WALLET}/transactions", headers=user.headers)).json()
    assert [(h["entry_type"], h["description"]) for h in history] == [
        ("ADJUSTMENT_ADMIN", "Chargeback"),
        ("ADJUSTMENT_ADMIN", "Goodwill credit"),
    ]
    async with runtime.db.session(write=False) as session:
        audit = list(
            await session.scalars(
                select(AuditLog)
                .where(AuditLog.action == "ledger.transfer")
                .order_by(AuditLog.created_at)
            )
        )
    assert [(row.actor_id, row.user_id, row.details["kind"]) for row in audit] == [
        (admin.id, user.id, "ADJUSTMENT_ADMIN"),
        (admin.id, user.id, "ADJUSTMENT_ADMIN"),
    ]


async def test_openapi_documents_the_wallet_and_its_errors(client: httpx2.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {"400", "401", "422"} <= set(paths[f"{WALLET}/withdraw"]["post"]["responses"])
    assert "403" in paths[f"{WALLET}/deposit"]["post"]["responses"]
    assert "/admin/wallets/{user_id}/adjust" in paths
    assert f"{WALLET}/transactions" in paths and WALLET in paths
