"""Ledger tables: accounts with balances, transactions, and the entries that move money.

Double entry: a transaction has at least two entries whose signed amounts sum to zero, so
money is only ever moved, never created or lost. An account's balance is the sum of its
entries; `entry_count` numbers its entries (each entry's `seq`), which orders the history
exactly and lets `tessera ledger check` see a missing or extra entry.

A wallet keeps its balance on its own row. A system account (which may go negative, and which
every deposit, withdrawal or fee touches) keeps it in `SYSTEM_SHARDS` shard rows instead, one
chosen per movement, so movements on different wallets never queue on one row; its entries
are numbered per shard. `LedgerAccount.balance` is the account's balance either way (its own
column plus the sum of its shards).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.orm import Mapped, column_property, declared_attr, mapped_column, relationship

from tessera.core.db.base import Base, UUIDPrimaryKey, utcnow

SYSTEM_SHARDS = 64  # shard rows per system account: more than the movements in flight at once


class LedgerAccountShard(Base):
    """One of a system account's balance rows; the account's balance is their sum."""

    __tablename__ = "ledger_account_shards"

    account_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("ledger_accounts.id"), primary_key=True
    )
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    balance: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    entry_count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class LedgerAccount(UUIDPrimaryKey, Base):
    """A user's wallet (`user_id`, never negative) or a system account (`code`).

    System accounts stand for the world outside (`external`: deposits and withdrawals),
    revenue (`revenue`, `revenue:<module>`), fees, adjustments; they may go negative, and
    their balance lives in their shards (the row's own `balance` and `entry_count` stay 0).
    """

    __tablename__ = "ledger_accounts"
    __table_args__ = (
        UniqueConstraint("user_id", "currency"),
        UniqueConstraint("code", "currency"),
        # The last line of defence: a wallet can never hold less than nothing.
        CheckConstraint("allow_negative OR balance >= 0", name="non_negative"),
        CheckConstraint(
            "(user_id IS NOT NULL AND code IS NULL AND NOT allow_negative)"
            " OR (user_id IS NULL AND code IS NOT NULL)",
            name="owner",
        ),
        # A system account's money is in its shards, never on its (hot) own row.
        CheckConstraint("NOT allow_negative OR (balance = 0 AND entry_count = 0)", name="sharded"),
        # Holds reserve part of a wallet's balance: never more than it holds.
        CheckConstraint("reserved >= 0 AND reserved <= balance", name="reserved_covered"),
    )

    user_id: Mapped[str | None] = mapped_column(String(36), ForeignKey("users.id"))
    code: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    own_balance: Mapped[int] = mapped_column(
        "balance", BigInteger, default=0, server_default="0"
    )  # a wallet's balance; 0 for a system account
    entry_count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Σ of the wallet's pending holds: spendable is `balance - reserved` (0 on system accounts).
    reserved: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    allow_negative: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @declared_attr
    def balance(cls) -> Mapped[int]:
        """The account's balance: its own column plus the sum of its shards (if any)."""
        shards = (
            select(func.sum(LedgerAccountShard.balance))
            .where(LedgerAccountShard.account_id == cls.id)
            .correlate_except(LedgerAccountShard)
            .scalar_subquery()
        )
        return column_property(cls.own_balance + func.coalesce(shards, 0))

    @property
    def is_system(self) -> bool:
        return self.user_id is None

    def describe(self) -> str:
        owner = f"user {self.user_id}" if self.user_id else f"system {self.code}"
        return f"{owner} {self.currency}"


class LedgerTransaction(UUIDPrimaryKey, Base):
    """One money movement. Immutable: corrections are new transactions."""

    __tablename__ = "ledger_transactions"
    __table_args__ = (
        Index("ix_ledger_transactions_reference", "reference"),
        CheckConstraint("amount > 0", name="positive_amount"),
    )

    kind: Mapped[str] = mapped_column(String(40))  # DEPOSIT, WITHDRAWAL, FEE_PERFORMANCE …
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)  # minor units moved
    reference: Mapped[str | None] = mapped_column(String(255))  # the caller's id for it
    description: Mapped[str | None] = mapped_column(String(500))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    created_by: Mapped[str | None] = mapped_column(String(36))  # acting user or API key
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    # Filled by `Ledger.transfer` for the transaction it returns (debit first, then credit);
    # never lazy-loaded (async sessions cannot), so elsewhere read entries through the ledger.
    entries: Mapped[list[LedgerEntry]] = relationship(
        "LedgerEntry", lazy="raise", viewonly=True, order_by="LedgerEntry.amount"
    )


class LedgerEntry(UUIDPrimaryKey, Base):
    """One side of a transaction: a signed amount on one account and the balance after it."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        UniqueConstraint("account_id", "shard", "seq"),
        CheckConstraint("amount <> 0", name="non_zero"),
    )

    transaction_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("ledger_transactions.id"), index=True
    )
    account_id: Mapped[str] = mapped_column(String(36), ForeignKey("ledger_accounts.id"))
    shard: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")  # 0: wallets
    seq: Mapped[int] = mapped_column(BigInteger)  # 1, 2, 3 … per account (and shard)
    amount: Mapped[int] = mapped_column(BigInteger)  # + credit, − debit
    balance_after: Mapped[int] = mapped_column(BigInteger)  # of the account (or its shard)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerHold(UUIDPrimaryKey, Base):
    """A two-phase movement's first phase: `amount` of a wallet reserved (it cannot be spent
    twice) until it is captured (all or part, into `target_account_id`), voided, or expires.
    Only `status`, `captured`, `transaction_id` and `resolved_at` ever change, once."""

    __tablename__ = "ledger_holds"
    __table_args__ = (
        Index("ix_ledger_holds_pending_expiry", "status", "expires_at"),
        CheckConstraint("amount > 0", name="positive_amount"),
        CheckConstraint("captured >= 0 AND captured <= amount", name="captured_within"),
        CheckConstraint(
            "status IN ('pending', 'captured', 'voided', 'expired')", name="known_status"
        ),
    )

    account_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("ledger_accounts.id"), index=True
    )
    target_account_id: Mapped[str] = mapped_column(String(36), ForeignKey("ledger_accounts.id"))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(40))  # the kind of the movement a capture makes
    reference: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[str | None] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    captured: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    transaction_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("ledger_transactions.id")
    )  # the capture's movement
    expires_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column()
