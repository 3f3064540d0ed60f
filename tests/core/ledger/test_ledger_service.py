"""The ledger service other parts move money through, on both engines."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from tessera.core.audit.models import AuditLog
from tessera.core.db.base import new_uuid, utcnow
from tessera.core.db.engine import Database
from tessera.core.kit.money import MAX_AMOUNT_MINOR, MAX_BALANCE_MINOR
from tessera.core.ledger import (
    AccountNotFound,
    BalanceLimitExceeded,
    CurrencyMismatch,
    InsufficientFunds,
    InvalidAmount,
    InvalidKind,
    Ledger,
    LedgerEntry,
    SameAccount,
)
from tests.helpers.audit import sequence_and_verify

from .ledger_support import funded_wallet, ledger_row_counts, new_user, only_postgresql


async def test_open_wallet_is_idempotent_and_per_currency(ledger_db: Database) -> None:
    user_id = await new_user(ledger_db)
    async with ledger_db.session() as session:
        ledger = Ledger(session)
        usd = await ledger.open_wallet(user_id)
        again = await ledger.open_wallet(user_id, "USD")
        eur = await ledger.open_wallet(user_id, "EUR")
        assert usd.id == again.id and eur.id != usd.id
        assert (usd.balance, usd.allow_negative, usd.user_id) == (0, False, user_id)
        assert (await ledger.wallet_for(user_id, "EUR")).id == eur.id  # type: ignore[union-attr]
        assert await ledger.wallet_for(user_id, "CHF") is None
        external = await ledger.system_account("external", "USD")
        assert external.allow_negative and external.code == "external"
        assert (await ledger.system_account("external", "USD")).id == external.id


async def test_money_moves_both_ways_and_every_transaction_sums_to_zero(
    ledger_db: Database,
) -> None:
    user_id, wallet_id = await funded_wallet(ledger_db, 1_000)
    async with ledger_db.session() as session:
        ledger = Ledger(session)
        fee = await ledger.charge_user(
            user_id,
            250,
            "USD",
            kind="FEE_SUBSCRIPTION",
            reference="sub-1",
            metadata={"plan": "gold"},
            to_account="revenue:copytrading",
        )
        debit, credit = fee.entries
        assert (debit.account_id, debit.amount, debit.balance_after) == (wallet_id, -250, 750)
        assert credit.amount == 250 and debit.amount + credit.amount == 0
        assert (fee.kind, fee.reference, fee.meta) == (
            "FEE_SUBSCRIPTION",
            "sub-1",
            {"plan": "gold"},
        )
        assert await ledger.balance(wallet_id) == 750
        revenue = await ledger.system_account("revenue:copytrading", "USD")
        external = await ledger.system_account("external", "USD")
        assert (await ledger.balance(revenue.id), await ledger.balance(external.id)) == (250, -1000)

    async with ledger_db.session(write=False) as session:
        ledger = Ledger(session)
        items, total = await ledger.history(wallet_id, limit=10)
        assert total == 2
        assert [(i.kind, i.amount, i.balance_before, i.balance_after) for i in items] == [
            ("FEE_SUBSCRIPTION", -250, 1000, 750),
            ("DEPOSIT", 1000, 0, 1000),
        ]
        page, _ = await ledger.history(wallet_id, limit=1, offset=1)
        assert [i.kind for i in page] == ["DEPOSIT"]
        sums = await session.execute(
            select(func.sum(LedgerEntry.amount)).group_by(LedgerEntry.transaction_id)
        )
        assert set(sums.scalars()) == {0}


async def test_an_overdraft_is_refused_and_leaves_no_trace(ledger_db: Database) -> None:
    user_id, wallet_id = await funded_wallet(ledger_db, 100)
    before = await ledger_row_counts(ledger_db)
    with pytest.raises(InsufficientFunds) as refused:
        async with ledger_db.session() as session:
            await Ledger(session).charge_user(user_id, 101, "USD", kind="WITHDRAWAL")
    assert (refused.value.status_code, refused.value.detail, refused.value.code) == (
        400,
        "Insufficient balance",
        "insufficient_balance",
    )
    assert await ledger_row_counts(ledger_db) == before
    async with ledger_db.session(write=False) as session:
        assert await Ledger(session).balance(wallet_id) == 100


async def test_a_job_may_catch_a_refusal_and_keep_the_rest_of_its_work(ledger_db: Database) -> None:
    """A refused movement rolls back only itself (a savepoint), not the caller's transaction,
    and the accounts the caller holds show their true balances afterwards."""
    rich, rich_wallet = await funded_wallet(ledger_db, 500)
    poor, poor_wallet = await funded_wallet(ledger_db, 10)
    async with ledger_db.session() as session:
        ledger = Ledger(session)
        charged = []
        for user_id in (rich, poor):
            try:
                await ledger.charge_user(user_id, 50, "USD", kind="FEE_SUBSCRIPTION")
                charged.append(user_id)
            except InsufficientFunds:
                pass
        revenue = await ledger.system_account("revenue", "USD")
        assert revenue.balance == 50  # not 100: the refused credit was rolled back
        poor_account = await ledger.get_account(poor_wallet)
        assert poor_account.balance == 10
    assert charged == [rich]
    async with ledger_db.session(write=False) as session:
        ledger = Ledger(session)
        assert await ledger.balance(rich_wallet) == 450
        assert await ledger.balance(poor_wallet) == 10
        assert await ledger.balance(revenue.id) == 50


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        (0, InvalidAmount),
        (-5, InvalidAmount),
        (True, InvalidAmount),
        (1.5, InvalidAmount),
        (MAX_AMOUNT_MINOR + 1, InvalidAmount),
    ],
)
async def test_invalid_amounts_are_refused_before_touching_anything(
    ledger_db: Database, amount: Any, error: type[Exception]
) -> None:
    user_id, _ = await funded_wallet(ledger_db, 100)
    before = await ledger_row_counts(ledger_db)
    with pytest.raises(error):
        async with ledger_db.session() as session:
            await Ledger(session).charge_user(user_id, amount, "USD", kind="WITHDRAWAL")
    assert await ledger_row_counts(ledger_db) == before


async def test_bad_counterparties_are_refused(ledger_db: Database) -> None:
    _, wallet_id = await funded_wallet(ledger_db, 100)
    _, euro_wallet = await funded_wallet(ledger_db, 100, "EUR")
    before = await ledger_row_counts(ledger_db)
    cases: list[tuple[dict[str, Any], type[Exception]]] = [
        ({"credit_account_id": wallet_id}, SameAccount),
        ({"credit_account_id": euro_wallet}, CurrencyMismatch),
        ({"credit_account_id": new_uuid()}, AccountNotFound),
        ({"credit_account_id": euro_wallet, "kind": "no spaces allowed"}, InvalidKind),
    ]
    for overrides, error in cases:
        with pytest.raises(error):
            async with ledger_db.session() as session:
                arguments = {"debit_account_id": wallet_id, "amount": 10, "kind": "TRANSFER"}
                await Ledger(session).transfer(**(arguments | overrides))
    assert await ledger_row_counts(ledger_db) == before
    with pytest.raises(InsufficientFunds):  # a user without a wallet has nothing to pay with
        async with ledger_db.session() as session:
            await Ledger(session).charge_user(await new_user(ledger_db), 1, "USD", kind="FEE")
    async with ledger_db.session(write=False) as session:
        assert await Ledger(session).balance(wallet_id) == 100


async def test_balances_stay_within_the_64_bit_range(ledger_db: Database) -> None:
    user_id, wallet_id = await funded_wallet(ledger_db, 0)
    async with ledger_db.session() as session:  # as if years of deposits had happened
        await session.execute(
            text("UPDATE ledger_accounts SET balance = :b WHERE id = :id"),
            {"b": MAX_BALANCE_MINOR - 5, "id": wallet_id},
        )
    with pytest.raises(BalanceLimitExceeded):
        async with ledger_db.session() as session:
            await Ledger(session).credit_user(user_id, 10, "USD", kind="DEPOSIT")


async def test_every_movement_writes_one_audit_row_and_the_log_verifies(
    ledger_db: Database,
) -> None:
    user_id, wallet_id = await funded_wallet(ledger_db, 300)
    admin_id = await new_user(ledger_db)
    async with ledger_db.session() as session:
        ledger = Ledger(session)
        txn = await ledger.charge_user(
            user_id, 100, "USD", kind="WITHDRAWAL", to_account="external", created_by=admin_id
        )
    async with ledger_db.session(write=False) as session:
        rows = list(
            await session.scalars(
                select(AuditLog)
                .where(AuditLog.action == "ledger.transfer")
                .order_by(AuditLog.created_at)
            )
        )
        assert len(rows) == 2  # the funding deposit and the withdrawal
        last = rows[-1]
        assert (last.actor_type, last.actor_id, last.user_id) == ("user", admin_id, user_id)
        assert (last.target_type, last.target_id) == ("ledger_transaction", txn.id)
        assert last.details["amount"] == 100 and last.details["debit_account_id"] == wallet_id
        assert rows[0].actor_type == "system"
    report = await sequence_and_verify(ledger_db)
    assert report.ok and report.rows == 2, report


async def test_the_database_refuses_a_negative_wallet_even_without_the_service(
    ledger_db: Database,
) -> None:
    _, wallet_id = await funded_wallet(ledger_db, 5)
    with pytest.raises(IntegrityError):
        async with ledger_db.session() as session:
            await session.execute(
                text("UPDATE ledger_accounts SET balance = -1 WHERE id = :id"), {"id": wallet_id}
            )


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_entries SET amount = amount * 2",
        "DELETE FROM ledger_entries",
        "UPDATE ledger_transactions SET amount = 1",
        "DELETE FROM ledger_transactions",
    ],
)
async def test_entries_and_transactions_are_append_only(
    ledger_db: Database, statement: str
) -> None:
    await funded_wallet(ledger_db, 5)
    with pytest.raises(DBAPIError, match="append-only"):
        async with ledger_db.session() as session:
            await session.execute(text(statement))


@only_postgresql  # SQLite has no deferred triggers: `tessera ledger check` covers it there
async def test_postgresql_refuses_an_unbalanced_transaction_at_commit(
    ledger_db: Database,
) -> None:
    _, wallet_id = await funded_wallet(ledger_db, 5)
    txn_id = new_uuid()
    with pytest.raises(DBAPIError, match="unbalanced"):
        async with ledger_db.session() as session:
            await session.execute(
                text(
                    "INSERT INTO ledger_transactions (id, kind, currency, amount, metadata,"
                    " created_at) VALUES (:id, 'FORGED', 'USD', 1000, '{}', :now)"
                ),
                {"id": txn_id, "now": utcnow()},
            )
            await session.execute(
                text(
                    "INSERT INTO ledger_entries (id, transaction_id, account_id, seq, amount,"
                    " balance_after, created_at) VALUES (:id, :txn, :acc, 99, 1000, 1005, :now)"
                ),
                {"id": new_uuid(), "txn": txn_id, "acc": wallet_id, "now": utcnow()},
            )
    assert await ledger_row_counts(ledger_db) == (1, 2)
