"""All of the ledger's SQL. Never commits: the request or the job owns the transaction."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Table,
    and_,
    bindparam,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from tessera.core.audit import append_statement
from tessera.core.db.base import new_uuid, utcnow
from tessera.core.db.engine import insert_for
from tessera.core.kit.money import MAX_BALANCE_MINOR
from tessera.core.ledger.models import (
    SYSTEM_SHARDS,
    LedgerAccount,
    LedgerAccountShard,
    LedgerEntry,
    LedgerHold,
    LedgerTransaction,
)


@dataclass(frozen=True)
class AccountDrift:
    account: LedgerAccount
    shard: int | None  # the system account's shard that drifted; None for a wallet
    stored_balance: int
    stored_count: int
    entries_sum: int
    entries_count: int
    last_balance_after: int | None


def _table(model: Any) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


ACCOUNTS = _table(LedgerAccount)
SHARDS = _table(LedgerAccountShard)
TRANSACTIONS = _table(LedgerTransaction)
ENTRIES = _table(LedgerEntry)


@dataclass(frozen=True)
class Party:
    """What a movement needs to know of an account, read by one Core SELECT (no ORM object,
    no identity map, no shard sum): a movement never reads a balance, it changes it."""

    id: str
    currency: str
    allow_negative: bool
    user_id: str | None
    code: str | None

    @classmethod
    def of(cls, account: LedgerAccount) -> Party:
        return cls(
            account.id, account.currency, account.allow_negative, account.user_id, account.code
        )


PARTY = select(
    ACCOUNTS.c.id,
    ACCOUNTS.c.currency,
    ACCOUNTS.c.allow_negative,
    ACCOUNTS.c.user_id,
    ACCOUNTS.c.code,
)
PARTIES_BY_ID = PARTY.where(ACCOUNTS.c.id.in_(bindparam("ids", expanding=True)))
# A user's wallet and a named account of one currency: both sides of a deposit or a charge.
WALLET_AND_NAMED = PARTY.where(
    ACCOUNTS.c.currency == bindparam("currency"),
    or_(ACCOUNTS.c.user_id == bindparam("user_id"), ACCOUNTS.c.code == bindparam("code")),
)

# The guarded single-statement balance change of a wallet (see `apply_delta`). Built once:
# a statement object is compiled and its cache key computed on first use only.
_new_balance = ACCOUNTS.c.balance + bindparam("b_delta", type_=ACCOUNTS.c.balance.type)
WALLET_DELTA = (
    update(ACCOUNTS)
    .where(
        ACCOUNTS.c.id == bindparam("b_account"),
        ~ACCOUNTS.c.allow_negative,
        _new_balance <= MAX_BALANCE_MINOR,
        _new_balance >= ACCOUNTS.c.reserved,  # held money cannot be spent twice
    )
    .values(balance=_new_balance, entry_count=ACCOUNTS.c.entry_count + 1)
    .returning(ACCOUNTS.c.balance, ACCOUNTS.c.entry_count)
)


def _shard_delta(shard: Any) -> Any:
    new_balance = SHARDS.c.balance + bindparam("b_delta", type_=SHARDS.c.balance.type)
    return (
        update(SHARDS)
        .where(
            SHARDS.c.account_id == bindparam("b_account"),
            SHARDS.c.shard == shard,
            new_balance <= MAX_BALANCE_MINOR,
            new_balance >= -MAX_BALANCE_MINOR,
        )
        .values(balance=new_balance, entry_count=SHARDS.c.entry_count + 1)
        .returning(SHARDS.c.shard, SHARDS.c.balance, SHARDS.c.entry_count)
    )


SHARD_DELTA = _shard_delta(bindparam("b_shard"))
# PostgreSQL: any shard no other transaction holds, chosen at random, locked in the UPDATE.
FREE_SHARD_DELTA = _shard_delta(
    select(SHARDS.c.shard)
    .where(SHARDS.c.account_id == bindparam("b_account"))
    .order_by(func.random())
    .limit(1)
    .with_for_update(skip_locked=True)
    .scalar_subquery()
)

# A movement's rows: its transaction, its two entries (debit `d_…`, credit `c_…`) and its
# audit row (`a_…`). Each value is bound by column name with its prefix.
TRANSACTION_INSERT = insert(TRANSACTIONS).values(
    {c.name: bindparam("t_" + c.name) for c in TRANSACTIONS.columns}
)
# (INSERT … SELECT … UNION ALL SELECT …: SQLAlchemy caches its compiled form, which it does
# not for a multi-row VALUES.)
ENTRIES_INSERT = insert(ENTRIES).from_select(
    [c.name for c in ENTRIES.columns],
    union_all(
        *(
            select(*(bindparam(side + c.name, type_=c.type) for c in ENTRIES.columns))
            for side in ("d_", "c_")
        )
    ),
)
AUDIT_INSERT = append_statement("a_")
# PostgreSQL: all three in one statement, one round trip. The foreign keys (entry →
# transaction) are checked at the end of the statement, when every row is in.
MOVEMENT_ROWS = append_statement("a_").add_cte(
    TRANSACTION_INSERT.cte("movement_transaction"), ENTRIES_INSERT.cte("movement_entries")
)


def _bound(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    return {prefix + name: value for name, value in values.items()}


@dataclass(frozen=True)
class ShardUpdate:
    shard: int
    balance: int  # the shard's balance after the update
    entry_count: int


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

    async def lock_wallets(self, account_ids: Sequence[str]) -> None:
        """PostgreSQL: lock these wallets now, in ascending id order (see `service`)."""
        if self.dialect != "postgresql" or not account_ids:
            return
        await self.session.execute(
            select(LedgerAccount.id)
            .where(LedgerAccount.id.in_(sorted(set(account_ids))), ~LedgerAccount.allow_negative)
            .order_by(LedgerAccount.id)
            .with_for_update()
        )

    async def flush_pending(self) -> None:
        """Flush what the caller added or changed before a Core statement that depends on it
        (Core statements do not autoflush): a wallet may be opened for a user inserted in
        this transaction. Nothing to do, and no round trip, when the session is clean."""
        if self.session.new or self.session.dirty or self.session.deleted:
            await self.session.flush()

    # --- accounts -----------------------------------------------------------------------------

    async def parties(self, account_ids: Sequence[str]) -> dict[str, Party]:
        await self.flush_pending()
        rows = await self.session.execute(PARTIES_BY_ID, {"ids": list(account_ids)})
        return {row[0]: Party(*row) for row in rows}

    async def wallet_and_named(
        self, user_id: str, code: str, currency: str
    ) -> tuple[Party | None, Party | None]:
        """The user's wallet and the account named `code`, both in `currency`; one query."""
        await self.flush_pending()
        rows = await self.session.execute(
            WALLET_AND_NAMED, {"user_id": user_id, "code": code, "currency": currency}
        )
        wallet = named = None
        for row in rows:
            party = Party(*row)
            if party.user_id == user_id:
                wallet = party
            else:
                named = party
        return wallet, named

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
                own_balance=0,
                entry_count=0,
                allow_negative=False,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["user_id", "currency"])
        )

    async def insert_system(self, code: str, currency: str, *, allow_negative: bool = True) -> None:
        """The account (and, if it may go negative, its shards); nothing if a concurrent
        caller created it first."""
        created = await self.session.scalar(
            insert_for(self.dialect, LedgerAccount)
            .values(
                id=new_uuid(),
                code=code,
                currency=currency,
                own_balance=0,
                entry_count=0,
                allow_negative=allow_negative,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["code", "currency"])
            .returning(LedgerAccount.id)
        )
        if created is not None and allow_negative:
            await self.session.execute(
                insert_for(self.dialect, LedgerAccountShard).values(
                    [
                        {"account_id": created, "shard": shard, "balance": 0, "entry_count": 0}
                        for shard in range(SYSTEM_SHARDS)
                    ]
                )
            )

    async def current_balance(self, account_id: str) -> int | None:
        return await self.session.scalar(
            select(LedgerAccount.balance).where(LedgerAccount.id == account_id)
        )

    async def apply_delta(self, account_id: str, delta: int) -> tuple[int, int] | None:
        """Add `delta` to the balance unless that breaks the account's bounds: the balance
        and entry count after it, or None if refused.

        One guarded statement: the row lock, the check and the write are a single step, so
        on PostgreSQL a concurrent writer is waited for and the condition re-checked on the
        row it committed (READ COMMITTED re-evaluates the WHERE clause on the new version).
        The account's object, if the session has loaded it, is kept up to date.
        """
        row = (
            await self.session.execute(WALLET_DELTA, {"b_account": account_id, "b_delta": delta})
        ).first()
        if row is None:
            return None
        balance, count = int(row[0]), int(row[1])
        loaded = self.session.identity_map.get(identity_key(LedgerAccount, account_id))
        if loaded is not None:
            for name, value in (("own_balance", balance), ("balance", balance)):
                set_committed_value(loaded, name, value)
            set_committed_value(loaded, "entry_count", count)
        return balance, count

    async def apply_shard_delta(
        self, account_id: str, delta: int, *, held: int | None
    ) -> ShardUpdate | None:
        """Add `delta` to one shard of a system account; None if it would leave ±10¹⁸.

        `held` is a shard this transaction already holds (reused: no wait, no new lock).
        Otherwise PostgreSQL takes any shard no other transaction holds (`SKIP LOCKED`), so
        a movement never waits behind another on a system account; only when every shard is
        held does it wait, for one chosen at random. SQLite has one writer: any shard will do.
        """
        if held is not None:
            return await self._update_shard(SHARD_DELTA, account_id, delta, held)
        if self.dialect == "postgresql":
            updated = await self._update_shard(FREE_SHARD_DELTA, account_id, delta)
            if updated is not None:
                return updated
        # Every shard busy (or SQLite): wait for one at random.
        shard = random.randrange(SYSTEM_SHARDS)  # noqa: S311 - spreading load, not secrecy
        return await self._update_shard(SHARD_DELTA, account_id, delta, shard)

    async def _update_shard(
        self, stmt: Any, account_id: str, delta: int, shard: int | None = None
    ) -> ShardUpdate | None:
        params: dict[str, Any] = {"b_account": account_id, "b_delta": delta}
        if shard is not None:
            params["b_shard"] = shard
        row = (await self.session.execute(stmt, params)).first()
        return None if row is None else ShardUpdate(int(row[0]), int(row[1]), int(row[2]))

    # --- holds ----------------------------------------------------------------------------------

    async def reserve(self, account_id: str, amount: int) -> bool:
        """Reserve `amount` of a wallet's spendable balance; False if it has less. Guarded
        like a withdrawal: one statement, re-checked on the committed row."""
        reserved = await self.session.scalar(
            update(LedgerAccount)
            .where(
                LedgerAccount.id == account_id,
                ~LedgerAccount.allow_negative,
                LedgerAccount.own_balance - LedgerAccount.reserved >= amount,
            )
            .values(reserved=LedgerAccount.reserved + amount)
            .returning(LedgerAccount.reserved)
            .execution_options(synchronize_session=False)
        )
        return reserved is not None

    async def unreserve(self, account_id: str, amount: int) -> None:
        await self.session.execute(
            update(LedgerAccount)
            .where(LedgerAccount.id == account_id)
            .values(reserved=LedgerAccount.reserved - amount)
            .execution_options(synchronize_session=False)
        )

    async def add_hold(self, hold: LedgerHold) -> None:
        self.session.add(hold)
        await self.session.flush()

    async def get_hold(self, hold_id: str) -> LedgerHold | None:
        return await self.session.get(LedgerHold, hold_id, populate_existing=True)

    async def resolve_hold(
        self, hold_id: str, status: str, *, captured: int, now: datetime, live_only: bool
    ) -> LedgerHold | None:
        """Move a pending hold to `status`; None if it is not pending (or, with `live_only`,
        has expired). One guarded statement: of two racing resolutions exactly one wins."""
        conditions = [LedgerHold.id == hold_id, LedgerHold.status == "pending"]
        if live_only:
            conditions.append(LedgerHold.expires_at > now)
        return await self.session.scalar(
            update(LedgerHold)
            .where(*conditions)
            .values(status=status, captured=captured, resolved_at=now)
            .returning(LedgerHold)
            .execution_options(populate_existing=True, synchronize_session=False)
        )

    async def link_hold(self, hold_id: str, transaction_id: str) -> None:
        await self.session.execute(
            update(LedgerHold)
            .where(LedgerHold.id == hold_id)
            .values(transaction_id=transaction_id)
            .execution_options(synchronize_session=False)
        )

    async def expired_hold_ids(self, now: datetime, limit: int) -> list[str]:
        stmt = (
            select(LedgerHold.id)
            .where(LedgerHold.status == "pending", LedgerHold.expires_at <= now)
            .order_by(LedgerHold.expires_at)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        return list(await self.session.scalars(stmt))

    async def reserved_drift(self) -> list[tuple[LedgerAccount, int]]:
        """Wallets whose `reserved` is not the sum of their pending holds."""
        pending = (
            select(LedgerHold.account_id, func.sum(LedgerHold.amount).label("held"))
            .where(LedgerHold.status == "pending")
            .group_by(LedgerHold.account_id)
            .subquery()
        )
        held = func.coalesce(pending.c.held, 0)
        rows = await self.session.execute(
            select(LedgerAccount, held)
            .outerjoin(pending, pending.c.account_id == LedgerAccount.id)
            .where(
                or_(
                    LedgerAccount.reserved != held,
                    LedgerAccount.reserved > LedgerAccount.own_balance,
                )
            )
            .order_by(LedgerAccount.id)
        )
        return [(account, int(total)) for account, total in rows]

    # --- transactions and entries -------------------------------------------------------------

    async def write_movement(
        self,
        transaction: dict[str, Any],
        debit: dict[str, Any],
        credit: dict[str, Any],
        audit: dict[str, Any],
    ) -> None:
        """Insert a movement's transaction, its two entries and its audit row (column name →
        value each). PostgreSQL: one statement, one round trip. SQLite runs in the process,
        where a statement costs no round trip and data-modifying CTEs do not exist: three."""
        await self.flush_pending()
        params = {
            **_bound("t_", transaction),
            **_bound("d_", debit),
            **_bound("c_", credit),
            **_bound("a_", audit),
        }
        if self.dialect == "postgresql":
            await self.session.execute(MOVEMENT_ROWS, params)
            return
        for stmt in (TRANSACTION_INSERT, ENTRIES_INSERT, AUDIT_INSERT):
            await self.session.execute(stmt, params)

    async def entries_page(
        self, account_id: str, *, limit: int, offset: int, sharded: bool = False
    ) -> list[tuple[LedgerEntry, LedgerTransaction]]:
        # A wallet's `seq` is its exact order; a system account's shards each count their own.
        order = (
            (LedgerEntry.created_at.desc(), LedgerEntry.id.desc())
            if sharded
            else (LedgerEntry.seq.desc(),)
        )
        rows = await self.session.execute(
            select(LedgerEntry, LedgerTransaction)
            .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
            .where(LedgerEntry.account_id == account_id)
            .order_by(*order)
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

    def _balance_units(self) -> Any:
        """Every place a balance is stored: (account_id, shard, balance, entry_count) for each
        wallet (shard 0, on its own row) and each system account's shard."""
        wallets = select(
            LedgerAccount.id.label("account_id"),
            literal(0).label("shard"),
            LedgerAccount.own_balance.label("balance"),
            LedgerAccount.entry_count.label("entry_count"),
        ).where(~LedgerAccount.allow_negative)
        shards = select(
            LedgerAccountShard.account_id,
            LedgerAccountShard.shard,
            LedgerAccountShard.balance,
            LedgerAccountShard.entry_count,
        )
        return union_all(wallets, shards).subquery()

    async def account_drift(self) -> list[AccountDrift]:
        """Wallets and shards whose stored balance or entry count differs from their entries,
        system accounts holding money on their own row, and entries with no place to be."""
        units = self._balance_units()
        totals = (
            select(
                LedgerEntry.account_id.label("account_id"),
                LedgerEntry.shard.label("shard"),
                func.coalesce(func.sum(LedgerEntry.amount), 0).label("total"),
                func.count().label("n"),
                func.max(LedgerEntry.seq).label("last_seq"),
            )
            .group_by(LedgerEntry.account_id, LedgerEntry.shard)
            .subquery()
        )
        last = (
            select(LedgerEntry.account_id, LedgerEntry.shard, LedgerEntry.balance_after)
            .join(
                totals,
                and_(
                    totals.c.account_id == LedgerEntry.account_id,
                    totals.c.shard == LedgerEntry.shard,
                    totals.c.last_seq == LedgerEntry.seq,
                ),
            )
            .subquery()
        )
        entries_sum = func.coalesce(totals.c.total, 0)
        entries_count = func.coalesce(totals.c.n, 0)
        rows = await self.session.execute(
            select(
                LedgerAccount,
                units.c.shard,
                units.c.balance,
                units.c.entry_count,
                entries_sum,
                entries_count,
                last.c.balance_after,
            )
            .join(units, units.c.account_id == LedgerAccount.id)
            .outerjoin(
                totals,
                and_(totals.c.account_id == units.c.account_id, totals.c.shard == units.c.shard),
            )
            .outerjoin(
                last, and_(last.c.account_id == units.c.account_id, last.c.shard == units.c.shard)
            )
            .where(
                or_(
                    units.c.balance != entries_sum,
                    units.c.entry_count != entries_count,
                    and_(
                        last.c.balance_after.is_not(None),
                        last.c.balance_after != units.c.balance,
                    ),
                    and_(units.c.balance < 0, ~LedgerAccount.allow_negative),
                )
            )
            .order_by(LedgerAccount.created_at, LedgerAccount.id, units.c.shard)
        )
        drifts = [
            AccountDrift(
                account,
                int(shard) if account.allow_negative else None,
                int(balance),
                int(count),
                int(total),
                int(n),
                last_after,
            )
            for account, shard, balance, count, total, n, last_after in rows
        ]
        # Money on a system account's own row, or entries whose (account, shard) stores nothing.
        strays = await self.session.execute(
            select(LedgerAccount, totals.c.shard, totals.c.total, totals.c.n)
            .join(totals, totals.c.account_id == LedgerAccount.id)
            .outerjoin(
                units,
                and_(units.c.account_id == totals.c.account_id, units.c.shard == totals.c.shard),
            )
            .where(units.c.account_id.is_(None))
        )
        drifts += [
            AccountDrift(account, int(shard), 0, 0, int(total), int(n), None)
            for account, shard, total, n in strays
        ]
        own = await self.session.scalars(
            select(LedgerAccount).where(
                LedgerAccount.allow_negative,
                or_(LedgerAccount.own_balance != 0, LedgerAccount.entry_count != 0),
            )
        )
        drifts += [
            AccountDrift(account, None, account.own_balance, account.entry_count, 0, 0, None)
            for account in own
        ]
        return drifts

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
                .over(
                    partition_by=(LedgerEntry.account_id, LedgerEntry.shard),
                    order_by=LedgerEntry.seq,
                )
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
        """Σ balances per currency: zero in a double-entry ledger (system accounts' shards
        included)."""
        units = self._balance_units()
        rows = await self.session.execute(
            select(LedgerAccount.currency, func.sum(units.c.balance))
            .join(units, units.c.account_id == LedgerAccount.id)
            .group_by(LedgerAccount.currency)
        )
        return {currency: int(total or 0) for currency, total in rows}

    async def count_rows(self) -> tuple[int, int, int]:
        counts = []
        for model in (LedgerAccount, LedgerTransaction, LedgerEntry):
            counts.append(
                int(await self.session.scalar(select(func.count()).select_from(model)) or 0)
            )
        return counts[0], counts[1], counts[2]
