"""Copy trading's hot path: signals published by a master's bot and delivered to 100
long-polling followers, and protection events, on PostgreSQL with Redis Streams.

Starts a real server (scheduler off), creates a master and 100 followers straight in the
database, then measures on the same run:

1. the ceiling: `/healthz` requests per second and latency (the cheapest answer the server
   gives, same concurrency);
2. delivery: the master publishes signals one after another while 100 followers long-poll
   with their cursors; per delivery, the time from the publish request's start to the
   follower's receipt (p50/p99), signals per second and deliveries per second;
3. protection events per second (16 bots in parallel, one transaction each).

Prints the figures, each throughput also as a ratio to the `/healthz` rate of this run, and
saves them to bench/results/copytrading.json.
Run: .venv/bin/python bench/bench_copytrading.py [--quick]
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from support import HttpConnection, pg_database_url, scratch_database, start_server

from tessera.core.db.engine import Database
from tessera.core.db.migrate import upgrade
from tessera.core.identity.models import User
from tessera.modules.copytrading import signing
from tessera.modules.copytrading.config import CopytradingSettings
from tessera.modules.copytrading.schemas import MasterProfileIn
from tessera.modules.copytrading.service import MasterService, SubscriptionService

RESULTS = Path(__file__).parent / "results"
SECRET = "bench-secret-key-that-is-long-enough-0123456789"
FOLLOWERS = 100
API = "/api/v1"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def prepare(url: str) -> tuple[str, str, list[str], str]:
    """A master (no fee) with its license, FOLLOWERS subscriptions with theirs, and a second
    master without followers (its license) for the bare publish rate."""
    db = Database(url)
    try:
        async with db.session(write=True) as session:
            suffix = uuid.uuid4().hex[:6]
            master = User(email=f"master-{suffix}@bench.test", hashed_password=None)
            session.add(master)
            await session.flush()
            await MasterService(session).upsert(
                master,
                MasterProfileIn(display_name="Bench Master", strategy_name="Load", monthly_fee=0),
            )
            issued = await MasterService(session).issue_license(master)
            tokens = []
            subscriptions = SubscriptionService(session, CopytradingSettings())
            for i in range(FOLLOWERS):
                follower = User(email=f"f{i}-{suffix}@bench.test", hashed_password=None)
                session.add(follower)
                await session.flush()
                _, license_ = await subscriptions.subscribe(follower, master.id)
                tokens.append(license_.token)
            lone = User(email=f"lone-{suffix}@bench.test", hashed_password=None)
            session.add(lone)
            await session.flush()
            await MasterService(session).upsert(
                lone, MasterProfileIn(display_name="Lone Master", strategy_name="Solo")
            )
            lone_license = await MasterService(session).issue_license(lone)
    finally:
        await db.dispose()
    return issued.token, signing.signing_secret(issued.token), tokens, lone_license.token


def signal_body(secret: str, sequence: int) -> bytes:
    generated = int(time.time() * 1000)
    message = signing.canonical(
        sequence_number=sequence,
        symbol="EURUSD",
        order_type="BUY",
        volume=Decimal("0.1"),
        price=Decimal("1.0845"),
        stop_loss=None,
        take_profit=None,
        generated_at_ms=generated,
    )
    return json.dumps(
        {
            "sequence_number": sequence,
            "symbol": "EURUSD",
            "order_type": "BUY",
            "volume": "0.1",
            "price": "1.0845",
            "generated_at": generated,
            "signature": signing.sign(secret, message),
        }
    ).encode()


async def healthz_rate(base: str, count: int, concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    remaining = count

    async def worker() -> None:
        nonlocal remaining
        async with HttpConnection(base) as conn:
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                status, _ = await conn.request("GET", "/healthz")
                assert status == 200
                latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - started), latencies


async def delivery(
    base: str,
    master_token: str,
    secret: str,
    tokens: list[str],
    signals: int,
    *,
    first: int = 1,
    pace: float = 0.0,
) -> dict[str, Any]:
    """Publish `signals` from sequence `first`, `pace` seconds apart (0: back to back)."""
    last = first + signals - 1
    sent_at: dict[int, float] = {}
    received: list[float] = []
    done = asyncio.Event()

    async def follower(token: str) -> None:
        cursor = first - 1
        async with HttpConnection(base) as conn:
            while cursor < last:
                status, body = await conn.request(
                    "GET",
                    f"{API}/signals/poll?last_seq={cursor}&limit=100&wait=10",
                    headers={"X-License-Token": token},
                )
                assert status == 200, body
                now = time.perf_counter()
                for item in json.loads(body)["signals"]:
                    sequence = item["sequence_number"]
                    assert sequence == cursor + 1, (sequence, cursor)  # in order, each once
                    cursor = sequence
                    received.append(now - sent_at[sequence])

    async def master() -> float:
        await asyncio.sleep(0.5)  # the followers are waiting
        started = time.perf_counter()
        async with HttpConnection(base) as conn:
            for sequence in range(first, last + 1):
                if pace:
                    await asyncio.sleep(pace)
                body = signal_body(secret, sequence)
                sent_at[sequence] = time.perf_counter()
                status, answer = await conn.request(
                    "POST",
                    f"{API}/signals",
                    body,
                    {"X-License-Token": master_token, "Content-Type": "application/json"},
                )
                assert status == 201, answer
        return time.perf_counter() - started

    started = time.perf_counter()
    followers = asyncio.gather(*(follower(token) for token in tokens))
    publish_seconds = await master()
    await followers
    total = time.perf_counter() - started
    done.set()
    assert len(received) == signals * len(tokens)
    return {
        "followers": len(tokens),
        "signals": signals,
        "pace_seconds": pace,
        "signals_per_second": round(signals / publish_seconds, 1),
        "deliveries_per_second": round(len(received) / total, 1),
        "delivery_latency_ms_p50": round(statistics.median(received) * 1000, 2),
        "delivery_latency_ms_p99": round(percentile(received, 99) * 1000, 2),
    }


async def publish_rate(base: str, token: str, count: int) -> float:
    """One master's bot publishing back to back, nobody polling."""
    secret = signing.signing_secret(token)
    started = time.perf_counter()
    async with HttpConnection(base) as conn:
        for sequence in range(1, count + 1):
            status, answer = await conn.request(
                "POST",
                f"{API}/signals",
                signal_body(secret, sequence),
                {"X-License-Token": token, "Content-Type": "application/json"},
            )
            assert status == 201, answer
    return count / (time.perf_counter() - started)


