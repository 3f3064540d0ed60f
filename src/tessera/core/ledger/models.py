"""Ledger tables: accounts with balances, transactions, and the entries that move money.

Double entry: a transaction has at least two entries whose signed amounts sum to zero, so
money is only ever moved, never created or lost. An account's balance is the sum of its
entries; `entry_count` numbers its entries (each entry's `seq`), which orders the history
exactly and lets `tessera ledger check` see a missing or extra entry.
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
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tessera.core.db.base import Base, UUIDPrimaryKey, utcnow


class LedgerAccount(UUIDPrimaryKey, Base):
    """A user's wallet (`user_id`, never negative) or a system account (`code`).

    System accounts stand for the world outside (`external`: deposits and withdrawals),
    revenue (`revenue`, `revenue:<module>`), fees, adjustments; they may go negative.
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
    )

    user_id: Mapped[str | None] = mapped_column(String(36), ForeignKey("users.id"))
    code: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    balance: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    entry_count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    allow_negative: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

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
        UniqueConstraint("account_id", "seq"),
        CheckConstraint("amount <> 0", name="non_zero"),
    )

    transaction_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("ledger_transactions.id"), index=True
    )
    account_id: Mapped[str] = mapped_column(String(36), ForeignKey("ledger_accounts.id"))
    seq: Mapped[int] = mapped_column(BigInteger)  # 1, 2, 3 … per account
    amount: Mapped[int] = mapped_column(BigInteger)  # + credit, − debit
    balance_after: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
