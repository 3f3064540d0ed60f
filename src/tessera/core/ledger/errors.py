"""The ledger's expected failures: each an `AppError` with a stable code, never a 500."""

from __future__ import annotations

from tessera.core.errors import (
    AppError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    ServiceUnavailable,
)


class InsufficientFunds(BadRequest):
    code = "insufficient_balance"
    detail = "Insufficient balance"


class BalanceLimitExceeded(BadRequest):
    code = "balance_limit_exceeded"
    detail = "The balance would exceed the largest amount an account may hold"


class CurrencyMismatch(BadRequest):
    code = "currency_mismatch"
    detail = "Both accounts must hold the same currency"


class SameAccount(BadRequest):
    code = "same_account"
    detail = "Cannot move money from an account to itself"


class InvalidAmount(AppError):
    status_code = 422
    code = "invalid_amount"
    detail = "Amount must be a positive integer number of minor units within the limit"


class InvalidKind(AppError):
    status_code = 422
    code = "invalid_kind"
    detail = "Transaction kind must be 1-40 characters of A-Z, a-z, 0-9, '_', '.', ':' or '-'"


class AccountNotFound(NotFound):
    code = "ledger_account_not_found"
    detail = "Ledger account not found"


class WalletNotFound(NotFound):
    code = "wallet_not_found"
    detail = "Wallet not found"


class DirectDepositsDisabled(Forbidden):
    code = "direct_deposits_disabled"
    detail = (
        "Direct deposits are disabled on this server; fund the wallet through a payment provider"
    )


class LedgerBusy(ServiceUnavailable):
    """The database kept refusing the movement (deadlock or serialisation) after retries."""

    code = "ledger_busy"
    detail = "The ledger is busy; retry the request"

    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": "1"})


class HoldNotFound(NotFound):
    code = "hold_not_found"
    detail = "Hold not found"


class HoldNotPending(Conflict):
    """The hold was already captured, voided or has expired: a second capture never moves."""

    code = "hold_not_pending"
    detail = "The hold is no longer pending"
