"""System accounts without a hot row: deposits, withdrawals and fees on many wallets at once
spread over the shards of `external` and `revenue`, nothing is lost, and `ledger check`
folds the shards exactly (and names a shard that drifted)."""

from __future__ import annotations

import asyncio
import random

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from tessera.core.db.engine import Database
from tessera.core.ledger import InsufficientFunds, Ledger
from tessera.core.ledger.models import SYSTEM_SHARDS, LedgerAccountShard
from tests.helpers.cli import database_env, run_tessera

from .ledger_support import funded_wallet


async def mixed_load(db: Database, wallets: list[tuple[str, str]], hot: str, moves: int) -> int:
    """Deposits, withdrawals and fees: half on one hot wallet, half spread. Returns how many
    were refused for want of money (exact accounting is checked by the caller)."""
    rng = random.Random(7)
    plan = [
        (hot if i % 2 else rng.choice(wallets)[0], rng.choice(("deposit", "withdraw", "fee")))
        for i in range(moves)
    ]
    refused = 0
    slots = asyncio.Semaphore(12)

    async def one(user_id: str, what: str) -> None:
        nonlocal refused
        async with slots, db.session() as session:
            ledger = Ledger(session)
            try:
                if what == "deposit":
                    await ledger.credit_user(user_id, 7, "USD", kind="DEPOSIT")
                elif what == "withdraw":
                    await ledger.charge_user(
                        user_id, 5, "USD", kind="WITHDRAWAL", to_account="external"
                    )
                else:
                    await ledger.charge_user(user_id, 3, "USD", kind="FEE_SUBSCRIPTION")
            except InsufficientFunds:
                refused += 1

    await asyncio.gather(*(one(user, what) for user, what in plan))
    return refused


async def test_spread_and_hot_load_leaves_an_exact_ledger(
    ledger_db: Database, database_url: str, engine: str
) -> None:
    wallets = [await funded_wallet(ledger_db, 20) for _ in range(8)]
    hot = wallets[0][0]
    refused = await mixed_load(ledger_db, wallets, hot, 240)
    result = await run_tessera("ledger", "check", env=database_env(database_url))
    assert result.returncode == 0, result.stderr
    async with ledger_db.session(write=False) as session:
        ledger = Ledger(session)
        external = await ledger.system_account("external", "USD")
        revenue = await ledger.system_account("revenue", "USD")
        held = sum([await ledger.balance(wallet_id) for _, wallet_id in wallets])
        # Money is only moved: what the outside world gave is in the wallets or in revenue.
        assert -await ledger.balance(external.id) == held + await ledger.balance(revenue.id)
        assert external.balance == await ledger.balance(external.id)  # the total, not a shard
        used = await session.scalar(
            select(func.count())
            .select_from(LedgerAccountShard)
            .where(LedgerAccountShard.account_id == external.id, LedgerAccountShard.entry_count > 0)
        )
        shards = await session.scalar(
            select(func.count())
            .select_from(LedgerAccountShard)
            .where(LedgerAccountShard.account_id == external.id)
        )
    assert shards == SYSTEM_SHARDS
    assert refused < 240
    if engine == "postgresql":  # concurrent movements took different shards
        assert used is not None and used > 1


async def test_a_shard_corrupted_by_hand_is_named(ledger_db: Database, database_url: str) -> None:
    await funded_wallet(ledger_db, 500)
    async with ledger_db.session() as session:
        external = await Ledger(session).system_account("external", "USD")
        shard = await session.scalar(
            select(LedgerAccountShard.shard).where(
                LedgerAccountShard.account_id == external.id, LedgerAccountShard.entry_count > 0
            )
        )
        await session.execute(
            text(
                "UPDATE ledger_account_shards SET balance = balance - 1"
                " WHERE account_id = :id AND shard = :shard"
            ),
            {"id": external.id, "shard": shard},
        )
    result = await run_tessera("ledger", "check", env=database_env(database_url))
    assert result.returncode == 1
    assert f"account {external.id} (system external USD) shard {shard}" in result.stderr
    assert "stored balance -501, entries sum -500" in result.stderr
    assert "currency USD: balances sum to -1, not 0" in result.stderr


async def test_money_on_a_system_accounts_own_row_is_refused(ledger_db: Database) -> None:
    """The hot row is gone for good: the database refuses a balance on it."""
    async with ledger_db.session() as session:
        external = await Ledger(session).system_account("external", "USD")
    with pytest.raises(IntegrityError):
        async with ledger_db.session() as session:
            await session.execute(
                text("UPDATE ledger_accounts SET balance = 5 WHERE id = :id"), {"id": external.id}
            )
