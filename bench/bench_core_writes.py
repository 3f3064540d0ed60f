"""The core's write paths against the database's own ceiling, measured in one run.

    .venv/bin/python bench/bench_core_writes.py [--seconds 15] [--wallets 1000]

PostgreSQL + Redis on this machine (TESSERA_BENCH_PG_URL, TESSERA_BENCH_REDIS_URL):

1. the ceiling: `pgbench -b tpcb-like`, scale 10, 16 clients, on a scratch database;
2. `POST /api/v1/wallet/deposit` under wrk (32 connections) spread over N wallets, served by
   uvicorn with 1 and with 2 workers (each runs the audit sequencer), and all on one wallet;
3. the audit merge delay of the rows the 2-worker run wrote (append → signed tree head);
4. in process, through the `Ledger`: wallet-to-wallet transfers against deposits, and
   audited deposits with the sequencer running against the same deposits with no audit row;
   (and, during the 2-worker runs, what the server's connections wait on: pg_stat_activity);
5. `GET /auth/me` p99 while 200 logins hash (production argon2id, the default pool), against
   its p99 at rest, and how many answers were 503.

Figures are printed, saved to bench/results/core_writes.json, and charted in core_writes.svg.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
from support import HttpConnection, free_port, pg_database_url, pgbench_tps, scratch_database

from tessera.core.audit.sequencer import Sequencer, create_signing_key
from tessera.core.config import Settings
from tessera.core.db.engine import Database
from tessera.core.db.migrate import upgrade
from tessera.core.identity.models import User
from tessera.core.identity.passwords import PasswordHasher

RESULTS = Path(__file__).parent / "results"
REDIS_URL = os.environ.get("TESSERA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET = "bench-secret-key-that-is-long-enough-0123456789"
PASSWORD = "correct-horse-battery-staple-42"
WRK_CONNECTIONS = 32
LOGIN_BURST = 200


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


# --- servers -----------------------------------------------------------------------------------


def server_env(database_url: str, prefix: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "TESSERA_ENV": "test",
        "TESSERA_DATABASE_URL": database_url,
        "TESSERA_REDIS_URL": REDIS_URL,
        "TESSERA_REDIS_PREFIX": prefix,
        "TESSERA_SECRET_KEY": SECRET,
        "TESSERA_SCHEDULER": "inprocess",
        "TESSERA_LOG_LEVEL": "WARNING",
        "TESSERA_REGISTER_IP_LIMIT": "100000/hour",
        "TESSERA_LOGIN_IP_LIMIT": "100000/hour",
        "TESSERA_LOGIN_ACCOUNT_LIMIT": "100000/hour",
        **extra,
    }


@contextmanager
def uvicorn(env: dict[str, str], workers: int) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "tessera.app:create_app",
            "--factory",
            *("--port", str(port), "--workers", str(workers)),
            *("--no-access-log", "--log-level", "warning"),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx2.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.2)
        time.sleep(1.0 * workers)  # every worker up, not just the first
        yield base
    finally:
        proc.terminate()
        proc.wait(20)


async def make_users(base: str, count: int) -> list[str]:
    """Register and log in `count` users (fast hashing on this server); their tokens."""
    tokens: list[str] = []
    slots = asyncio.Semaphore(16)
    async with httpx2.AsyncClient(base_url=base, timeout=60) as client:

        async def one() -> None:
            email = f"bench-{uuid.uuid4().hex[:12]}@example.com"
            async with slots:
                body = {"email": email, "password": PASSWORD}
                assert (await client.post("/auth/register", json=body)).status_code == 201
                answer = await client.post("/auth/login", json=body)
                tokens.append(answer.json()["access_token"])

        await asyncio.gather(*(one() for _ in range(count)))
    return tokens


WRK_SCRIPT = """
local tokens = {}
for line in io.lines("%(tokens)s") do tokens[#tokens + 1] = line end
wrk.method = "POST"
wrk.body = '{"amount_usd": "0.01"}'
wrk.headers["Content-Type"] = "application/json"
request = function()
  local token = tokens[%(pick)s]
  wrk.headers["Authorization"] = "Bearer " .. token
  return wrk.format(nil, "/api/v1/wallet/deposit")
end
"""


def wrk(base: str, tokens: list[str], seconds: int, hot: bool, tmp: Path) -> dict[str, float]:
    """Deposits for `seconds` after a 3-second warm-up (pools filled, statements compiled)."""
    for warm_up in (True, False):
        figures = _wrk(base, tokens, 3 if warm_up else seconds, hot, tmp)
    return figures


def _wrk(base: str, tokens: list[str], seconds: int, hot: bool, tmp: Path) -> dict[str, float]:
    token_file = tmp / "tokens.txt"
    token_file.write_text("\n".join(tokens) + "\n")
    script = tmp / "deposit.lua"
    pick = "1" if hot else "math.random(#tokens)"
    script.write_text(WRK_SCRIPT % {"tokens": token_file, "pick": pick})
    out = subprocess.run(
        ["wrk", "-t2", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s", "-s", str(script), base],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    assert rate, out
    return {"per_second": float(rate.group(1)), "non_2xx": int(errors.group(1)) if errors else 0}


async def merge_delays(db: Database, since: float) -> dict[str, float]:
    from datetime import UTC, datetime

    from sqlalchemy import select

    from tessera.core.audit.models import AuditLog

    start = datetime.fromtimestamp(since, UTC)
    async with db.session(write=False) as session:
        rows = (
            await session.execute(
                select(AuditLog.created_at, AuditLog.sequenced_at).where(
                    AuditLog.created_at >= start, AuditLog.action == "ledger.transfer"
                )
            )
        ).all()
    delays = [(s - c).total_seconds() for c, s in rows if s is not None]
    waiting = sum(1 for _, s in rows if s is None)
    return {
        "rows": len(rows),
        "unsequenced": waiting,
        "p50_s": round(percentile(delays, 50), 3) if delays else -1,
        "p99_s": round(percentile(delays, 99), 3) if delays else -1,
        "max_s": round(max(delays), 3) if delays else -1,
    }


async def sample_waits(database_url: str, stop: asyncio.Event) -> dict[str, float]:
    """What the server's connections do during a run, sampled every 50 ms from
    pg_stat_activity: running, waiting on a lock (row or advisory), or idle in a transaction
    (waiting for the application: CPU, or the next statement)."""
    import asyncpg

    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    counts = {"active": 0, "lock_wait": 0, "idle_in_transaction": 0}
    samples = 0
    try:
        while not stop.is_set():
            rows = await conn.fetch(
                "SELECT state, wait_event_type FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            for row in rows:
                if row["wait_event_type"] == "Lock":
                    counts["lock_wait"] += 1
                elif row["state"] == "active":
                    counts["active"] += 1
                elif row["state"] == "idle in transaction":
                    counts["idle_in_transaction"] += 1
            samples += 1
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    return {name: round(total / max(samples, 1), 2) for name, total in counts.items()}


# --- in process ----------------------------------------------------------------------------------


async def in_process(database_url: str, wallets: int, seconds: float) -> dict[str, float]:
    """Deposits, transfers, and deposits without audit rows, at concurrency 32."""
    import tessera.core.ledger.repository as ledger_repository
    from tessera.core.ledger import InsufficientFunds, Ledger

    db = Database(database_url, pool_size=WRK_CONNECTIONS, max_overflow=0)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, env="test", secret_key=SECRET, database_url=database_url
    )
    users: list[str] = []
    async with db.session() as session:
        for _ in range(wallets):
            user = User(email=f"inproc-{uuid.uuid4().hex[:12]}@example.com")
            session.add(user)
            await session.flush()
            await Ledger(session).credit_user(user.id, 10**9, "USD", kind="DEPOSIT")
            users.append(user.id)
    async with db.session(write=False) as session:
        ledger = Ledger(session)
        wallet_ids = [w.id for u in users if (w := await ledger.wallet_for(u, "USD"))]

    async def run(what: str) -> float:
        done = 0
        deadline = time.monotonic() + seconds
        rng = random.Random(3)

        async def worker() -> None:
            nonlocal done
            while time.monotonic() < deadline:
                async with db.session() as session:
                    ledger = Ledger(session)
                    try:
                        if what == "transfer":
                            source, target = rng.sample(wallet_ids, 2)
                            await ledger.transfer(
                                debit_account_id=source,
                                credit_account_id=target,
                                amount=1,
                                kind="TRANSFER",
                            )
                        else:
                            await ledger.credit_user(rng.choice(users), 1, "USD", kind="DEPOSIT")
                    except InsufficientFunds:
                        continue
                done += 1

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(WRK_CONNECTIONS)))
        return done / (time.monotonic() - started)

    sequencer = Sequencer(db, settings)
    loop = asyncio.create_task(sequencer.run_forever())
    try:
        deposits = await run("deposit")
        transfers = await run("transfer")
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
    # The same deposits with the audit row taken out of the movement's INSERT (no sequencer).
    original = ledger_repository.MOVEMENT_ROWS
    ledger_repository.MOVEMENT_ROWS = ledger_repository.ENTRIES_INSERT.add_cte(
        ledger_repository.TRANSACTION_INSERT.cte("movement_transaction")
    )
    try:
        unaudited = await run("deposit")
    finally:
        ledger_repository.MOVEMENT_ROWS = original
    await db.dispose()
    return {
        "deposits_per_second": round(deposits, 1),
        "transfers_per_second": round(transfers, 1),
        "unaudited_deposits_per_second": round(unaudited, 1),
    }


# --- /auth/me during a login burst ----------------------------------------------------------------


async def me_during_logins(database_url: str, tmp: Path) -> dict[str, Any]:
    hashed = await PasswordHasher().hash(PASSWORD)
    db = Database(database_url)
    emails = [f"burst-{uuid.uuid4().hex[:12]}@example.com" for _ in range(LOGIN_BURST + 1)]
    async with db.session() as session:
        session.add_all(User(email=email, hashed_password=hashed) for email in emails)
    await db.dispose()
    env = server_env(database_url, f"bench{uuid.uuid4().hex[:8]}")
    with uvicorn(env, 1) as base:
        async with httpx2.AsyncClient(base_url=base, timeout=120) as client:
            first = await client.post(
                "/auth/login", json={"email": emails[0], "password": PASSWORD}
            )
            headers = {"Authorization": f"Bearer {first.json()['access_token']}"}

            async def ask(stop: asyncio.Event, latencies: list[float], codes: list[int]) -> None:
                async with HttpConnection(base) as conn:
                    while not stop.is_set():
                        started = time.perf_counter()
                        status, _ = await conn.request("GET", "/auth/me", headers=headers)
                        latencies.append((time.perf_counter() - started) * 1000)
                        codes.append(status)

            async def phase(burst: bool) -> tuple[list[float], list[int], list[int]]:
                stop = asyncio.Event()
                latencies: list[float] = []
                codes: list[int] = []
                askers = [asyncio.create_task(ask(stop, latencies, codes)) for _ in range(8)]
                logins: list[int] = []
                if burst:
                    answers = await asyncio.gather(
                        *(
                            client.post("/auth/login", json={"email": e, "password": PASSWORD})
                            for e in emails[1:]
                        )
                    )
                    logins = [a.status_code for a in answers]
                else:
                    await asyncio.sleep(3)
                stop.set()
                await asyncio.gather(*askers)
                return latencies, codes, logins

            idle, idle_codes, _ = await phase(False)
            busy, busy_codes, logins = await phase(True)
    idle_p99, busy_p99 = percentile(idle, 99), percentile(busy, 99)
    return {
        "idle_p99_ms": round(idle_p99, 2),
        "burst_p99_ms": round(busy_p99, 2),
        "ratio": round(busy_p99 / idle_p99, 2),
        "me_requests_during_burst": len(busy),
        "503s": busy_codes.count(503) + idle_codes.count(503) + logins.count(503),
        "logins_ok": logins.count(200),
    }


# --- the run -------------------------------------------------------------------------------------


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: a small, searchable file
    import matplotlib.pyplot as plt

    rows = [(r["case"], r["ratio"], r["target"]) for r in results["table"] if r["ratio"] >= 0]
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(rows) + 1.2))
    names = [name for name, _, _ in rows]
    ax.barh(names, [ratio for _, ratio, _ in rows], color="#4c72b0")
    for i, (_, ratio, target) in enumerate(rows):
        if target is not None:
            ax.plot([target, target], [i - 0.4, i + 0.4], color="#c44e52", linewidth=2)
        ax.text(ratio, i, f" {ratio:g}", va="center")
    ax.invert_yaxis()
    ax.set_xlabel("ratio (red: target)")
    ax.set_title(f"Core writes, measured in one run ({results['machine']})")
    fig.tight_layout()
    fig.savefig(path)


async def main(seconds: int, wallets: int) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": f"{platform.machine()}, {os.cpu_count()} cores"}
    ceiling = await asyncio.to_thread(pgbench_tps, seconds, clients=16, scale=10)
    results["pgbench_tpcb_tps"] = ceiling
    async with scratch_database("tessera_bench") as name:
        url = pg_database_url(name)
        await asyncio.to_thread(upgrade, url)
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, env="test", secret_key=SECRET, database_url=url
        )
        db = Database(url)
        await create_signing_key(db, settings)
        env = server_env(url, f"bench{uuid.uuid4().hex[:8]}", TESSERA_PASSWORD_HASH_FAST="true")
        with tempfile.TemporaryDirectory() as tmp_dir:
            tmp = Path(tmp_dir)
            with uvicorn(env, 1) as base:
                tokens = await make_users(base, wallets)
                one_worker = await asyncio.to_thread(wrk, base, tokens, seconds, False, tmp)
            with uvicorn(env, 2) as base:
                started = time.time()
                stop = asyncio.Event()
                sampler = asyncio.create_task(sample_waits(url, stop))
                two_workers = await asyncio.to_thread(wrk, base, tokens, seconds, False, tmp)
                stop.set()
                waits = await sampler
                await asyncio.sleep(settings.audit_max_merge_delay_seconds)
                delays = await merge_delays(db, started)
                stop = asyncio.Event()
                sampler = asyncio.create_task(sample_waits(url, stop))
                hot = await asyncio.to_thread(wrk, base, tokens, seconds, True, tmp)
                stop.set()
                hot_waits = await sampler
            await db.dispose()
            service = await in_process(url, min(wallets, 200), seconds)
            me = await me_during_logins(url, tmp)
    spread = two_workers["per_second"]
    results |= {
        "deposits_1_worker": one_worker,
        "deposits_2_workers": two_workers,
        "deposits_hot_2_workers": hot,
        "connections_spread_2_workers": waits,
        "connections_hot_2_workers": hot_waits,
        "merge_delay": delays,
        "in_process": service,
        "auth_me_during_logins": me,
        "settings": {"max_merge_delay_s": settings.audit_max_merge_delay_seconds},
        "table": [
            {
                "case": "deposits spread, 2 workers ÷ pgbench",
                "ratio": round(spread / ceiling, 3),
                "target": 0.15,
            },
            {
                "case": "2 workers ÷ 1 worker",
                "ratio": round(spread / one_worker["per_second"], 2),
                "target": 1.3,
            },
            {
                "case": "one hot wallet ÷ spread",
                "ratio": round(hot["per_second"] / spread, 2),
                "target": None,
            },
            {
                "case": "transfers ÷ deposits (in process)",
                "ratio": round(service["transfers_per_second"] / service["deposits_per_second"], 2),
                "target": 0.8,
            },
            {
                "case": "audited + sequencer ÷ no audit (in process)",
                "ratio": round(
                    service["deposits_per_second"] / service["unaudited_deposits_per_second"], 2
                ),
                "target": 0.8,
            },
            {
                "case": "/auth/me p99 during 200 logins ÷ idle",
                "ratio": me["ratio"],
                "target": 3.0,
            },
            {
                "case": "merge delay p99 ÷ the setting",
                "ratio": round(delays["p99_s"] / settings.audit_max_merge_delay_seconds, 3),
                "target": 1.0,
            },
        ],
    }
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Core write paths against pgbench")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--wallets", type=int, default=1000)
    parser.add_argument("--chart-only", action="store_true", help="redraw the saved figures")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.chart_only:
        chart(json.loads((RESULTS / "core_writes.json").read_text()), RESULTS / "core_writes.svg")
        raise SystemExit(0)
    figures = asyncio.run(main(args.seconds, args.wallets))
    (RESULTS / "core_writes.json").write_text(json.dumps(figures, indent=2) + "\n")
    chart(figures, RESULTS / "core_writes.svg")
    print(json.dumps(figures, indent=2))
    for row in figures["table"]:
        target = "" if row["target"] is None else f"  (target {row['target']})"
        print(f"{row['case']:<48} {row['ratio']:>8}{target}")
