"""Two-phase movements: a hold reserves money so it cannot be spent twice; capture moves all
or part of it, void gives it back, expiry releases it; of two racing captures exactly one
moves money; `reserved_usd` shows live holds and `ledger check` proves them."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx2
import pytest
from sqlalchemy import text

from tessera.core.db.base import utcnow
from tessera.core.db.engine import Database
from tessera.core.ledger import HoldNotPending, InsufficientFunds, Ledger
from tests.helpers.cli import database_env, run_tessera
from tests.helpers.identity import register_and_login

from .ledger_support import funded_wallet, only_postgresql

SOON = timedelta(minutes=5)


async def place_hold(db: Database, wallet_id: str, amount: int, **kwargs: Any) -> str:
    async with db.session() as session:
        ledger = Ledger(session)
        revenue = await ledger.system_account("revenue", "USD")
        hold = await ledger.hold(
            account_id=wallet_id,
            target_account_id=revenue.id,
            amount=amount,
            kind="ORDER",
            expires_at=kwargs.pop("expires_at", utcnow() + SOON),
            **kwargs,
        )
        return hold.id


async def balances(db: Database, wallet_id: str) -> tuple[int, int]:
    async with db.session(write=False) as session:
        account = await Ledger(session).get_account(wallet_id)
        return account.balance, account.reserved


async def test_a_hold_reserves_and_a_partial_capture_releases_the_rest(
    ledger_db: Database, database_url: str
) -> None:
    user_id, wallet = await funded_wallet(ledger_db, 1_000)
    hold_id = await place_hold(ledger_db, wallet, 700)
    assert await balances(ledger_db, wallet) == (1_000, 700)
    with pytest.raises(InsufficientFunds):  # the held 700 cannot be spent again
        async with ledger_db.session() as session:
            await Ledger(session).charge_user(user_id, 400, "USD", kind="WITHDRAWAL")
    with pytest.raises(InsufficientFunds):  # nor held twice
        await place_hold(ledger_db, wallet, 400)
    async with ledger_db.session() as session:
        txn = await Ledger(session).capture(hold_id, 420)
    assert txn.amount == 420 and txn.meta == {"hold_id": hold_id}
    assert await balances(ledger_db, wallet) == (580, 0)
    with pytest.raises(HoldNotPending):
        async with ledger_db.session() as session:
            await Ledger(session).capture(hold_id)
    result = await run_tessera("ledger", "check", env=database_env(database_url))
    assert result.returncode == 0, result.stderr


async def test_void_gives_it_back_and_expiry_releases_it(ledger_db: Database) -> None:
    _, wallet = await funded_wallet(ledger_db, 500)
    voided = await place_hold(ledger_db, wallet, 200)
    expiring = await place_hold(ledger_db, wallet, 300, expires_at=utcnow() + timedelta(seconds=1))
    assert await balances(ledger_db, wallet) == (500, 500)
    async with ledger_db.session() as session:
        await Ledger(session).void(voided)
    assert await balances(ledger_db, wallet) == (500, 300)
    await asyncio.sleep(1.1)
    with pytest.raises(HoldNotPending, match="expired"):  # past its expiry: never captured
        async with ledger_db.session() as session:
            await Ledger(session).capture(expiring)
    async with ledger_db.session() as session:
        assert await Ledger(session).expire_holds(utcnow()) == 1
    assert await balances(ledger_db, wallet) == (500, 0)


@only_postgresql
async def test_two_captures_of_one_hold_move_money_once(ledger_db: Database) -> None:
    _, wallet = await funded_wallet(ledger_db, 10_000)
    for _ in range(15):
        hold_id = await place_hold(ledger_db, wallet, 100)

        async def capture(hold: str = hold_id) -> str:
            try:
                async with ledger_db.session() as session:
                    await Ledger(session).capture(hold)
                return "captured"
            except HoldNotPending:
                return "refused"

        async def void(hold: str = hold_id) -> str:
            try:
                async with ledger_db.session() as session:
                    await Ledger(session).void(hold)
                return "voided"
            except HoldNotPending:
                return "refused"

        outcomes = await asyncio.gather(capture(), capture(), void())
        assert sorted(outcomes).count("refused") == 2, outcomes
    balance, reserved = await balances(ledger_db, wallet)
    assert reserved == 0
    assert (10_000 - balance) % 100 == 0 and balance <= 10_000


async def test_reserved_usd_shows_live_holds_and_check_names_a_drift(
    client: httpx2.AsyncClient, runtime: Any, database_url: str
) -> None:
    user = await register_and_login(client)
    deposit = await client.post(
        "/api/v1/wallet/deposit", json={"amount_usd": "20.00"}, headers=user.headers
    )
    assert deposit.status_code == 200, deposit.text
    wallet_id = (await client.get("/api/v1/wallet", headers=user.headers)).json()["wallet_id"]
    await place_hold(runtime.db, wallet_id, 750)
    wallet = (await client.get("/api/v1/wallet", headers=user.headers)).json()
    assert (wallet["balance_usd"], wallet["reserved_usd"]) == ("20.00", "7.50")
    withdraw = await client.post(
        "/api/v1/wallet/withdraw", json={"amount_usd": "15.00"}, headers=user.headers
    )
    assert withdraw.status_code == 400 and withdraw.json()["error"] == "insufficient_balance"
    async with runtime.db.session() as session:
        await session.execute(
            text("UPDATE ledger_accounts SET reserved = 100 WHERE id = :id"), {"id": wallet_id}
        )
    result = await run_tessera("ledger", "check", env=database_env(database_url))
    assert result.returncode == 1
    assert f"account {wallet_id}" in result.stderr and "pending holds sum 750" in result.stderr
