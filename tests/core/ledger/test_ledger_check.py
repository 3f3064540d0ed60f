"""`tessera ledger check` recomputes the ledger from its entries and names what drifted."""

from __future__ import annotations

from sqlalchemy import text

from tessera.core.db.base import new_uuid, utcnow
from tessera.core.db.engine import Database
from tessera.core.ledger import Ledger
from tests.helpers.cli import database_env, run_tessera

from .ledger_support import funded_wallet


async def some_activity(db: Database) -> tuple[str, str]:
    payer, payer_wallet = await funded_wallet(db, 5_000)
    _, payee_wallet = await funded_wallet(db, 0)
    async with db.session() as session:
        ledger = Ledger(session)
        await ledger.transfer(
            debit_account_id=payer_wallet,
            credit_account_id=payee_wallet,
            amount=1_200,
            kind="TRANSFER",
        )
        await ledger.charge_user(payer, 300, "USD", kind="FEE_SUBSCRIPTION")
    return payer_wallet, payee_wallet


async def test_a_clean_ledger_passes(ledger_db: Database, database_url: str) -> None:
    await some_activity(ledger_db)
    result = await run_tessera("ledger", "check", env=database_env(database_url))
    assert result.returncode == 0, result.stderr
    assert "ledger consistent: 4 accounts, 3 transactions, 6 entries" in result.stdout


async def test_a_balance_corrupted_by_hand_is_named(ledger_db: Database, database_url: str) -> None:
    payer_wallet, payee_wallet = await some_activity(ledger_db)
    async with ledger_db.session() as session:
        await session.execute(
            text("UPDATE ledger_accounts SET balance = balance + 100 WHERE id = :id"),
            {"id": payee_wallet},
        )
    result = await run_tessera("ledger", "check", env=database_env(database_url))
    assert result.returncode == 1
    assert f"account {payee_wallet}" in result.stderr
    assert "stored balance 1300, entries sum 1200" in result.stderr
    assert payer_wallet not in result.stderr
    assert "currency USD: balances sum to 100, not 0" in result.stderr


async def test_a_forged_entry_is_named(ledger_db: Database, database_url: str, engine: str) -> None:
    """What someone with raw database access might do: switch the guard off, add money."""
    _, payee_wallet = await some_activity(ledger_db)
    txn_id = new_uuid()
    async with ledger_db.session() as session:
        if engine == "postgresql":
            await session.execute(
                text("ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_balanced")
            )
        await session.execute(
            text(
                "INSERT INTO ledger_transactions (id, kind, currency, amount, metadata,"
                " created_at) VALUES (:id, 'FORGED', 'USD', 500, '{}', :now)"
            ),
            {"id": txn_id, "now": utcnow()},
        )
        await session.execute(
            text(
                "INSERT INTO ledger_entries (id, transaction_id, account_id, seq, amount,"
                " balance_after, created_at) VALUES (:id, :txn, :acc, 2, 500, 1700, :now)"
            ),
            {"id": new_uuid(), "txn": txn_id, "acc": payee_wallet, "now": utcnow()},
        )
    result = await run_tessera("ledger", "check", env=database_env(database_url))
    assert result.returncode == 1
    assert f"transaction {txn_id} (FORGED): entries sum 500 over 1 entries" in result.stderr
    assert f"account {payee_wallet}" in result.stderr  # its entries no longer match its balance