async def event_rate(base: str, tokens: list[str], count: int, concurrency: int) -> float:
    body = json.dumps(
        {
            "signal_sequence": 1,
            "signal_generated_at": "2026-01-05T10:00:00Z",
            "server_arrival_time": "2026-01-05T10:00:00.1Z",
            "reason": "PRICE_DEVIATION",
            "latency_ms": 90,
            "current_state": "SYNCED",
        }
    ).encode()
    remaining = count

    async def worker(index: int) -> None:
        nonlocal remaining
        async with HttpConnection(base) as conn:
            while remaining > 0:
                remaining -= 1
                token = tokens[(index + remaining) % len(tokens)]
                status, answer = await conn.request(
                    "POST",
                    f"{API}/protection-events",
                    body,
                    {"X-License-Token": token, "Content-Type": "application/json"},
                )
                assert status == 201, answer

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return count / (time.perf_counter() - started)


async def main(quick: bool) -> dict[str, Any]:
    async with scratch_database("tessera_bench_ct") as name:
        url = pg_database_url(name)
        data_dir = Path(tempfile.mkdtemp(prefix=f"{name}-"))
        proc = None
        try:
            await asyncio.to_thread(upgrade, url)
            master_token, secret, tokens, lone_token = await prepare(url)
            proc, base = start_server(
                {
                    **os.environ,
                    "TESSERA_ENV": "test",
                    "TESSERA_DATABASE_URL": url,
                    "TESSERA_SECRET_KEY": SECRET,
                    "TESSERA_SCHEDULER": "off",
                    "TESSERA_DATA_DIR": str(data_dir),
                    "TESSERA_LOG_LEVEL": "WARNING",
                    "TESSERA_REDIS_URL": os.environ.get(
                        "TESSERA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"
                    ),
                    "TESSERA_REDIS_PREFIX": name,
                    "TESSERA_COPYTRADING_EA_RATE": "1000000/minute",
                    "TESSERA_DB_POOL_SIZE": "30",
                }
            )
            health, health_latencies = await healthz_rate(base, 1000 if quick else 3000, 16)
            alone = await publish_rate(base, lone_token, 100 if quick else 300)
            paced_count = 10 if quick else 30
            paced = await delivery(base, master_token, secret, tokens, paced_count, pace=0.5)
            relayed = await delivery(
                base, master_token, secret, tokens, 50 if quick else 200, first=paced_count + 1
            )
            events = await event_rate(base, tokens, 500 if quick else 2000, 16)
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(10)
    results = {
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "ceiling_healthz": {
            "requests_per_second": round(health, 1),
            "latency_ms_p50": round(statistics.median(health_latencies) * 1000, 2),
        },
        "delivery_paced": paced,
        "delivery": {
            **relayed,
            "deliveries_ratio_to_healthz": round(relayed["deliveries_per_second"] / health, 3),
            "signals_ratio_to_healthz": round(relayed["signals_per_second"] / health, 3),
        },
        "publish_without_followers": {
            "signals_per_second": round(alone, 1),
            "ratio_to_healthz": round(alone / health, 3),
        },
        "protection_events": {
            "per_second": round(events, 1),
            "ratio_to_healthz": round(events / health, 3),
        },
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "copytrading.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def report(out: dict[str, Any]) -> None:
    h, a, e = out["ceiling_healthz"], out["publish_without_followers"], out["protection_events"]
    p, d = out["delivery_paced"], out["delivery"]
    print(
        f"/healthz ceiling        {h['requests_per_second']:8.1f} req/s"
        f" (p50 {h['latency_ms_p50']} ms)"
    )
    print(
        f"publish, no followers   {a['signals_per_second']:8.1f} /s  ratio {a['ratio_to_healthz']}"
    )
    print(
        f"paced, 1 per {p['pace_seconds']} s     latency p50 {p['delivery_latency_ms_p50']} ms, "
        f"p99 {p['delivery_latency_ms_p99']} ms ({p['followers']} followers)"
    )
    print(
        f"burst: published        {d['signals_per_second']:8.1f} /s"
        f"  ratio {d['signals_ratio_to_healthz']}"
    )
    print(
        f"burst: delivered        {d['deliveries_per_second']:8.1f} /s  ratio "
        f"{d['deliveries_ratio_to_healthz']} (latency p50 {d['delivery_latency_ms_p50']} ms, "
        f"p99 {d['delivery_latency_ms_p99']} ms)"
    )
    print(f"protection events       {e['per_second']:8.1f} /s  ratio {e['ratio_to_healthz']}")
    print(f"saved {RESULTS / 'copytrading.json'}")


if __name__ == "__main__":
    report(asyncio.run(main("--quick" in sys.argv)))
