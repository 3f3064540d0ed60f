"""Reconciliation: recompute the ledger from its entries and report every disagreement.

- each wallet's balance and entry count, and each shard's of a system account, equal the sum
  and count of its entries, its last entry's `balance_after` equals its balance, and a wallet
  is not negative; a system account holds nothing on its own row; no entry names a shard
  that does not exist;
- each entry's `balance_after` is the running sum of its account's (or shard's) entries;
- each transaction has at least two entries and they sum to zero;
- each wallet's `reserved` is the sum of its pending holds and at most its balance, so
  available (balance − reserved) + reserved = balance with available ≥ 0;
- per currency, all balances (wallets and shards) sum to zero (money only moves between
  accounts).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.ledger.models import LedgerAccount
from tessera.core.ledger.repository import (
    AccountDrift,
    BrokenEntry,
    LedgerRepository,
    TransactionImbalance,
)


@dataclass
class LedgerReport:
    accounts: int = 0
    transactions: int = 0
    entries: int = 0
    drifted_accounts: list[AccountDrift] = field(default_factory=list)
    broken_entries: list[BrokenEntry] = field(default_factory=list)
    unbalanced_transactions: list[TransactionImbalance] = field(default_factory=list)
    currency_totals: dict[str, int] = field(default_factory=dict)
    reserved_drift: list[tuple[LedgerAccount, int]] = field(default_factory=list)

    @property
    def unbalanced_currencies(self) -> dict[str, int]:
        return {currency: total for currency, total in self.currency_totals.items() if total}

    @property
    def ok(self) -> bool:
        return not (
            self.drifted_accounts
            or self.broken_entries
            or self.unbalanced_transactions
            or self.unbalanced_currencies
            or self.reserved_drift
        )

    def problems(self) -> list[str]:
        lines = []
        for drift in self.drifted_accounts:
            account = drift.account
            where = "" if drift.shard is None else f" shard {drift.shard}"
            lines.append(
                f"account {account.id} ({account.describe()}){where}: stored balance"
                f" {drift.stored_balance}, entries sum {drift.entries_sum}; stored entry count"
                f" {drift.stored_count}, entries {drift.entries_count}; last balance_after"
                f" {drift.last_balance_after}"
            )
        for entry in self.broken_entries:
            lines.append(
                f"entry {entry.entry_id} (account {entry.account_id}, seq {entry.seq}):"
                f" balance_after {entry.balance_after}, running sum {entry.running_sum}"
            )
        for txn in self.unbalanced_transactions:
            lines.append(
                f"transaction {txn.transaction_id} ({txn.kind}): entries sum {txn.entries_sum}"
                f" over {txn.entries_count} entries"
            )
        for account, held in self.reserved_drift:
            lines.append(
                f"account {account.id} ({account.describe()}): reserved {account.reserved},"
                f" pending holds sum {held}, balance {account.own_balance}"
            )
        for currency, total in self.unbalanced_currencies.items():
            lines.append(f"currency {currency}: balances sum to {total}, not 0")
        return lines


async def check_ledger(session: AsyncSession) -> LedgerReport:
    repo = LedgerRepository(session)
    accounts, transactions, entries = await repo.count_rows()
    return LedgerReport(
        accounts=accounts,
        transactions=transactions,
        entries=entries,
        drifted_accounts=await repo.account_drift(),
        broken_entries=await repo.broken_entry_chains(),
        unbalanced_transactions=await repo.unbalanced_transactions(),
        currency_totals=await repo.totals_by_currency(),
        reserved_drift=await repo.reserved_drift(),
    )
