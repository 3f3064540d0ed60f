"""Seed 001's wallet rules on top of the ledger: one USD wallet per user, deposits and
withdrawals against the outside world, admin adjustments, lifetime totals."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.config import Settings
from tessera.core.ledger.errors import DirectDepositsDisabled, InsufficientFunds, WalletNotFound
from tessera.core.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from tessera.core.ledger.service import HistoryItem, Ledger

WALLET_CURRENCY = "USD"
EXTERNAL_ACCOUNT = "external"  # the world outside: deposits come from it, withdrawals go to it
ADJUSTMENTS_ACCOUNT = "adjustments"


class EntryType(StrEnum):
    DEPOSIT = "DEPOSIT"
    WITHDRAWAL = "WITHDRAWAL"
    FEE_PERFORMANCE = "FEE_PERFORMANCE"
    FEE_SUBSCRIPTION = "FEE_SUBSCRIPTION"
    REFUND = "REFUND"
    ADJUSTMENT_ADMIN = "ADJUSTMENT_ADMIN"


FEE_TYPES = (EntryType.FEE_PERFORMANCE, EntryType.FEE_SUBSCRIPTION)


@dataclass(frozen=True)
class WalletSummary:
    wallet: LedgerAccount
    lifetime_deposits: int  # minor units credited by DEPOSIT (not refunds or adjustments)
    lifetime_fees: int  # minor units debited by FEE_* (as a positive number)


@dataclass(frozen=True)
class WalletMovement:
    transaction: LedgerTransaction
    entry: LedgerEntry  # the wallet's side


class WalletService:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self.ledger = Ledger(session)
        self.settings = settings

    async def _wallet(self, user_id: str) -> LedgerAccount:
        wallet = await self.ledger.wallet_for(user_id, WALLET_CURRENCY)
        if wallet is None:
            raise WalletNotFound()
        return wallet

    async def summary(self, user_id: str) -> WalletSummary:
        wallet = await self._wallet(user_id)
        totals = await self.ledger.totals_by_kind(wallet.id, [EntryType.DEPOSIT, *FEE_TYPES])
        return WalletSummary(
            wallet=wallet,
            lifetime_deposits=totals.get(EntryType.DEPOSIT, 0),
            lifetime_fees=-sum(totals.get(kind, 0) for kind in FEE_TYPES),
        )

    async def deposit(
        self,
        user_id: str,
        amount: int,
        description: str | None,
        *,
        idempotency_key: str | None = None,
    ) -> WalletMovement:
        """Credit the wallet from the outside world; only with direct deposits on (there is
        no payment provider to take the money from)."""
        if not self.settings.direct_deposits_enabled:
            raise DirectDepositsDisabled()
        txn = await self.ledger.credit_user(
            user_id,
            amount,
            WALLET_CURRENCY,
            kind=EntryType.DEPOSIT,
            from_account=EXTERNAL_ACCOUNT,
            created_by=user_id,
            description=description or "Wallet deposit",
            idempotency_key=idempotency_key,
        )
        return WalletMovement(txn, txn.entries[1])

    async def withdraw(
        self,
        user_id: str,
        amount: int,
        description: str | None,
        *,
        idempotency_key: str | None = None,
    ) -> WalletMovement:
        try:
            txn = await self.ledger.charge_user(
                user_id,
                amount,
                WALLET_CURRENCY,
                kind=EntryType.WITHDRAWAL,
                to_account=EXTERNAL_ACCOUNT,
                created_by=user_id,
                description=description or "Wallet withdrawal",
                idempotency_key=idempotency_key,
            )
        except InsufficientFunds:
            # The ledger refuses a charge of a missing wallet too; here that is a 404. Asked
            # only on refusal, so a withdrawal that goes through reads its wallet once.
            await self._wallet(user_id)
            raise
        return WalletMovement(txn, txn.entries[0])

    async def adjust(
        self,
        user_id: str,
        amount: int,
        description: str,
        *,
        admin_id: str,
        idempotency_key: str | None = None,
    ) -> WalletMovement:
        """An operator's correction: positive credits the wallet, negative debits it (never
        below zero), against the `adjustments` system account."""
        wallet = await self._wallet(user_id)
        other = await self.ledger.system_account(ADJUSTMENTS_ACCOUNT, WALLET_CURRENCY)
        debit, credit = (other, wallet) if amount > 0 else (wallet, other)
        txn = await self.ledger.transfer(
            debit_account_id=debit.id,
            credit_account_id=credit.id,
            amount=abs(amount),
            kind=EntryType.ADJUSTMENT_ADMIN,
            created_by=admin_id,
            description=description,
            idempotency_key=idempotency_key,
        )
        return WalletMovement(txn, txn.entries[1] if amount > 0 else txn.entries[0])

    async def transactions(
        self, user_id: str, *, limit: int, offset: int
    ) -> tuple[list[HistoryItem], int]:
        wallet = await self._wallet(user_id)
        return await self.ledger.history(wallet.id, limit=limit, offset=offset)
