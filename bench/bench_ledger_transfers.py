"""Ledger throughput: money movements per second through the service, one at a time and in
parallel, on SQLite and (when reachable) PostgreSQL.

    .venv/bin/python bench/bench_ledger_transfers.py [--transfers 1000] [--concurrency 50]

Each movement is one transaction: the transaction and audit rows, two guarded balance updates,
two entries and the commit. SQLite runs in a temporary file; PostgreSQL in a scratch
database created and dropped here (`TESSERA_BENCH_PG_URL`, default the local server).
Figures go to `bench/results/bench_ledger_transfers.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from support import pg_database_url, pg_reachable, scratch_database

from tessera.core.db.engine import Database
from tessera.core.db.migrate import upgrade
from tessera.core.identity.models import User
from tessera.core.ledger import InsufficientFunds, Ledger

RESULTS = Path(__file__).parent / "results" / "bench_ledger_transfers.json"


async def make_wallets(db: Database, count: int) -> list[str]:
    wallets = []
    async with db.session() as session:
        ledger = Ledger(session)
        for _ in range(count):
            user = User(email=f"bench-{uuid.uuid4().hex[:12]}@example.com")
            session.add(user)
            await session.flush()
            await ledger.credit_user(user.id, 10**9, "USD", kind="DEPOSIT")
            wallet = await ledger.wallet_for(user.id, "USD")
            assert wallet is not None
            wallets.append(wallet.id)
    return wallets


async def movements_per_second(
    db: Database, wallets: list[str], transfers: int, concurrency: int
) -> float:
    rng = random.Random(1)
    plan = [rng.sample(wallets, 2) for _ in range(transfers)]
    slots = asyncio.Semaphore(concurrency)

    async def one(source: str, target: str) -> None:
        async with slots:
            try:
                async with db.session() as session:
                    await Ledger(session).transfer(
                        debit_account_id=source, credit_account_id=target, amount=1, kind="BENCH"
                    )
            except InsufficientFunds:
                pass

    started = time.perf_counter()
    await asyncio.gather(*(one(source, target) for source, target in plan))
    return transfers / (time.perf_counter() - started)


async def measure(url: str, transfers: int, concurrency: int) -> dict[str, Any]:
    await asyncio.to_thread(upgrade, url)
    db = Database(url, pool_size=min(concurrency, 50), max_overflow=0)
    try:
        wallets = await make_wallets(db, 20)
        sequential = await movements_per_second(db, wallets, max(transfers // 5, 50), 1)
        parallel = await movements_per_second(db, wallets, transfers, concurrency)
    finally:
        await db.dispose()
    return {
        "sequential_per_second": round(sequential, 1),
        "parallel_per_second": round(parallel, 1),
        "concurrency": concurrency,
        "transfers": transfers,
    }


async def main(transfers: int, concurrency: int) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": f"{platform.machine()}, {os.cpu_count()} cores"}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        results["sqlite"] = await measure(url, transfers, concurrency)
    if pg_reachable():
        async with scratch_database("tessera_bench") as name:
            results["postgresql"] = await measure(pg_database_url(name), transfers, concurrency)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Ledger movements per second")
    parser.add_argument("--transfers", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    figures = asyncio.run(main(args.transfers, args.concurrency))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
