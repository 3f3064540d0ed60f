"""The core ledger: double-entry wallets in integer minor units; the only way money moves.

    ledger = Ledger(session)                       # in the caller's transaction; never commits
    await ledger.charge_user(user_id, 250, "USD", kind="TOKEN_PURCHASE", reference=order_id)
    await ledger.credit_user(child_id, 100, "EUR", kind="DAILY_REWARD", from_account="rewards")
    hold = await ledger.hold(account_id=w, target_account_id=r, amount=500, kind="ORDER",
                             expires_at=utcnow() + timedelta(minutes=15))
    await ledger.capture(hold.id, 420)             # or ledger.void(hold.id); expiry releases it

Refused movements raise `InsufficientFunds` (400 "Insufficient balance") and friends and leave
nothing behind. See `service.py` for the concurrency design and `docs/ledger.md`.
"""

from tessera.core.ledger.errors import (
    AccountNotFound,
    BalanceLimitExceeded,
    CurrencyMismatch,
    DirectDepositsDisabled,
    HoldNotFound,
    HoldNotPending,
    InsufficientFunds,
    InvalidAmount,
    InvalidKind,
    LedgerBusy,
    SameAccount,
    WalletNotFound,
)
from tessera.core.ledger.models import LedgerAccount, LedgerEntry, LedgerHold, LedgerTransaction
from tessera.core.ledger.service import HistoryItem, Ledger

__all__ = [
    "AccountNotFound",
    "BalanceLimitExceeded",
    "CurrencyMismatch",
    "DirectDepositsDisabled",
    "HistoryItem",
    "HoldNotFound",
    "HoldNotPending",
    "InsufficientFunds",
    "InvalidAmount",
    "InvalidKind",
    "Ledger",
    "LedgerAccount",
    "LedgerBusy",
    "LedgerEntry",
    "LedgerHold",
    "LedgerTransaction",
    "SameAccount",
    "WalletNotFound",
]
