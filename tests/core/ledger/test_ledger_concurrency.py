"""Money is never lost, created or overdrawn under real concurrency (reliability plan L1, L2,
L8, L9) — with exact counts, on real engines, through real HTTP where the plan says so."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select, text

from tessera.core.db.engine import Database
from tessera.core.ledger import InsufficientFunds, Ledger, LedgerAccount, LedgerTransaction
from tessera.core.ledger.reconcile import check_ledger
from tessera.core.ledger.service import RETRIES
from tests.helpers.identity import register_and_login

from .ledger_support import funded_wallet, only_postgresql, only_sqlite

WALLET = "/api/v1/wallet"
INSUFFICIENT = {"detail": "Insufficient balance", "error": "insufficient_balance"}


async def burst(
    count: int, concurrency: int, request: Callable[[int], Awaitable[httpx2.Response]]
) -> tuple[Counter[Any], list[httpx2.Response]]:
    """Fire `count` requests, at most `concurrency` at a time, all released by one gate."""
    gate, slots = asyncio.Event(), asyncio.Semaphore(concurrency)
    replies: list[httpx2.Response] = []

    async def one(i: int) -> Any:
        async with slots:
            await gate.wait()
            try:
                response = await request(i)
            except httpx2.TransportError as exc:
                return f"transport:{type(exc).__name__}"
            replies.append(response)
            return response.status_code

    tasks = [asyncio.create_task(one(i)) for i in range(count)]
    await asyncio.sleep(0.05)
    gate.set()
    return Counter(await asyncio.gather(*tasks)), replies


async def withdrawal_race(
    client: httpx2.AsyncClient, *, balance: str, attempts: int, concurrency: int
) -> tuple[Counter[Any], list[httpx2.Response], dict[str, str], str]:
    user = await register_and_login(client)
    funded = await client.post(
        f"{WALLET}/deposit", json={"amount_usd": balance}, headers=user.headers
    )
    assert funded.status_code == 200, funded.text

    async def withdraw(i: int) -> httpx2.Response:
        return await client.post(
            f"{WALLET}/withdraw",
            json={"amount_usd": "0.03"},
            headers=user.headers | {"Idempotency-Key": f"race-{i}"},
        )

    counts, replies = await burst(attempts, concurrency, withdraw)
    wallet = (await client.get(WALLET, headers=user.headers)).json()
    return counts, replies, user.headers, wallet["balance_usd"]


def assert_exact_outcome(
    counts: Counter[Any], replies: list[httpx2.Response], succeeded: int, refused: int
) -> None:
    assert counts == Counter({200: succeeded, 400: refused}), counts
    for reply in replies:
        if reply.status_code == 400:
            assert reply.json() == {
                "detail": "Insufficient balance",
                "error": "insufficient_balance",
            }


async def withdrawals_in_db(runtime_db: Database) -> tuple[int, int]:
    async with runtime_db.session(write=False) as session:
        row = (
            await session.execute(
                select(func.count(), func.coalesce(func.sum(LedgerTransaction.amount), 0)).where(
                    LedgerTransaction.kind == "WITHDRAWAL"
                )
            )
        ).one()
        return int(row[0]), int(row[1])


@only_sqlite
async def test_l9_sqlite_parallel_withdrawals_give_exact_counts(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    """Balance 1.00, 100 parallel withdrawals of 0.03: exactly 33 succeed, 67 are refused."""
    counts, replies, _, balance = await withdrawal_race(
        client, balance="1.00", attempts=100, concurrency=100
    )
    assert_exact_outcome(counts, replies, succeeded=33, refused=67)
    assert balance == "0.01"
    assert await withdrawals_in_db(runtime.db) == (33, 99)


@only_postgresql
async def test_l1_postgresql_1000_parallel_withdrawals_over_http(
    live_server: str, database_url: str
) -> None:
    """Balance 10.00, 1000 withdrawals of 0.03 at concurrency 100 against a running server:
    exactly 333 succeed, 667 get 400 "Insufficient balance", no 5xx, 0.01 left."""
    limits = httpx2.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx2.AsyncClient(base_url=live_server, timeout=60, limits=limits) as client:
        counts, replies, _, balance = await withdrawal_race(
            client, balance="10.00", attempts=1000, concurrency=100
        )
    assert_exact_outcome(counts, replies, succeeded=333, refused=667)
    assert balance == "0.01"
    db = Database(database_url)
    try:
        assert await withdrawals_in_db(db) == (333, 999)
    finally:
        await db.dispose()


async def bank_run(
    db: Database, *, accounts: int, start: int, transfers: int, concurrency: int
) -> None:
    """Jepsen's bank: random transfers between wallets while a reader sums all balances."""
    wallets = [(await funded_wallet(db, start))[1] for _ in range(accounts)]
    total = accounts * start
    rng = random.Random(20261123)
    plan = [(*rng.sample(wallets, 2), rng.randint(1, 50)) for _ in range(transfers)]
    slots = asyncio.Semaphore(concurrency)
    outcomes: Counter[str] = Counter()
    reads: list[tuple[int, int]] = []
    done = asyncio.Event()

    async def transfer(source: str, target: str, amount: int) -> None:
        async with slots:
            try:
                async with db.session() as session:
                    await Ledger(session).transfer(
                        debit_account_id=source,
                        credit_account_id=target,
                        amount=amount,
                        kind="TRANSFER",
                    )
                outcomes["moved"] += 1
            except InsufficientFunds:
                outcomes["refused"] += 1

    async def reader() -> None:
        """One statement per read: it sees one snapshot, so it must see the whole total."""
        query = select(func.sum(LedgerAccount.balance), func.min(LedgerAccount.balance)).where(
            LedgerAccount.id.in_(wallets)
        )
        while not done.is_set():
            async with db.session(write=False) as session:
                read_total, read_min = (await session.execute(query)).one()
            reads.append((int(read_total), int(read_min)))
            await asyncio.sleep(0.02)

    reading = asyncio.create_task(reader())
    await asyncio.gather(*(transfer(*step) for step in plan))
    done.set()
    await reading
    assert outcomes["moved"] + outcomes["refused"] == transfers
    assert outcomes["moved"] > transfers // 2
    assert len(reads) >= 2
    assert all(read_total == total for read_total, _ in reads), reads
    assert min(read_min for _, read_min in reads) >= 0
    async with db.session(write=False) as session:
        report = await check_ledger(session)
    assert report.ok, report.problems()


