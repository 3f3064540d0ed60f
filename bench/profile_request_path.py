"""CPU per request of the app itself, without the HTTP server or the network, and a profile.

    .venv/bin/python bench/profile_request_path.py [--requests 4000] [--profile out.txt]

Builds the real app on PostgreSQL + Redis (a scratch database), signs a user in, then calls
the ASGI app directly with `--concurrency` requests in flight and reports the process CPU time
per request for `GET /healthz` and `GET /auth/me`. CPU time, unlike requests per second, hardly
moves when other processes share the machine, so before/after figures of one change can be
compared across runs. With `--profile`, `/auth/me` runs again under cProfile and the
functions with the most cumulative and own time are written to the file.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from asgi_lifespan import LifespanManager
from support import pg_database_url, scratch_database_sync

from tessera.app import create_app
from tessera.core.config import Settings
from tessera.core.db.migrate import upgrade

REDIS_URL = os.environ.get("TESSERA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PASSWORD = "correct-horse-battery-staple-42"


async def call(
    app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def drive(app: Any, path: str, headers: list[tuple[bytes, bytes]], n: int, c: int) -> float:
    """CPU microseconds per request over n requests, c at a time."""
    remaining = n

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            status, body = await call(app, "GET", path, headers)
            assert status == 200, (status, body)

    started = time.process_time()
    await asyncio.gather(*(worker() for _ in range(c)))
    return (time.process_time() - started) / n * 1e6


def _package(filename: str) -> str:
    """`sqlalchemy/orm`, `tessera/core/identity`, `asyncio` … for a code file name."""
    parts = Path(filename).parts
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages") + 1 :]
    elif "src" in parts:
        parts = parts[parts.index("src") + 1 :]
    elif "python3.11" in parts:
        parts = parts[parts.index("python3.11") + 1 :]
    return "/".join(parts[:-1][:3]) or filename


async def run(args: argparse.Namespace, url: str, data_dir: Path) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        env="test",
        database_url=url,
        redis_url=REDIS_URL,
        redis_prefix=f"bench-{secrets.token_hex(4)}",
        secret_key="bench-secret-key-that-is-long-enough-0123456789",
        scheduler="off",
        data_dir=data_dir,
        log_level="INFO",
        password_hash_fast=True,
    )
    app = create_app(settings)
    async with LifespanManager(app):
        json_type = [(b"content-type", b"application/json")]
        credentials = orjson.dumps({"email": "profile@example.com", "password": PASSWORD})
        status, _ = await call(app, "POST", "/auth/register", json_type, credentials)
        assert status == 201, status
        status, body = await call(app, "POST", "/auth/login", json_type, credentials)
        assert status == 200, body
        token = orjson.loads(body)["access_token"]
        bearer = [(b"authorization", f"Bearer {token}".encode())]
        out = io.StringIO()
        for path, headers in (("/healthz", []), ("/auth/me", bearer)):
            await drive(app, path, headers, args.requests // 4, args.concurrency)  # warm-up
            figures = [
                await drive(app, path, headers, args.requests, args.concurrency) for _ in range(3)
            ]
            # Counts, unlike times, do not depend on what else the machine is doing.
            profiler = cProfile.Profile()
            profiler.enable()
            await drive(app, path, headers, args.requests, args.concurrency)
            profiler.disable()
            stats = pstats.Stats(profiler, stream=out)
            calls = stats.total_calls / args.requests  # type: ignore[attr-defined]
            sends = sum(
                entry[1]
                for func, entry in stats.stats.items()  # type: ignore[attr-defined]
                if func[2] == "<method 'send' of '_socket.socket' objects>"
            )
            print(
                f"{path:10} {min(figures):7.1f} us CPU per request (best of 3), "
                f"{calls:6.0f} Python calls, {sends / args.requests:.1f} sends to PG/Redis"
            )
            out.write(f"===== {path}: per request, by package: Python calls, own time (us)\n")
            by_package: dict[str, list[float]] = {}
            for func, entry in stats.stats.items():  # type: ignore[attr-defined]
                figures = by_package.setdefault(_package(func[0]), [0.0, 0.0])
                figures[0] += entry[1] / args.requests
                figures[1] += entry[2] / args.requests * 1e6
            for package, (count, own) in sorted(by_package.items(), key=lambda kv: -kv[1][1])[:30]:
                out.write(f"{count:8.1f} {own:8.1f}  {package}\n")
            stats.sort_stats("cumulative").print_stats(60)
            stats.sort_stats("tottime").print_stats(40)
        if args.profile:
            Path(args.profile).write_text(out.getvalue())
            print(f"profile written to {args.profile}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--profile", help="write a cProfile summary of /auth/me here")
    args = parser.parse_args()
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - the access log, written and discarded
    from tessera.core.logging import configure_logging

    configure_logging("INFO")
    with scratch_database_sync("bench_profile") as name, tempfile.TemporaryDirectory() as tmp:
        url = pg_database_url(name)
        upgrade(url, "head")
        asyncio.run(run(args, url, Path(tmp)))


if __name__ == "__main__":
    main()
