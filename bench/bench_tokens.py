"""Token issuer throughput: signing against the raw primitive, redemption against bare SQL.

    .venv/bin/python bench/bench_tokens.py [--quick]

What it does, on PostgreSQL (TESSERA_BENCH_PG_URL, default the local server) and Redis
(TESSERA_BENCH_REDIS_URL, default the local server, for the API-key cache):

1. creates a scratch database, migrates it, installs an issuer key and API keys;
2. starts one `tessera serve` process pinned to one CPU core (the client runs on another);
3. measures BlindSign on that core in-process (the primitive: `crypto.blind_sign`);
4. measures tokens signed per second through POST /v1/sign_blinded, batches of 1 and 100,
   as a ratio to the primitive (target >= 0.8 for batches of 100);
5. measures redemptions per second through POST /v1/redeem (with a minimal keep-alive
   client, `support.HttpConnection`, so that the client does not set the pace), and a bare
   `INSERT … ON CONFLICT DO NOTHING` loop through the same driver (SQLAlchemy + asyncpg,
   one transaction per insert, same concurrency), and their ratio (target >= 0.5).

Results are printed and saved to bench/results/tokens.json, with an SVG bar chart.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
from sqlalchemy import text
from support import HttpConnection, pg_database_url, scratch_database, start_server

from tessera.client import tokens as sdk
from tessera.core.config import Settings
from tessera.core.db.engine import Database
from tessera.core.db.migrate import upgrade
from tessera.core.identity.api_keys import create_api_key
from tessera.modules.tokens.config import TokensConfig
from tessera.modules.tokens.keyring import store_key
from tessera.protocols.tokens import crypto, keys

SECRET = "bench-secret-key-that-is-long-enough-0123456789"
RESULTS = Path(__file__).parent / "results"
CHALLENGE = sdk.TokenChallenge("bench.tessera.test")
SERVER_CPU, CLIENT_CPU = 1, 0


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- scaffolding -------------------------------------------------------------------------------


def server_env(url: str, data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "TESSERA_ENV": "test",
        "TESSERA_DATABASE_URL": url,
        "TESSERA_SECRET_KEY": SECRET,
        "TESSERA_SCHEDULER": "off",
        "TESSERA_DATA_DIR": str(data_dir),
        "TESSERA_LOG_LEVEL": "WARNING",
        "TESSERA_TOKENS_SIGN_RATE": "1000000/minute",
        "TESSERA_DB_POOL_SIZE": "40",
        "TESSERA_DB_MAX_OVERFLOW": "10",
        "TESSERA_REDIS_URL": os.environ.get("TESSERA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
    }


async def prepare(url: str, private_key: Any) -> dict[str, dict[str, str]]:
    settings = Settings(_env_file=None, env="test", database_url=url, secret_key=SECRET)  # type: ignore[call-arg]
    db = Database(url)
    headers = {}
    try:
        async with db.session(write=True) as session:
            start = datetime.now(UTC) - timedelta(minutes=1)
            stored = await store_key(
                session,
                TokensConfig.from_settings(settings).kek,
                private_key,
                not_before=start,
                expires_at=start + timedelta(days=1),
            )
            assert stored is not None
            for role in ("kiosk", "validator"):
                _, plaintext = await create_api_key(session, name=f"bench-{role}", role=role)
                headers[role] = {"Authorization": f"ApiKey {plaintext}"}
    finally:
        await db.dispose()
    return headers


def start_pinned_server(url: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    proc, base = start_server(server_env(url, data_dir))
    pin(proc.pid, SERVER_CPU)
    return proc, base


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), 0.0 where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pin(pid: int, cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > cpu:
        os.sched_setaffinity(pid, {cpu})


async def run_concurrently(
    jobs: list[Callable[[], Awaitable[Any]]], concurrency: int
) -> tuple[float, list[Any]]:
    """Run `jobs` with at most `concurrency` in flight; (seconds, results in job order)."""
    queue = list(reversed(list(enumerate(jobs))))
    results: list[Any] = [None] * len(jobs)

    async def worker() -> None:
        while queue:
            index, job = queue.pop()
            results[index] = await job()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, results


# --- measurements ------------------------------------------------------------------------------


def primitive_rate(private_key: Any, blinded: list[bytes], rounds: int = 3) -> float:
    """BlindSign per second on this core (with its range and fault checks): median of rounds."""
    for msg in blinded[:5]:
        crypto.blind_sign(private_key, msg)
    rates = []
    for _ in range(rounds):
        started = time.perf_counter()
        for msg in blinded:
            crypto.blind_sign(private_key, msg)
        rates.append(len(blinded) / (time.perf_counter() - started))
    return statistics.median(rates)


async def receipt(http: httpx2.AsyncClient, kiosk: dict[str, str], tokens: int) -> str:
    response = await http.post(
        "/v1/verify_receipt",
        json={
            "payment_provider": "test",
            "provider_receipt_id": f"bench-{uuid.uuid4().hex}",
            "amount_cents": 250 * tokens,
        },
        headers=kiosk,
    )
    response.raise_for_status()
    receipt_id: str = response.json()["receipt_id"]
    return receipt_id


async def signing_rate(
    http: httpx2.AsyncClient,
    kiosk: dict[str, str],
    blinded: list[bytes],
    batch: int,
    concurrency: int,
) -> tuple[float, list[list[str]]]:
    """One purchase (receipt) per request, as kiosks sell them; receipts are made untimed."""
    batches = [blinded[i : i + batch] for i in range(0, len(blinded), batch)]
    receipts = [await receipt(http, kiosk, len(chunk)) for chunk in batches]

    def job(receipt_id: str, chunk: list[bytes]) -> Callable[[], Awaitable[list[str]]]:
        async def call() -> list[str]:
            response = await http.post(
                "/v1/sign_blinded",
                json={"receipt_id": receipt_id, "blinded_tokens": [b64(b) for b in chunk]},
                headers=kiosk,
            )
            response.raise_for_status()
            signed: list[str] = response.json()["signed_blinded_tokens"]
            return signed

        return call

    jobs = [job(r, c) for r, c in zip(receipts, batches, strict=True)]
    seconds, results = await run_concurrently(jobs, concurrency)
    return len(blinded) / seconds, results


async def redemption_rate(
    base: str,
    validator: dict[str, str],
    tickets: list[sdk.FinishedToken],
    concurrency: int,
) -> float:
    """POST /v1/redeem for every ticket, `concurrency` connections in parallel."""
    bodies = [
        json.dumps(
            {
                "token": b64(ticket.token_input),
                "signature": b64(ticket.signature),
                "validator_id": "bench-gate",
            }
        ).encode()
        for ticket in tickets
    ]
    headers = {**validator, "Content-Type": "application/json"}
    queue = list(reversed(bodies))
    statuses: list[str] = []

    async def worker() -> None:
        async with HttpConnection(base) as http:
            while queue:
                body = queue.pop()
                _, answer = await http.request("POST", "/v1/redeem", body, headers)
                statuses.append(json.loads(answer)["status"])

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    assert statuses.count("accepted") == len(tickets), "every ticket must be accepted once"
    return len(tickets) / seconds


async def bare_insert_rate(url: str, count: int, concurrency: int) -> float:
    """INSERT … ON CONFLICT DO NOTHING, one transaction each, through SQLAlchemy + asyncpg."""
    db = Database(url, pool_size=concurrency, max_overflow=0)
    statement = text(
        "INSERT INTO tokens_spent (spent_key, key_id, validator_id, api_key_id, channel, "
        "redeemed_at, created_at) VALUES (:k, 'bench', 'bare', NULL, 'online', now(), now()) "
        "ON CONFLICT (spent_key) DO NOTHING RETURNING spent_key"
    )

    def job() -> Callable[[], Awaitable[None]]:
        async def call() -> None:
            async with db.session(write=True) as session:
                await session.execute(statement, {"k": secrets.token_bytes(32)})

        return call

    try:
        await run_concurrently([job() for _ in range(50)], concurrency)  # warm the pool
        seconds, _ = await run_concurrently([job() for _ in range(count)], concurrency)
    finally:
        await db.dispose()
    return count / seconds


# --- report ------------------------------------------------------------------------------------


def svg_chart(results: dict[str, Any]) -> str:
    bars = [
        ("BlindSign primitive (tokens/s/core)", results["signing"]["primitive_tokens_per_s"]),
        ("sign_blinded batch 1", results["signing"]["batch_1_tokens_per_s"]),
        ("sign_blinded batch 100", results["signing"]["batch_100_tokens_per_s"]),
        ("bare INSERT … ON CONFLICT (/s)", results["redemption"]["bare_insert_per_s"]),
        ("POST /v1/redeem (/s)", results["redemption"]["redemptions_per_s"]),
    ]
    width, row, label_w = 760, 34, 270
    top = max(value for _, value in bars)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{row * len(bars) + 50}" '
        'font-family="sans-serif" font-size="13">',
        '<text x="10" y="20" font-weight="bold">Tessera tokens benchmark</text>',
    ]
    for i, (label, value) in enumerate(bars):
        y = 35 + i * row
        w = (width - label_w - 80) * value / top
        colour = "#4c78a8" if i < 3 else "#f58518"
        parts += [
            f'<text x="10" y="{y + 17}">{label}</text>',
            f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="20" fill="{colour}"/>',
            f'<text x="{label_w + w + 6:.1f}" y="{y + 19}">{value:,.0f}</text>',
        ]
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


async def main(quick: bool) -> dict[str, Any]:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {CLIENT_CPU})
    n_sign = 200 if quick else 600
    n_redeem = 1000 if quick else 3000
    private_key = keys.generate_private_key()
    issuer = sdk.IssuerKey(private_key.public_key())
    async with scratch_database("tessera_bench") as name:
        url = pg_database_url(name)
        data_dir = Path(tempfile.mkdtemp(prefix=f"{name}-"))  # the server's scratch data dir
        proc = None
        try:
            await asyncio.to_thread(upgrade, url)
            roles = await prepare(url, private_key)
            proc, base = start_pinned_server(url, data_dir)

            pending = [sdk.request_token(issuer, CHALLENGE) for _ in range(n_redeem)]
            blinded = [p.blinded_msg for p in pending]

            # The primitive, on the server's core (the client leaves it for the duration).
            pin(0, SERVER_CPU)
            primitive = primitive_rate(private_key, blinded[:n_sign])
            pin(0, CLIENT_CPU)

            limits = httpx2.Limits(
                max_connections=64, max_keepalive_connections=64, keepalive_expiry=1.0
            )
            async with httpx2.AsyncClient(base_url=base, limits=limits, timeout=120) as http:
                batch_1, _ = await signing_rate(http, roles["kiosk"], blinded[:n_sign], 1, 4)
                batch_100, _ = await signing_rate(http, roles["kiosk"], blinded[:n_sign], 100, 2)
                # Tickets to redeem: signed in batches, finalized by the client.
                _, signed = await signing_rate(http, roles["kiosk"], blinded, 100, 2)
                flat = [base64.b64decode(s) for chunk in signed for s in chunk]
                tickets = [sdk.finalize(p, s) for p, s in zip(pending, flat, strict=True)]
                cpu_before = process_cpu_seconds(proc.pid)
                redeem = await redemption_rate(base, roles["validator"], tickets, 32)
                redeem_cpu_ms = (process_cpu_seconds(proc.pid) - cpu_before) / len(tickets) * 1000
            bare = await bare_insert_rate(url, n_redeem, 32)
            bare_sequential = await bare_insert_rate(url, n_redeem // 2, 1)
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(10)
            shutil.rmtree(data_dir, ignore_errors=True)

    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "setup": {
            "server": "one `tessera serve` process pinned to one core; client on another",
            "database": "PostgreSQL (local)",
            "key": "RSA-2048, RSABSSA-SHA384-PSS-Deterministic (token type 0x0002)",
        },
        "signing": {
            "tokens": n_sign,
            "primitive_tokens_per_s": round(primitive, 1),
            "batch_1_tokens_per_s": round(batch_1, 1),
            "batch_100_tokens_per_s": round(batch_100, 1),
            "batch_1_ratio": round(batch_1 / primitive, 3),
            "batch_100_ratio": round(batch_100 / primitive, 3),
            "target_batch_100_ratio": 0.8,
            "concurrency": {"batch_1": 4, "batch_100": 2},
        },
        "redemption": {
            "tokens": n_redeem,
            "concurrency": 32,
            "redemptions_per_s": round(redeem, 1),
            "server_cpu_ms_per_redemption": round(redeem_cpu_ms, 2),
            "bare_insert_per_s": round(bare, 1),
            "ratio": round(redeem / bare, 3),
            "bare_insert_sequential_per_s": round(bare_sequential, 1),
            "ratio_to_sequential_loop": round(redeem / bare_sequential, 3),
            "target_ratio": 0.5,
        },
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer tokens (a smoke run)")
    args = parser.parse_args()
    results = asyncio.run(main(args.quick))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "tokens.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "tokens.svg").write_text(svg_chart(results))
    sign, red = results["signing"], results["redemption"]
    print(f"BlindSign primitive      {sign['primitive_tokens_per_s']:>9,.1f} tokens/s (one core)")
    print(
        f"sign_blinded batch 1     {sign['batch_1_tokens_per_s']:>9,.1f} tokens/s  "
        f"ratio {sign['batch_1_ratio']:.2f}"
    )
    print(
        f"sign_blinded batch 100   {sign['batch_100_tokens_per_s']:>9,.1f} tokens/s  "
        f"ratio {sign['batch_100_ratio']:.2f}  (target >= 0.8)"
    )
    print(f"bare INSERT ON CONFLICT  {red['bare_insert_per_s']:>9,.1f} /s (concurrency 32)")
    print(f"  the same, one by one   {red['bare_insert_sequential_per_s']:>9,.1f} /s")
    print(
        f"POST /v1/redeem          {red['redemptions_per_s']:>9,.1f} /s  "
        f"ratio {red['ratio']:.2f}  (target >= 0.5; "
        f"{red['ratio_to_sequential_loop']:.2f} of the one-by-one loop)"
    )
    print(f"server CPU per redemption {red['server_cpu_ms_per_redemption']:.2f} ms")
    print(f"saved {RESULTS / 'tokens.json'} and tokens.svg")
