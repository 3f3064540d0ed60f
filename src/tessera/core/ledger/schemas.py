"""Request and response bodies of the wallet endpoints (seed 001's shapes).

Amounts go out as decimal strings with the currency's two decimals (`"12.50"`): exact, and
what Pydantic writes for a `Decimal`. They come in as JSON numbers or decimal strings.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from tessera.core.kit.money import MinorUnits, format_amount
from tessera.core.ledger.service import HistoryItem
from tessera.core.ledger.wallet import WALLET_CURRENCY, WalletMovement, WalletSummary

UsdAmount = Annotated[int, MinorUnits(WALLET_CURRENCY)]
SignedUsdAmount = Annotated[int, MinorUnits(WALLET_CURRENCY, signed=True)]
Description = Annotated[str, Field(min_length=1, max_length=500)]


def usd(minor: int) -> Decimal:
    return format_amount(minor, WALLET_CURRENCY)


class WalletAmountIn(BaseModel):
    amount_usd: UsdAmount = Field(description="Positive amount in USD, at most 2 decimals")
    description: Description | None = None


class AdjustmentIn(BaseModel):
    amount_usd: SignedUsdAmount = Field(
        description="Signed USD amount: positive credits the wallet, negative debits it"
    )
    description: Description = Field(description="Why the balance is adjusted (kept forever)")


class WalletOut(BaseModel):
    wallet_id: str
    user_id: str
    balance_usd: Decimal
    reserved_usd: Decimal
    lifetime_deposits: Decimal
    lifetime_fees: Decimal
    created_at: datetime

    @classmethod
    def of(cls, summary: WalletSummary) -> WalletOut:
        wallet = summary.wallet
        assert wallet.user_id is not None
        return cls(
            wallet_id=wallet.id,
            user_id=wallet.user_id,
            balance_usd=usd(wallet.balance),
            reserved_usd=usd(wallet.reserved),  # Σ of the wallet's pending holds
            lifetime_deposits=usd(summary.lifetime_deposits),
            lifetime_fees=usd(summary.lifetime_fees),
            created_at=wallet.created_at,
        )


class LedgerEntryOut(BaseModel):
    """One line of the wallet's ledger. `amount_usd` is the size of the movement; the
    direction is in `direction` and in `balance_before` → `balance_after`."""

    ledger_id: str = Field(description="The ledger transaction id")
    entry_type: str = Field(
        description="DEPOSIT, WITHDRAWAL, FEE_PERFORMANCE, FEE_SUBSCRIPTION, REFUND,"
        " ADJUSTMENT_ADMIN, or the kind a module gave its movement"
    )
    amount_usd: Decimal
    direction: Literal["credit", "debit"]
    balance_before: Decimal
    balance_after: Decimal
    description: str | None
    created_at: datetime

    @classmethod
    def of_movement(cls, movement: WalletMovement) -> LedgerEntryOut:
        entry, txn = movement.entry, movement.transaction
        return cls(
            ledger_id=txn.id,
            entry_type=txn.kind,
            amount_usd=usd(abs(entry.amount)),
            direction="credit" if entry.amount > 0 else "debit",
            balance_before=usd(entry.balance_after - entry.amount),
            balance_after=usd(entry.balance_after),
            description=txn.description,
            created_at=entry.created_at,
        )

    @classmethod
    def of_history(cls, item: HistoryItem) -> LedgerEntryOut:
        return cls(
            ledger_id=item.transaction_id,
            entry_type=item.kind,
            amount_usd=usd(abs(item.amount)),
            direction="credit" if item.amount > 0 else "debit",
            balance_before=usd(item.balance_before),
            balance_after=usd(item.balance_after),
            description=item.description,
            created_at=item.created_at,
        )
