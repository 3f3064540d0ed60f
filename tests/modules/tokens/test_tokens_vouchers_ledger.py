"""A voucher's money is in the ledger: selling one funds its own never-negative account from
`external`, spending it is a ledger movement into the module's revenue, and `tessera ledger
check` covers every cent of it (including vouchers that existed before the upgrade)."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine
from tests.helpers.cli import database_env, run_tessera
from tests.modules.tokens.conftest import CHALLENGE

from tessera.client import tokens as sdk
from tessera.core.db.migrate import downgrade, upgrade
from tessera.core.ledger import Ledger
from tessera.modules.tokens.models import Voucher


async def test_selling_and_spending_a_voucher_are_ledger_movements(
    client: httpx2.AsyncClient,
    issuer: sdk.IssuerKey,
    staff: dict[str, str],
    runtime: Any,
    database_url: str,
) -> None:
    sold = await client.post("/v1/create_voucher", json={"balance_cents": 750}, headers=staff)
    assert sold.status_code == 201, sold.text
    pending = sdk.request_token(issuer, CHALLENGE)
    spent = await client.post(
        "/v1/redeem_voucher",
        json={
            "voucher_code": sold.json()["voucher_code"],
            "amount_cents": 250,
            "blinded_token": base64.b64encode(pending.blinded_msg).decode(),
        },
    )
    assert spent.status_code == 200 and spent.json()["remaining_balance"] == 500
    async with runtime.db.session(write=False) as session:
        voucher = (await session.scalars(select(Voucher))).one()
        ledger = Ledger(session)
        account = await ledger.get_account(voucher.ledger_account_id)
        items, _ = await ledger.history(account.id)
        revenue = await ledger.system_account("revenue:tokens", "USD")
        assert (account.balance, account.allow_negative) == (500, False)
        assert [(i.kind, i.amount) for i in items] == [
            ("VOUCHER_REDEEMED", -250),
            ("VOUCHER_SOLD", 750),
        ]
        assert await ledger.balance(revenue.id) == 250
    check = await run_tessera("ledger", "check", env=database_env(database_url))
    assert check.returncode == 0, check.stderr
    # Money added to a voucher by hand is named like any other account's drift.
    async with runtime.db.session() as session:
        await session.execute(
            text("UPDATE ledger_accounts SET balance = balance + 1000 WHERE id = :id"),
            {"id": voucher.ledger_account_id},
        )
    check = await run_tessera("ledger", "check", env=database_env(database_url))
    assert check.returncode == 1 and f"account {voucher.ledger_account_id}" in check.stderr


async def test_a_currency_the_ledger_does_not_know_is_refused(
    client: httpx2.AsyncClient, staff: dict[str, str]
) -> None:
    for currency in ("ZZZ", "CHF"):  # unknown to the ledger; known but not the token currency
        answer = await client.post(
            "/v1/create_voucher", json={"balance_cents": 500, "currency": currency}, headers=staff
        )
        assert answer.status_code == 422 and answer.json()["error"] == "unsupported_currency"


async def test_vouchers_sold_before_the_upgrade_move_into_the_ledger(database_url: str) -> None:
    await asyncio.to_thread(downgrade, database_url, "0012_ledger_holds")
    engine = create_async_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO tokens_vouchers (id, code_hash, currency, original_cents,"
                " balance_cents, expires_at, created_by, created_at)"
                " VALUES ('v-old', 'hash-old', 'USD', 1000, 400, :exp, 'staff', :now)"
            ),
            {"exp": datetime.now(UTC) + timedelta(days=30), "now": datetime.now(UTC)},
        )
    await engine.dispose()
    await asyncio.to_thread(upgrade, database_url)
    check = await run_tessera("ledger", "check", env=database_env(database_url))
    assert check.returncode == 0, check.stderr
    assert "2 accounts, 1 transactions, 2 entries" in check.stdout
    engine = create_async_engine(database_url)
    async with engine.connect() as conn:
        balance = await conn.scalar(
            text(
                "SELECT a.balance FROM ledger_accounts a JOIN tokens_vouchers v"
                " ON v.ledger_account_id = a.id WHERE v.id = 'v-old'"
            )
        )
    await engine.dispose()
    assert balance == 400
