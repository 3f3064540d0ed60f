"""What every benchmark needs: a free port, a server process, and scratch PostgreSQL databases."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from urllib.parse import urlparse

import asyncpg
import httpx2

PG_URL = os.environ.get("TESSERA_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(env: Mapping[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """`tessera serve` on a free loopback port with `env`; returns once `/healthz` answers."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tessera", "serve", "--port", str(port)],
        env=dict(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx2.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx2.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def pg_reachable() -> bool:
    parsed = urlparse(PG_URL)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 5432), 1):
            return True
    except OSError:
        return False


def pg_database_url(name: str) -> str:
    return f"postgresql+asyncpg://{urlparse(PG_URL).netloc}/{name}"


async def pg_admin(sql: str) -> None:
    """One statement on the maintenance database (CREATE/DROP DATABASE need autocommit)."""
    parsed = urlparse(PG_URL)
    conn = await asyncpg.connect(
        host=parsed.hostname,
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        database=parsed.path.lstrip("/") or "postgres",
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()
