"""A Hypothesis state machine drives the ledger service with random operations and checks the
database against a plain-Python model after every step (reliability plan L3, both engines)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from tessera.core.db.engine import Database
from tessera.core.kit.money import MAX_AMOUNT_MINOR
from tessera.core.ledger import InsufficientFunds, InvalidAmount, Ledger, LedgerAccount, SameAccount
from tessera.core.ledger.reconcile import check_ledger

from .ledger_support import new_user

amounts = st.integers(min_value=1, max_value=5_000)
bad_amounts = st.sampled_from([0, -1, True, 1.5, "10", MAX_AMOUNT_MINOR + 1])


class CallerRolledBack(Exception):
    pass


class LedgerModel(RuleBasedStateMachine):
    """Each example owns its wallets and its own system accounts, so examples can share one
    database: the model covers exactly the accounts the example created."""

    wallets = Bundle("wallets")
    runner: asyncio.Runner
    db: Database

    def run(self, coroutine: Any) -> Any:
        return self.runner.run(coroutine)

    @initialize()
    def start(self) -> None:
        tag = uuid.uuid4().hex
        self.external, self.revenue = f"external:{tag}", f"revenue:{tag}"
        self.model: dict[str, int] = {}
        self.entries: dict[str, int] = {}
        self.deposited = self.withdrawn = self.fees = 0

    # --- operations ---------------------------------------------------------------------------

    @rule(target=wallets)
    def open_wallet(self) -> tuple[str, str]:
        async def go() -> tuple[str, str]:
            user_id = await new_user(self.db)
            async with self.db.session() as session:
                wallet = await Ledger(session).open_wallet(user_id, "USD")
                again = await Ledger(session).open_wallet(user_id, "USD")
                assert again.id == wallet.id
                return user_id, wallet.id

        user_id, wallet_id = self.run(go())
        self.model[wallet_id], self.entries[wallet_id] = 0, 0
        return user_id, wallet_id

    @rule(wallet=wallets, amount=amounts)
    def deposit(self, wallet: tuple[str, str], amount: int) -> None:
        async def go() -> None:
            async with self.db.session() as session:
                await Ledger(session).credit_user(
                    wallet[0], amount, "USD", kind="DEPOSIT", from_account=self.external
                )

        self.run(go())
        self._moved(wallet[1], amount)
        self.deposited += amount

    @rule(wallet=wallets, amount=amounts, to_revenue=st.booleans())
    def charge(self, wallet: tuple[str, str], amount: int, to_revenue: bool) -> None:
        ok = self.model[wallet[1]] >= amount
        target = self.revenue if to_revenue else self.external

        async def go() -> None:
            async with self.db.session() as session:
                await Ledger(session).charge_user(
                    wallet[0], amount, "USD", kind="CHARGE", to_account=target
                )

        self._expect(go(), None if ok else InsufficientFunds)
        if ok:
            self._moved(wallet[1], -amount)
            if to_revenue:
                self.fees += amount
            else:
                self.withdrawn += amount

    @rule(source=wallets, sink=wallets, amount=amounts)
    def transfer(self, source: tuple[str, str], sink: tuple[str, str], amount: int) -> None:
        same = source[1] == sink[1]
        ok = not same and self.model[source[1]] >= amount

        async def go() -> None:
            async with self.db.session() as session:
                await Ledger(session).transfer(
                    debit_account_id=source[1],
                    credit_account_id=sink[1],
                    amount=amount,
                    kind="TRANSFER",
                )

        error = SameAccount if same else None if ok else InsufficientFunds
        self._expect(go(), error)
        if ok:
            self._moved(source[1], -amount)
            self._moved(sink[1], amount)

    @rule(first=wallets, second=wallets, a=amounts, b=amounts)
    def job_charging_two_users(
        self, first: tuple[str, str], second: tuple[str, str], a: int, b: int
    ) -> None:
        """One transaction, two charges, refusals caught: only the refused one vanishes."""

        async def go() -> list[bool]:
            done = []
            async with self.db.session() as session:
                ledger = Ledger(session)
                for (user_id, _), amount in ((first, a), (second, b)):
                    try:
                        await ledger.charge_user(
                            user_id, amount, "USD", kind="FEE", to_account=self.revenue
                        )
                        done.append(True)
                    except InsufficientFunds:
                        done.append(False)
            return done

        expected = []
        balances = dict(self.model)
        for (_, wallet_id), amount in ((first, a), (second, b)):
            expected.append(balances[wallet_id] >= amount)
            if expected[-1]:
                balances[wallet_id] -= amount
        assert self.run(go()) == expected
        for ((_, wallet_id), amount), ok in zip(((first, a), (second, b)), expected, strict=True):
            if ok:
                self._moved(wallet_id, -amount)
                self.fees += amount

    @rule(wallet=wallets, amount=amounts)
    def caller_rolls_back(self, wallet: tuple[str, str], amount: int) -> None:
        """A movement inside a transaction that fails later is undone with it."""

        async def go() -> None:
            async with self.db.session() as session:
                await Ledger(session).credit_user(
                    wallet[0], amount, "USD", kind="DEPOSIT", from_account=self.external
                )
                raise CallerRolledBack

        self._expect(go(), CallerRolledBack)

    @rule(wallet=wallets, amount=bad_amounts)
    def invalid_amount(self, wallet: tuple[str, str], amount: Any) -> None:
        async def go() -> None:
            async with self.db.session() as session:
                await Ledger(session).credit_user(wallet[0], amount, "USD", kind="DEPOSIT")

        self._expect(go(), InvalidAmount)

    # --- invariants ---------------------------------------------------------------------------

    @invariant()
    def database_matches_the_model(self) -> None:
        if not hasattr(self, "model"):
            return

        async def read() -> dict[str, LedgerAccount]:
            async with self.db.session(write=False) as session:
                codes = (self.external, self.revenue)
                rows = await session.scalars(
                    select(LedgerAccount).where(
                        LedgerAccount.id.in_(list(self.model)) | LedgerAccount.code.in_(codes)
                    )
                )
                return {row.code or row.id: row for row in rows}

        accounts = self.run(read())
        for wallet_id, balance in self.model.items():
            account = accounts[wallet_id]
            assert (account.balance, account.entry_count) == (balance, self.entries[wallet_id])
            assert account.balance >= 0
        external = accounts.get(self.external)
        revenue = accounts.get(self.revenue)
        assert (external.balance if external else 0) == self.withdrawn - self.deposited
        assert (revenue.balance if revenue else 0) == self.fees
        assert sum(self.model.values()) == self.deposited - self.withdrawn - self.fees

    # --- helpers ------------------------------------------------------------------------------

    def _moved(self, wallet_id: str, delta: int) -> None:
        self.model[wallet_id] += delta
        self.entries[wallet_id] += 1

    def _expect(self, coroutine: Any, error: type[Exception] | None) -> None:
        if error is None:
            self.run(coroutine)
            return
        with pytest.raises(error):
            self.run(coroutine)


def run_model(database_url: str, *, examples: int, steps: int) -> None:
    with asyncio.Runner() as runner:
        db = Database(database_url)
        LedgerModel.runner, LedgerModel.db = runner, db
        try:
            run_state_machine_as_test(
                LedgerModel,
                settings=settings(
                    max_examples=examples,
                    stateful_step_count=steps,
                    deadline=None,
                    suppress_health_check=[HealthCheck.too_slow],
                    database=None,
                ),
            )

            async def full_check() -> list[str]:
                async with db.session(write=False) as session:
                    return (await check_ledger(session)).problems()

            assert runner.run(full_check()) == []
        finally:
            runner.run(db.dispose())


def test_the_ledger_follows_its_model(database_url: str) -> None:
    run_model(database_url, examples=15, steps=25)


@pytest.mark.slow
def test_the_ledger_follows_its_model_at_length(database_url: str) -> None:
    run_model(database_url, examples=200, steps=50)