@only_postgresql
async def test_l2_bank_postgresql(ledger_db: Database) -> None:
    """20 wallets, 600 random transfers at concurrency 100, one session each (the full
    5000-transfer run is `test_l2_bank_postgresql_full`, marked slow)."""
    await bank_run(ledger_db, accounts=20, start=1_000, transfers=600, concurrency=100)


@pytest.mark.slow
@only_postgresql
async def test_l2_bank_postgresql_full(database_url: str) -> None:
    db = Database(database_url, pool_size=60, max_overflow=0)
    try:
        await bank_run(db, accounts=20, start=1_000, transfers=5_000, concurrency=100)
    finally:
        await db.dispose()


@only_sqlite
async def test_l2_bank_sqlite(ledger_db: Database) -> None:
    await bank_run(ledger_db, accounts=10, start=1_000, transfers=300, concurrency=20)


async def opposite_transfers(db: Database, each_way: int) -> None:
    _, a = await funded_wallet(db, 10_000)
    _, b = await funded_wallet(db, 10_000)
    retries_before = sum(sample.value for sample in RETRIES.collect()[0].samples)
    slots = asyncio.Semaphore(100)

    async def move(source: str, target: str) -> None:
        async with slots, db.session() as session:
            await Ledger(session).transfer(
                debit_account_id=source, credit_account_id=target, amount=1, kind="TRANSFER"
            )

    jobs = [move(a, b) for _ in range(each_way)] + [move(b, a) for _ in range(each_way)]
    random.Random(8).shuffle(jobs)
    await asyncio.gather(*jobs)
    async with db.session(write=False) as session:
        ledger = Ledger(session)
        assert (await ledger.balance(a), await ledger.balance(b)) == (10_000, 10_000)
        report = await check_ledger(session)
    assert report.ok, report.problems()
    assert sum(sample.value for sample in RETRIES.collect()[0].samples) == retries_before


async def test_l8_opposite_transfers_never_deadlock(ledger_db: Database, engine: str) -> None:
    """A→B and B→A at once: every transfer succeeds, none needed a retry, balances end as
    they started (the full 500-each-way run is marked slow)."""
    await opposite_transfers(ledger_db, 200 if engine == "postgresql" else 100)


@pytest.mark.slow
@only_postgresql
async def test_l8_opposite_transfers_full(ledger_db: Database) -> None:
    await opposite_transfers(ledger_db, 500)


@only_postgresql
async def test_a_deadlock_the_caller_provokes_is_retried_inside_the_service(
    ledger_db: Database,
) -> None:
    """The safety net: a caller that locked a wallet row itself, then moves money while
    another movement that already holds a wallet it needs waits for that row, forms a cycle.
    PostgreSQL aborts one side; the ledger rolls back its savepoint, retries, and both
    complete."""
    _, a = await funded_wallet(ledger_db, 100)
    _, b = await funded_wallet(ledger_db, 100)
    _, c = await funded_wallet(ledger_db, 100)
    if c > b:  # wallets lock in ascending id order: the movement c → b then holds c, waits on b
        b, c = c, b
    retries_before = sum(sample.value for sample in RETRIES.collect()[0].samples)
    holding_b = asyncio.Event()

    async def caller_locking_b_first() -> None:
        async with ledger_db.session() as session:
            await session.execute(
                text("SELECT id FROM ledger_accounts WHERE id = :id FOR UPDATE"), {"id": b}
            )
            holding_b.set()
            await asyncio.sleep(0.5)  # let the other movement lock c and wait on b
            await Ledger(session).transfer(
                debit_account_id=a, credit_account_id=c, amount=10, kind="TRANSFER"
            )

    async def movement_into_b() -> None:
        await holding_b.wait()
        async with ledger_db.session() as session:
            await Ledger(session).transfer(
                debit_account_id=c, credit_account_id=b, amount=5, kind="TRANSFER"
            )

    await asyncio.gather(caller_locking_b_first(), movement_into_b())
    async with ledger_db.session(write=False) as session:
        ledger = Ledger(session)
        assert [await ledger.balance(x) for x in (a, b, c)] == [90, 105, 105]
    assert sum(sample.value for sample in RETRIES.collect()[0].samples) > retries_before
