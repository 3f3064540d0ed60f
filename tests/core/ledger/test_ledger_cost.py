"""What a movement costs the database: a bounded number of statements (round trips on
PostgreSQL), counted exactly, and what the cheaper path must still see and keep up to date."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, func, select

from tessera.core.audit.models import AuditLog
from tessera.core.config import Settings
from tessera.core.db.engine import Database
from tessera.core.errors import AppError
from tessera.core.identity.models import User
from tessera.core.ledger import InsufficientFunds, Ledger, LedgerEntry
from tessera.core.ledger.wallet import WalletService
from tests.core.ledger.ledger_support import funded_wallet, new_user

# The movement itself: one query for both accounts, a savepoint, the wallet's and the
# system shard's guarded updates, one statement for the transaction, its entries and its
# audit row, the savepoint's release. SQLite writes the three rows with three statements (no
# data-modifying CTEs; in-process, a statement is no round trip).
MOVEMENT_STATEMENTS = {"postgresql": 6, "sqlite": 8}


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    sent: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)


async def test_a_deposit_and_a_transfer_each_cost_a_fixed_few_statements(
    ledger_db: Database,
) -> None:
    user_id, wallet_id = await funded_wallet(ledger_db, 500)
    _, other_id = await funded_wallet(ledger_db, 500)
    limit = MOVEMENT_STATEMENTS[ledger_db.dialect]
    for move in ("deposit", "transfer"):
        async with ledger_db.session() as session:
            await session.execute(select(1))  # the transaction is open: BEGIN is not counted
            ledger = Ledger(session)
            with statements(ledger_db) as sent:
                if move == "deposit":
                    await ledger.credit_user(user_id, 100, "USD", kind="DEPOSIT")
                else:
                    await ledger.transfer(
                        debit_account_id=wallet_id,
                        credit_account_id=other_id,
                        amount=100,
                        kind="TRANSFER",
                    )
        assert len(sent) <= limit, (move, sent)
    async with ledger_db.session(write=False) as session:
        ledger = Ledger(session)
        assert (await ledger.balance(wallet_id), await ledger.balance(other_id)) == (500, 600)
        audited = await session.scalar(
            select(func.count()).where(AuditLog.action == "ledger.transfer")
        )
        assert audited == 4  # the two fundings, the deposit, the transfer


async def test_a_movement_sees_what_the_caller_added_and_updates_what_it_loaded(
    ledger_db: Database,
) -> None:
    """The movement's statements are Core statements (no unit of work): a user added in the
    same transaction and not yet flushed still gets a wallet, a wallet the session had loaded
    shows its new balance, and the returned entries are the stored ones."""
    async with ledger_db.session() as session:
        user = User(id=str(uuid.uuid4()), email=f"fresh-{uuid.uuid4().hex[:12]}@example.com")
        session.add(user)  # not flushed
        ledger = Ledger(session)
        txn = await ledger.credit_user(user.id, 250, "USD", kind="DEPOSIT")
        wallet = await ledger.wallet_for(user.id, "USD")
        assert wallet is not None
        await ledger.credit_user(user.id, 50, "USD", kind="DEPOSIT")
        assert (wallet.balance, wallet.entry_count) == (300, 2)
    assert [e.amount for e in txn.entries] == [-250, 250]
    async with ledger_db.session(write=False) as session:
        stored = await session.scalars(
            select(LedgerEntry.amount).where(LedgerEntry.transaction_id == txn.id)
        )
        assert sorted(stored) == [-250, 250]
        assert await Ledger(session).balance(wallet.id) == 300


async def test_a_refused_transfer_between_wallets_leaves_the_loaded_wallets_right(
    ledger_db: Database,
) -> None:
    poor = await new_user(ledger_db)
    _, rich_wallet = await funded_wallet(ledger_db, 1000)
    async with ledger_db.session() as session:
        ledger = Ledger(session)
        poor_wallet = await ledger.open_wallet(poor, "USD")
        rich = await ledger.get_account(rich_wallet)
        try:
            await ledger.transfer(
                debit_account_id=poor_wallet.id,
                credit_account_id=rich.id,
                amount=1,
                kind="TRANSFER",
            )
        except InsufficientFunds:
            pass
        else:
            raise AssertionError("an empty wallet paid")
        assert (poor_wallet.balance, rich.balance) == (0, 1000)


async def test_a_withdrawal_reads_the_wallet_once_and_a_missing_wallet_is_still_a_404(
    ledger_db: Database, settings: Settings
) -> None:
    user_id, _ = await funded_wallet(ledger_db, 500)
    async with ledger_db.session() as session:
        await session.execute(select(1))
        with statements(ledger_db) as sent:
            moved = await WalletService(session, settings).withdraw(user_id, 200, None)
    assert len(sent) <= MOVEMENT_STATEMENTS[ledger_db.dialect], sent
    assert moved.entry.balance_after == 300
    walletless = await new_user(ledger_db)
    async with ledger_db.session() as session:
        try:
            await WalletService(session, settings).withdraw(walletless, 1, None)
        except AppError as refused:
            assert (refused.status_code, refused.code) == (404, "wallet_not_found")
        else:
            raise AssertionError("a user without a wallet withdrew")
