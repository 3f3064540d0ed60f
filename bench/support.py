"""What every benchmark needs: a free port, a server process, and scratch PostgreSQL databases."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from urllib.parse import urlparse

import asyncpg
import httpx2

PG_URL = os.environ.get("TESSERA_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


# The load generator and the database ceiling, from Debian: tool -> package.
TOOLS = {"wrk": "wrk", "pgbench": "postgresql-client"}


def require_tools(*names: str) -> None:
    """Install what is missing (as root, with apt-get, as `.ci/run` does for the suite's
    tools), or stop with what to install."""
    missing = [name for name in names if shutil.which(name) is None]
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        packages = sorted({TOOLS.get(name, name) for name in missing})
        subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=False)
        missing = [name for name in missing if shutil.which(name) is None]
    if missing:
        raise SystemExit(f"the benchmark needs {', '.join(missing)} (apt-get install ...)")


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


class HttpConnection:
    """One persistent HTTP/1.1 connection that sends a request and reads its answer.

    A load generator for JSON APIs and nothing more (Content-Length bodies, no chunking, no
    TLS). httpx spends about as much CPU per request as the server under test, so on a small
    machine it, rather than the server, would set the pace of a throughput benchmark.
    """

    def __init__(self, base_url: str) -> None:
        parsed = urlparse(base_url)
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> HttpConnection:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.writer is not None:
            self.writer.close()

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None, "use `async with`"
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        status = int((await self.reader.readuntil(b"\r\n")).split()[1])
        length = 0
        while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
            elif name.strip().lower() == b"transfer-encoding":
                raise RuntimeError("chunked answers are not supported")
        return status, await self.reader.readexactly(length)


@contextlib.asynccontextmanager
async def scratch_database(prefix: str) -> AsyncIterator[str]:
    """A new, empty PostgreSQL database for one run (its name), dropped afterwards."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    await pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def scratch_database_sync(prefix: str) -> Iterator[str]:
    """`scratch_database` for code that runs no event loop of its own."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def pgbench_tps(seconds: float, *, clients: int, scale: int) -> float:
    """The database's own ceiling: `pgbench -b tpcb-like` on a scratch database of this scale
    (synchronous: it blocks for `seconds`)."""
    parsed = urlparse(PG_URL)
    conn = ["-h", parsed.hostname or "127.0.0.1", "-p", str(parsed.port or 5432)]
    conn += ["-U", parsed.username or "postgres"]
    with scratch_database_sync("bench_pgbench") as name:
        subprocess.run(
            ["pgbench", *conn, "-i", "-q", "-s", str(scale), name], check=True, capture_output=True
        )
        run = ["pgbench", *conn, "-b", "tpcb-like", "-c", str(clients), "-j", "2", "-n"]
        out = subprocess.run(
            [*run, "-T", str(int(seconds)), name], check=True, capture_output=True, text=True
        ).stdout
    match = re.search(r"tps = ([\d.]+)", out)
    assert match, out
    return float(match.group(1))
