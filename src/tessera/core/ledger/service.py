"""`Ledger`: the only way money moves. Every method works in the caller's transaction and never
commits; the request (or the job, or the CLI's `Database.session(write=True)`) commits.

What a movement costs
---------------------
On PostgreSQL a movement between known accounts is five round trips: SAVEPOINT, one guarded
UPDATE per side (the wallet's, then the shard's or the other wallet's), one INSERT that writes
the transaction, both entries and the audit row (data-modifying CTEs), RELEASE. Finding the
accounts is one Core SELECT of the columns a movement needs (`Party`), for both sides at
once. Statements are built once at import (`repository.py`), so SQLAlchemy compiles each one
once per process; the ORM's unit of work is not involved. See `docs/ledger.md`.

How a movement stays correct under concurrency
----------------------------------------------
The transaction belongs to the caller, so the ledger cannot restart it after a deadlock or a
serialisation failure. The design therefore makes those failures impossible instead of
retrying them, and keeps a bounded retry only as a safety net:

1. **Guarded single-statement updates on wallets.** A wallet's balance changes only through
   `UPDATE … SET balance = balance + :delta WHERE id = :id AND <bounds hold> RETURNING …`.
   The row lock, the check and the write are one step: on PostgreSQL (READ COMMITTED) a
   concurrent writer is waited for and the condition is re-checked against the row it
   committed, so two withdrawals can never both pass a stale check. No row is read and then
   written; `balance_after` comes from `RETURNING`. A `CHECK (allow_negative OR balance >= 0)`
   on the table is the last line of defence should a bug ever skip the guard.
2. **System accounts are not rows anyone waits for.** A system account (`external`,
   `revenue` …; it may go negative, so it needs no guard) keeps its balance in
   `SYSTEM_SHARDS` shard rows. A movement updates one shard: one this transaction already
   holds, else on PostgreSQL any shard no other transaction holds (`FOR UPDATE SKIP LOCKED`),
   and only when every shard is held does it wait, for one at random. Deposits to different
   wallets therefore never queue on `external`, and fees never on `revenue`.
3. **No global lock, and still no deadlock.** A movement locks at most two wallets, in
   ascending id order, and its system shard last, after which it waits for nothing. So among
   transactions that move money once (every request does), no cycle of waits can form:
   wallet waits follow one order, and a holder of a shard waits for nothing but its commit.
   The audit log takes no lock at all (`tessera.core.audit`), so it is no part of the order.
   The movement's rows (its transaction, two entries and audit row) are inserted after the
   balance updates, in one statement on PostgreSQL; fresh rows with new random ids wait for
   nobody, and their foreign-key checks take only KEY SHARE locks on the rows they name.
   Those conflict with no lock a movement takes (a balance UPDATE takes FOR NO KEY UPDATE),
   only with a change of a key column or a delete: a transaction that changed a user's
   e-mail and then moved money on a wallet another movement for that user holds is the one
   shape that could wait in a cycle; PostgreSQL detects it and point 4 resolves it.
   A transaction that moves money several times (a job charging many users) must keep the
   same order across its movements: call `lock_wallets(ids)` first, which locks every wallet
   it will touch in ascending id order; after that it waits only for free shards, reusing the
   one it holds per account. Two such jobs could still wait on each other only if each held
   every shard of an account the other needs; PostgreSQL detects that and point 4 resolves it.
   On SQLite a write transaction starts with `BEGIN IMMEDIATE` (the request's write session
   and `Database.session(write=True)` do), so writers are serialised by the database lock and
   there is nothing to order. Never move money in a read session on SQLite.
4. **A savepoint per movement.** Each movement runs inside `SAVEPOINT`: a refused movement
   (`InsufficientFunds` …) leaves nothing behind, so a job may catch it and go on. Should
   PostgreSQL still report a deadlock or serialisation failure (40P01/40001, e.g. caused by
   locks the caller took in an unusual order), rolling back to the savepoint releases the
   locks the movement took and it is retried a few times; if it keeps failing the caller gets
   `LedgerBusy` (503 with Retry-After), never a 500.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import structlog
from prometheus_client import Counter
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from tessera.core.audit import audit_values
from tessera.core.db.base import new_uuid, utcnow
from tessera.core.kit.money import CURRENCY_EXPONENTS, MAX_AMOUNT_MINOR
from tessera.core.ledger.errors import (
    AccountNotFound,
    BalanceLimitExceeded,
    CurrencyMismatch,
    InsufficientFunds,
    InvalidAmount,
    InvalidKind,
    LedgerBusy,
    SameAccount,
)
from tessera.core.ledger.holds import HoldBook
from tessera.core.ledger.models import LedgerAccount, LedgerEntry, LedgerHold, LedgerTransaction
from tessera.core.ledger.repository import LedgerRepository, Party

log = structlog.get_logger("tessera.ledger")
RETRIES = Counter(
    "tessera_ledger_retries_total",
    "Money movements retried after a deadlock or serialisation failure",
    ["sqlstate"],
)
MOVEMENTS = Counter(
    "tessera_ledger_movements_total",
    "Money movements by outcome: moved (in the caller's transaction, which commits or not),"
    " refused (insufficient balance or limit), busy (retries exhausted)",
    ["outcome"],
)

T = TypeVar("T")
Side = LedgerAccount | Party  # what a movement needs of an account: id, currency, bounds, owner

KIND_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,40}$")
CODE_PATTERN = re.compile(r"^[a-z0-9_.:-]{1,64}$")
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock, serialization failure
MAX_ATTEMPTS = 4
AUDIT_ACTION = "ledger.transfer"
HELD_SHARDS = "ledger_held_shards"  # session.info: {system account id: the shard it holds}


@dataclass(frozen=True)
class HistoryItem:
    """One line of an account's history: its entry and what the transaction was."""

    entry_id: str
    transaction_id: str
    kind: str
    currency: str
    amount: int  # signed, on this account
    balance_before: int
    balance_after: int
    description: str | None
    reference: str | None
    metadata: dict[str, Any]
    created_by: str | None
    created_at: datetime


