"""All of the ledger's SQL. Never commits: the request or the job owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.audit import lock_chain
from tessera.core.db.base import new_uuid, utcnow
from tessera.core.db.engine import insert_for
from tessera.core.kit.money import MAX_BALANCE_MINOR
from tessera.core.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction


@dataclass(frozen=True)
class AccountDrift:
    account: LedgerAccount
    entries_sum: int
    entries_count: int
    last_balance_after: int | None


@dataclass(frozen=True)
class TransactionImbalance:
    transaction_id: str
    kind: str
    entries_sum: int
    entries_count: int


@dataclass(frozen=True)
class BrokenEntry:
    entry_id: str
    account_id: str
    seq: int
    balance_after: int
    running_sum: int


class LedgerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    # --- locking ------------------------------------------------------------------------------

    async def lock_ledger(self) -> None:
        """On PostgreSQL, take the audit chain's transaction lock (see `service` for why)."""
        await lock_chain(self.session)

    # --- accounts -----------------------------------------------------------------------------

    async def get_account(self, account_id: str) -> LedgerAccount | None:
        return await self.session.get(LedgerAccount, account_id)

    async def find_wallet(self, user_id: str, currency: str) -> LedgerAccount | None:
        return await self.session.scalar(
            select(LedgerAccount).where(
                LedgerAccount.user_id == user_id, LedgerAccount.currency == currency
            )
        )

    async def find_system(self, code: str, currency: str) -> LedgerAccount | None:
        return await self.session.scalar(
            select(LedgerAccount).where(
                LedgerAccount.code == code, LedgerAccount.currency == currency
            )
        )

    async def insert_wallet(self, user_id: str, currency: str) -> None:
        await self.session.execute(
            insert_for(self.dialect, LedgerAccount)
            .values(
                id=new_uuid(),
                user_id=user_id,
                currency=currency,
                balance=0,
                entry_count=0,
                allow_negative=False,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["user_id", "currency"])
        )

    async def insert_system(self, code: str, currency: str) -> None:
        await self.session.execute(
            insert_for(self.dialect, LedgerAccount)
            .values(
                id=new_uuid(),
                code=code,
                currency=currency,
                balance=0,
                entry_count=0,
                allow_negative=True,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["code", "currency"])
        )

    async def current_balance(self, account_id: str) -> int | None:
        return await self.session.scalar(
            select(LedgerAccount.balance).where(LedgerAccount.id == account_id)
        )

    async def apply_delta(self, account_id: str, delta: int) -> LedgerAccount | None:
        """Add `delta` to the balance unless that breaks the account's bounds; None if refused.

        One guarded statement: the row lock, the check and the write are a single step, so
        on PostgreSQL a concurrent writer is waited for and the condition re-checked on the
        row it committed (READ COMMITTED re-evaluates the WHERE clause on the new version).
        """
        new_balance = LedgerAccount.balance + delta
        stmt = (
            update(LedgerAccount)
            .where(
                LedgerAccount.id == account_id,
                new_balance <= MAX_BALANCE_MINOR,
                or_(
                    new_balance >= 0,
                    and_(LedgerAccount.allow_negative, new_balance >= -MAX_BALANCE_MINOR),
                ),
            )
            .values(balance=new_balance, entry_count=LedgerAccount.entry_count + 1)
            .returning(LedgerAccount)
            .execution_options(populate_existing=True, synchronize_session=False)
        )
        return (await self.session.scalars(stmt)).one_or_none()

    # --- transactions and entries -------------------------------------------------------------

    async def add_transaction(self, txn: LedgerTransaction) -> None:
        self.session.add(txn)
        await self.session.flush()

    async def add_entries(self, entries: Sequence[LedgerEntry]) -> None:
        self.session.add_all(entries)
        await self.session.flush()

    async def entries_page(
        self, account_id: str, *, limit: int, offset: int
    ) -> list[tuple[LedgerEntry, LedgerTransaction]]:
        rows = await self.session.execute(
            select(LedgerEntry, LedgerTransaction)
            .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
            .where(LedgerEntry.account_id == account_id)
            .order_by(LedgerEntry.seq.desc())
            .limit(limit)
            .offset(offset)
        )
        return [(entry, txn) for entry, txn in rows]

    async def count_entries(self, account_id: str) -> int:
        total = await self.session.scalar(
            select(func.count())
            .select_from(LedgerEntry)
            .where(LedgerEntry.account_id == account_id)
        )
        return int(total or 0)

    async def sums_by_kind(self, account_id: str, kinds: Sequence[str]) -> dict[str, int]:
        rows = await self.session.execute(
            select(LedgerTransaction.kind, func.sum(LedgerEntry.amount))
            .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
            .where(LedgerEntry.account_id == account_id, LedgerTransaction.kind.in_(kinds))
            .group_by(LedgerTransaction.kind)
        )
        return {kind: int(total or 0) for kind, total in rows}

    # --- reconciliation (`tessera ledger check`) ----------------------------------------------

    async def account_drift(self) -> list[AccountDrift]:
        """Accounts whose stored balance or entry count differs from their entries."""
        totals = (
            select(
                LedgerEntry.account_id.label("account_id"),
                func.coalesce(func.sum(LedgerEntry.amount), 0).label("total"),
                func.count().label("n"),
                func.max(LedgerEntry.seq).label("last_seq"),
            )
            .group_by(LedgerEntry.account_id)
            .subquery()
        )
        last = (
            select(LedgerEntry.account_id, LedgerEntry.balance_after)
            .join(
                totals,
                and_(
                    totals.c.account_id == LedgerEntry.account_id,
                    totals.c.last_seq == LedgerEntry.seq,
                ),
            )
            .subquery()
        )
        entries_sum = func.coalesce(totals.c.total, 0)
        entries_count = func.coalesce(totals.c.n, 0)
        rows = await self.session.execute(
            select(LedgerAccount, entries_sum, entries_count, last.c.balance_after)
            .outerjoin(totals, totals.c.account_id == LedgerAccount.id)
            .outerjoin(last, last.c.account_id == LedgerAccount.id)
            .where(
                or_(
                    LedgerAccount.balance != entries_sum,
                    LedgerAccount.entry_count != entries_count,
                    and_(
                        last.c.balance_after.is_not(None),
                        last.c.balance_after != LedgerAccount.balance,
                    ),
                    and_(LedgerAccount.balance < 0, ~LedgerAccount.allow_negative),
                )
            )
            .order_by(LedgerAccount.created_at, LedgerAccount.id)
        )
        return [
            AccountDrift(account, int(total), int(count), last_after)
            for account, total, count, last_after in rows
        ]

    async def unbalanced_transactions(self) -> list[TransactionImbalance]:
        """Transactions whose entries do not sum to zero, or that have fewer than two."""
        total = func.coalesce(func.sum(LedgerEntry.amount), 0)
        count = func.count(LedgerEntry.id)
        rows = await self.session.execute(
            select(LedgerTransaction.id, LedgerTransaction.kind, total, count)
            .outerjoin(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
            .group_by(LedgerTransaction.id, LedgerTransaction.kind)
            .having(or_(total != 0, count < 2))
            .order_by(LedgerTransaction.id)
        )
        return [TransactionImbalance(txn_id, kind, int(s), int(n)) for txn_id, kind, s, n in rows]

    async def broken_entry_chains(self, limit: int = 100) -> list[BrokenEntry]:
        """Entries whose `balance_after` is not the running sum of their account's entries."""
        running = (
            select(
                LedgerEntry.id,
                LedgerEntry.account_id,
                LedgerEntry.seq,
                LedgerEntry.balance_after,
                func.sum(LedgerEntry.amount)
                .over(partition_by=LedgerEntry.account_id, order_by=LedgerEntry.seq)
                .label("running"),
            )
        ).subquery()
        rows = await self.session.execute(
            select(running)
            .where(running.c.balance_after != running.c.running)
            .order_by(running.c.account_id, running.c.seq)
            .limit(limit)
        )
        return [
            BrokenEntry(r.id, r.account_id, int(r.seq), int(r.balance_after), int(r.running))
            for r in rows
        ]

    async def totals_by_currency(self) -> dict[str, int]:
        """Σ balances per currency: zero in a double-entry ledger (system accounts included)."""
        rows = await self.session.execute(
            select(LedgerAccount.currency, func.sum(LedgerAccount.balance)).group_by(
                LedgerAccount.currency
            )
        )
        return {currency: int(total or 0) for currency, total in rows}

    async def count_rows(self) -> tuple[int, int, int]:
        counts = []
        for model in (LedgerAccount, LedgerTransaction, LedgerEntry):
            counts.append(
                int(await self.session.scalar(select(func.count()).select_from(model)) or 0)
            )
        return counts[0], counts[1], counts[2]
