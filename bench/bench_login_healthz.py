"""Does the API stay responsive while passwords hash? And do logins leak account existence
through timing?

Starts a real server (uvicorn, SQLite in a temporary directory, production argon2id
parameters), then measures:

1. /healthz latency at rest, and while 20 logins hash in parallel (target: p95 < 100 ms);
2. login latency for an unknown e-mail versus a known e-mail with a wrong password,
   interleaved (target: medians within max(10 ms, 10 %));
3. the per-request session check: GET /auth/me latency.

Prints the figures and saves them to bench/results/bench_login_healthz.json.
Run: .venv/bin/python bench/bench_login_healthz.py
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2
from support import start_server

RESULTS = Path(__file__).parent / "results" / "bench_login_healthz.json"
PASSWORD = "correct-horse-battery-staple-42"
PARALLEL_LOGINS = 20
TIMING_SAMPLES = 60


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(values_ms: list[float]) -> dict[str, float]:
    return {
        "n": len(values_ms),
        "p50_ms": round(percentile(values_ms, 50), 2),
        "p95_ms": round(percentile(values_ms, 95), 2),
        "p99_ms": round(percentile(values_ms, 99), 2),
        "max_ms": round(max(values_ms), 2),
    }


def start_sqlite_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    env = {
        **os.environ,
        "TESSERA_ENV": "test",
        "TESSERA_SECRET_KEY": secrets.token_urlsafe(48),
        "TESSERA_DATA_DIR": str(data_dir),
        "TESSERA_DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / 'bench.db'}",
        "TESSERA_PASSWORD_HASH_FAST": "false",
        "TESSERA_SCHEDULER": "off",
        "TESSERA_LOG_LEVEL": "WARNING",
        "TESSERA_REGISTER_IP_LIMIT": "10000/hour",
        "TESSERA_LOGIN_IP_LIMIT": "100000/hour",
        "TESSERA_LOGIN_ACCOUNT_LIMIT": "100000/hour",
    }
    env.pop("TESSERA_REDIS_URL", None)
    env.pop("REDIS_URL", None)
    subprocess.run(
        [sys.executable, "-m", "tessera", "migrate"], env=env, check=True, capture_output=True
    )
    return start_server(env)


async def timed(client: httpx2.AsyncClient, method: str, url: str, **kwargs: Any) -> float:
    started = time.perf_counter()
    response = await client.request(method, url, **kwargs)
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code < 500, response.text
    return elapsed


async def healthz_samples(client: httpx2.AsyncClient, stop: asyncio.Event) -> list[float]:
    samples = []
    while not stop.is_set():
        samples.append(await timed(client, "GET", "/healthz"))
        await asyncio.sleep(0.005)
    return samples


async def run(base: str) -> dict[str, Any]:
    limits = httpx2.Limits(max_connections=PARALLEL_LOGINS + 5)
    async with httpx2.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        emails = [f"bench-{i}-{secrets.token_hex(3)}@example.com" for i in range(PARALLEL_LOGINS)]
        for email in emails:
            r = await client.post("/auth/register", json={"email": email, "password": PASSWORD})
            assert r.status_code == 201, r.text

        # 1. /healthz at rest, then during a burst of parallel logins (repeated 5 times).
        rest = [await timed(client, "GET", "/healthz") for _ in range(200)]
        burst_health: list[float] = []
        login_ms: list[float] = []
        for _ in range(5):
            stop = asyncio.Event()
            prober = asyncio.create_task(healthz_samples(client, stop))
            await asyncio.sleep(0.05)
            started = time.perf_counter()
            login_ms += await asyncio.gather(
                *(
                    timed(client, "POST", "/auth/login", json={"email": e, "password": PASSWORD})
                    for e in emails
                )
            )
            burst_seconds = time.perf_counter() - started
            stop.set()
            burst_health += await prober

        # 2. Enumeration by timing: unknown e-mail vs known e-mail + wrong password.
        unknown: list[float] = []
        known: list[float] = []
        for i in range(TIMING_SAMPLES):
            pair = [
                ("unknown", {"email": f"ghost-{i}@example.com", "password": "wrong-password-1"}),
                ("known", {"email": emails[i % len(emails)], "password": "wrong-password-1"}),
            ]
            if i % 2:
                pair.reverse()
            for kind, body in pair:
                ms = await timed(client, "POST", "/auth/login", json=body)
                (unknown if kind == "unknown" else known).append(ms)

        # 3. The per-request session check.
        token = (
            await client.post("/auth/login", json={"email": emails[0], "password": PASSWORD})
        ).json()["access_token"]
        me = [
            await timed(client, "GET", "/auth/me", headers={"Authorization": f"Bearer {token}"})
            for _ in range(300)
        ]

    median_unknown, median_known = statistics.median(unknown), statistics.median(known)
    allowed = max(10.0, 0.10 * max(median_unknown, median_known))
    return {
        "healthz_at_rest": summary(rest),
        "healthz_during_20_parallel_logins": summary(burst_health),
        "healthz_p95_under_100ms": percentile(burst_health, 95) < 100,
        "login_latency_in_burst": summary(login_ms),
        "last_burst_seconds": round(burst_seconds, 3),
        "login_unknown_email": summary(unknown),
        "login_wrong_password": summary(known),
        "timing_gap_ms": round(abs(median_unknown - median_known), 2),
        "timing_gap_allowed_ms": round(allowed, 2),
        "timing_parity": abs(median_unknown - median_known) <= allowed,
        "auth_me_sqlite_no_cache": summary(me),
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        proc, base = start_sqlite_server(Path(tmp))
        try:
            figures = asyncio.run(run(base))
        finally:
            proc.terminate()
            proc.wait(10)
    figures["machine"] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "argon2": "argon2id m=19456 KiB, t=2, p=1; 2 hashes at a time",
    }
    figures["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    print(f"saved to bench/results/{RESULTS.name}")


if __name__ == "__main__":
    main()
