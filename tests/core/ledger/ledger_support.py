"""Helpers shared by the ledger tests: plain users, funded wallets, row counts."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from tessera.core.db.engine import Database
from tessera.core.identity.models import User
from tessera.core.ledger import Ledger, LedgerEntry, LedgerTransaction

# Tests that mean one engine only: run just that variant instead of skipping the other.
only_postgresql = pytest.mark.parametrize(
    "engine", [pytest.param("postgresql", marks=pytest.mark.pg)], indirect=True
)
only_sqlite = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)


async def new_user(db: Database) -> str:
    """A users row (the ledger's tests need owners, not logins)."""
    async with db.session() as session:
        user = User(email=f"ledger-{uuid.uuid4().hex[:12]}@example.com")
        session.add(user)
        await session.flush()
        return user.id


async def funded_wallet(db: Database, amount: int, currency: str = "USD") -> tuple[str, str]:
    """(user id, wallet id) of a new user whose wallet holds `amount` minor units."""
    user_id = await new_user(db)
    async with db.session() as session:
        ledger = Ledger(session)
        wallet = await ledger.open_wallet(user_id, currency)
        if amount:
            await ledger.credit_user(user_id, amount, currency, kind="DEPOSIT")
        return user_id, wallet.id


async def ledger_row_counts(db: Database) -> tuple[int, int]:
    async with db.session(write=False) as session:
        txns = await session.scalar(select(func.count()).select_from(LedgerTransaction))
        entries = await session.scalar(select(func.count()).select_from(LedgerEntry))
        return int(txns or 0), int(entries or 0)