def _check_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidAmount("Amount must be an integer number of minor units")
    if not 0 < amount <= MAX_AMOUNT_MINOR:
        raise InvalidAmount(f"Amount must be between 1 and {MAX_AMOUNT_MINOR} minor units")


def _check_currency(currency: str) -> None:
    if currency not in CURRENCY_EXPONENTS:
        raise InvalidAmount(f"Unsupported currency {currency!r}", code="unsupported_currency")


def _kind(kind: str) -> str:
    """The kind as a plain string (a StrEnum member is stored as its value), checked."""
    kind = str(kind)
    if not KIND_PATTERN.match(kind):
        raise InvalidKind()
    return kind


def _sqlstate(exc: DBAPIError) -> str | None:
    orig = exc.orig
    for attr in ("sqlstate", "pgcode"):
        value = getattr(orig, attr, None)
        if isinstance(value, str):
            return value
    cause = getattr(orig, "__cause__", None)
    value = getattr(cause, "sqlstate", None)
    return value if isinstance(value, str) else None


class Ledger:
    """Double-entry money movement in integer minor units (see the module docstring)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.repo = LedgerRepository(session)

    # --- accounts -----------------------------------------------------------------------------

    async def open_wallet(self, user_id: str, currency: str = "USD") -> LedgerAccount:
        """The user's wallet in `currency`, created if missing (never negative)."""
        _check_currency(currency)
        wallet = await self.repo.find_wallet(user_id, currency)
        if wallet is None:
            await self.repo.insert_wallet(user_id, currency)
            wallet = await self.repo.find_wallet(user_id, currency)
        assert wallet is not None
        return wallet

    async def wallet_for(self, user_id: str, currency: str = "USD") -> LedgerAccount | None:
        return await self.repo.find_wallet(user_id, currency)

    async def system_account(self, code: str, currency: str) -> LedgerAccount:
        """A system account (may go negative), created on first use: `external`, `revenue` …"""
        _check_currency(currency)
        if not CODE_PATTERN.match(code):
            raise ValueError(f"invalid system account code {code!r}")
        account = await self.repo.find_system(code, currency)
        if account is None:
            await self.repo.insert_system(code, currency)
            account = await self.repo.find_system(code, currency)
        assert account is not None
        return account

    async def lock_wallets(self, account_ids: list[str]) -> None:
        """Lock these wallets now, in ascending id order, until commit: call it first in a
        transaction that will move money more than once (see the module doc, point 3)."""
        await self.repo.lock_wallets(account_ids)

    async def stored_value_account(self, code: str, currency: str) -> LedgerAccount:
        """An account named by `code` that, like a wallet, never goes negative (a prepaid
        voucher's balance, a deposit held for someone without a wallet); created if missing.
        Its balance changes by the same guarded statement as a wallet's."""
        _check_currency(currency)
        if not CODE_PATTERN.match(code):
            raise ValueError(f"invalid account code {code!r}")
        account = await self.repo.find_system(code, currency)
        if account is None:
            await self.repo.insert_system(code, currency, allow_negative=False)
            account = await self.repo.find_system(code, currency)
        assert account is not None
        if account.allow_negative:
            raise ValueError(f"{code!r} is a system account that may go negative")
        return account

    async def get_account(self, account_id: str) -> LedgerAccount:
        account = await self.repo.get_account(account_id)
        if account is None:
            raise AccountNotFound()
        return account

    async def balance(self, account_id: str) -> int:
        """The committed-or-own balance, read from the database (not a cached object)."""
        balance = await self.repo.current_balance(account_id)
        if balance is None:
            raise AccountNotFound()
        return balance

    async def history(
        self, account_id: str, *, limit: int = 20, offset: int = 0
    ) -> tuple[list[HistoryItem], int]:
        """The account's entries, newest first, and how many there are in all."""
        account = await self.get_account(account_id)
        rows = await self.repo.entries_page(
            account_id, limit=limit, offset=offset, sharded=account.allow_negative
        )
        items = [
            HistoryItem(
                entry_id=entry.id,
                transaction_id=txn.id,
                kind=txn.kind,
                currency=txn.currency,
                amount=entry.amount,
                balance_before=entry.balance_after - entry.amount,
                balance_after=entry.balance_after,
                description=txn.description,
                reference=txn.reference,
                metadata=dict(txn.meta or {}),
                created_by=txn.created_by,
                created_at=entry.created_at,
            )
            for entry, txn in rows
        ]
        return items, await self.repo.count_entries(account_id)

    async def totals_by_kind(self, account_id: str, kinds: list[str]) -> dict[str, int]:
        """Σ signed entry amounts on the account per transaction kind (e.g. lifetime deposits)."""
        return await self.repo.sums_by_kind(account_id, kinds)

    # --- moving money -------------------------------------------------------------------------

    async def transfer(
        self,
        *,
        debit_account_id: str,
        credit_account_id: str,
        amount: int,
        kind: str,
        reference: str | None = None,
        metadata: dict[str, Any] | None = None,
        created_by: str | None = None,
        description: str | None = None,
        idempotency_key: str | None = None,
        actor_type: str | None = None,
    ) -> LedgerTransaction:
        """Move `amount` minor units from the debit account to the credit account.

        Raises `InsufficientFunds` if a non-negative account would go below zero, and
        `InvalidAmount`, `InvalidKind`, `SameAccount`, `CurrencyMismatch`, `AccountNotFound`.
        A refused movement leaves no trace. The returned transaction carries its two
        `entries` (debit, credit). `actor_type` ("user", "api_key", "system") names who
        `created_by` is in the audit row; it defaults to "user" when `created_by` is given.
        """
        kind, debit, credit = await self.movement_parties(
            debit_account_id, credit_account_id, amount, kind
        )
        return await self._transfer(
            debit,
            credit,
            amount,
            kind=kind,
            reference=reference,
            metadata=metadata,
            created_by=created_by,
            description=description,
            idempotency_key=idempotency_key,
            actor_type=actor_type,
        )

    async def movement_parties(
        self, debit_account_id: str, credit_account_id: str, amount: int, kind: str
    ) -> tuple[str, Party, Party]:
        """The checks every movement (a transfer, a hold) makes before it touches a balance:
        the amount, the kind, two distinct accounts of one currency (read in one query).
        Returns the kind as a plain string (a StrEnum member is stored as its value) and the
        two accounts."""
        _check_amount(amount)
        kind = _kind(kind)
        if debit_account_id == credit_account_id:
            raise SameAccount()
        found = await self.repo.parties([debit_account_id, credit_account_id])
        debit, credit = found.get(debit_account_id), found.get(credit_account_id)
        if debit is None or credit is None:
            raise AccountNotFound()
        if debit.currency != credit.currency:
            raise CurrencyMismatch()
        return kind, debit, credit

    async def charge_user(
        self,
        user_id: str,
        amount: int,
        currency: str,
        *,
        kind: str,
        reference: str | None = None,
        metadata: dict[str, Any] | None = None,
        to_account: str = "revenue",
        created_by: str | None = None,
        description: str | None = None,
        idempotency_key: str | None = None,
        actor_type: str | None = None,
    ) -> LedgerTransaction:
        """Debit the user's wallet into the system account `to_account` (a fee, a purchase)."""
        _check_amount(amount)
        kind = _kind(kind)
        wallet, target = await self._wallet_and_system(
            user_id, to_account, currency, open_wallet=False
        )
        if wallet is None or target is None:  # no wallet: nothing to charge
            raise InsufficientFunds()
        return await self._transfer(
            wallet,
            target,
            amount,
            kind=kind,
            reference=reference,
            metadata=metadata,
            created_by=created_by,
            description=description,
            idempotency_key=idempotency_key,
            actor_type=actor_type,
        )

    async def credit_user(
        self,
        user_id: str,
        amount: int,
        currency: str,
        *,
        kind: str,
        reference: str | None = None,
        metadata: dict[str, Any] | None = None,
        from_account: str = "external",
        created_by: str | None = None,
        description: str | None = None,
        idempotency_key: str | None = None,
        actor_type: str | None = None,
    ) -> LedgerTransaction:
        """Credit the user's wallet (opened if missing) from the system account `from_account`."""
        _check_amount(amount)
        kind = _kind(kind)
        wallet, source = await self._wallet_and_system(
            user_id, from_account, currency, open_wallet=True
        )
        assert wallet is not None and source is not None
        return await self._transfer(
            source,
            wallet,
            amount,
            kind=kind,
            reference=reference,
            metadata=metadata,
            created_by=created_by,
            description=description,
            idempotency_key=idempotency_key,
            actor_type=actor_type,
        )

    # --- two-phase movements (`holds.py`) ------------------------------------------------------

    async def hold(
        self,
        *,
        account_id: str,
        target_account_id: str,
        amount: int,
        kind: str,
        expires_at: datetime,
        reference: str | None = None,
        description: str | None = None,
        created_by: str | None = None,
        actor_type: str | None = None,
    ) -> LedgerHold:
        """Reserve `amount` of the wallet for a later `capture` into `target_account_id`;
        `InsufficientFunds` if its spendable balance (balance − reserved) is smaller."""
        return await HoldBook(self).hold(
            account_id=account_id,
            target_account_id=target_account_id,
            amount=amount,
            kind=kind,
            expires_at=expires_at,
            reference=reference,
            description=description,
            created_by=created_by,
            actor_type=actor_type,
        )

    async def capture(
        self,
        hold_id: str,
        amount: int | None = None,
        *,
        created_by: str | None = None,
        actor_type: str | None = None,
    ) -> LedgerTransaction:
        """Move all (or `amount`) of a pending hold; `HoldNotPending` if it was resolved."""
        return await HoldBook(self).capture(
            hold_id, amount, created_by=created_by, actor_type=actor_type
        )

    async def void(
        self, hold_id: str, *, created_by: str | None = None, actor_type: str | None = None
    ) -> LedgerHold:
        return await HoldBook(self).void(hold_id, created_by=created_by, actor_type=actor_type)

    async def expire_holds(self, now: datetime) -> int:
        return await HoldBook(self).expire(now)

    # --- internals ----------------------------------------------------------------------------

    async def _wallet_and_system(
        self, user_id: str, code: str, currency: str, *, open_wallet: bool
    ) -> tuple[Party | None, Party | None]:
        """The user's wallet (opened if missing and `open_wallet`) and the system account
        `code` (created if missing, once there is a wallet), in one query when both exist."""
        _check_currency(currency)
        if not CODE_PATTERN.match(code):
            raise ValueError(f"invalid system account code {code!r}")
        wallet, system = await self.repo.wallet_and_named(user_id, code, currency)
        if wallet is None:
            if not open_wallet:
                return None, system
            wallet = Party.of(await self.open_wallet(user_id, currency))
        if system is None:
            system = Party.of(await self.system_account(code, currency))
        return wallet, system

    async def _transfer(
        self,
        debit: Side,
        credit: Side,
        amount: int,
        *,
        kind: str,
        reference: str | None,
        metadata: dict[str, Any] | None,
        created_by: str | None,
        description: str | None,
        idempotency_key: str | None,
        actor_type: str | None,
    ) -> LedgerTransaction:
        """A checked movement between two known accounts, in its own savepoint."""

        async def move() -> LedgerTransaction:
            return await self._move(
                debit,
                credit,
                amount,
                kind=kind,
                reference=reference,
                metadata=metadata,
                created_by=created_by,
                description=description,
                idempotency_key=idempotency_key,
                actor_type=actor_type or ("user" if created_by else "system"),
            )

        return await self._in_savepoint(move, touched=(debit, credit))

    async def _move(
        self,
        debit: Side,
        credit: Side,
        amount: int,
        *,
        kind: str,
        reference: str | None,
        metadata: dict[str, Any] | None,
        created_by: str | None,
        description: str | None,
        idempotency_key: str | None,
        actor_type: str,
    ) -> LedgerTransaction:
        """The balance changes first (wallets by id, then the system shard: the module doc,
        point 3), each one guarded statement whose RETURNING gives the entry its place and
        its balance after; then the transaction, its entries and its audit row, written in
        one round trip on PostgreSQL. Nothing is read back: the returned transaction and its
        entries are built from what was written (and are not attached to the session)."""
        now = utcnow()
        txn_id = new_uuid()
        held: dict[str, int] = self.session.info.setdefault(HELD_SHARDS, {})
        # Wallets in ascending id order, then system shards (see the module doc, point 3).
        plan = sorted(
            ((debit, -amount), (credit, amount)), key=lambda p: (p[0].allow_negative, p[0].id)
        )
        entries: dict[str, dict[str, Any]] = {}
        for account, delta in plan:
            shard, seq, balance_after = await self._apply(account, delta, held)
            entries[account.id] = {
                "id": new_uuid(),
                "transaction_id": txn_id,
                "account_id": account.id,
                "shard": shard,
                "seq": seq,
                "amount": delta,
                "balance_after": balance_after,
                "created_at": now,
            }
        meta = metadata or {}
        transaction = {
            "id": txn_id,
            "kind": kind,
            "currency": debit.currency,
            "amount": amount,
            "reference": reference,
            "description": description,
            "idempotency_key": idempotency_key,
            "created_by": created_by,
            "metadata": meta,
            "created_at": now,
        }
        audit = audit_values(
            AUDIT_ACTION,
            actor_type=actor_type,
            actor_id=created_by,
            user_id=debit.user_id or credit.user_id,
            target_type="ledger_transaction",
            target_id=txn_id,
            details={
                "kind": kind,
                "amount": amount,
                "currency": debit.currency,
                "debit_account_id": debit.id,
                "credit_account_id": credit.id,
                "reference": reference,
            },
        )
        debit_entry, credit_entry = entries[debit.id], entries[credit.id]
        await self.repo.write_movement(transaction, debit_entry, credit_entry, audit)
        del transaction["metadata"]
        txn = LedgerTransaction(**transaction, meta=meta)
        set_committed_value(
            txn, "entries", [LedgerEntry(**debit_entry), LedgerEntry(**credit_entry)]
        )
        return txn

    async def _apply(self, account: Side, delta: int, held: dict[str, int]) -> tuple[int, int, int]:
        """(shard, seq, balance_after) of the account's side of a movement, or the refusal."""
        if not account.allow_negative:
            updated = await self.repo.apply_delta(account.id, delta)
            if updated is None:
                if delta < 0:
                    raise InsufficientFunds()
                raise BalanceLimitExceeded()
            balance, count = updated
            return 0, count, balance
        shard = await self.repo.apply_shard_delta(account.id, delta, held=held.get(account.id))
        if shard is None:
            raise BalanceLimitExceeded()
        held[account.id] = shard.shard  # until commit: reuse it, take no second shard
        return shard.shard, shard.entry_count, shard.balance

    async def _in_savepoint(
        self, work: Callable[[], Awaitable[T]], *, touched: tuple[Side, ...]
    ) -> T:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                async with self.session.begin_nested():
                    result = await work()
                MOVEMENTS.labels(outcome="moved").inc()
                return result
            except (InsufficientFunds, BalanceLimitExceeded):
                MOVEMENTS.labels(outcome="refused").inc()
                await self._refresh(touched)
                raise
            except DBAPIError as exc:
                sqlstate = _sqlstate(exc)
                if sqlstate not in TRANSIENT_SQLSTATES:
                    raise
                RETRIES.labels(sqlstate=sqlstate).inc()
                log.warning("ledger_retry", attempt=attempt, sqlstate=sqlstate)
                if attempt == MAX_ATTEMPTS:
                    MOVEMENTS.labels(outcome="busy").inc()
                    await self._refresh(touched)
                    raise LedgerBusy() from exc
                await asyncio.sleep(random.uniform(0.005, 0.02) * attempt)  # noqa: S311
        raise AssertionError("unreachable")

    async def _refresh(self, accounts: tuple[Side, ...]) -> None:
        """After a rolled-back savepoint, reload the balances of the accounts the session had
        loaded: a failed attempt may have updated them in memory (`apply_delta`)."""
        for account in accounts:
            loaded = self.session.identity_map.get(identity_key(LedgerAccount, account.id))
            if loaded is not None:
                await self.session.refresh(loaded)
