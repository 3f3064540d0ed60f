"""Real server processes for tests: `tessera serve` (the `live_server` fixture, or other
settings, or two processes on one database) and any other `tessera` command that serves."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx2

from tessera.core.config import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def tessera_process(
    args: list[str],
    port: int,
    env: Mapping[str, str],
    log_path: Path,
    *,
    ready_path: str = "/healthz",
    start_seconds: float = 30,
) -> Iterator[str]:
    """`tessera *args` listening on `port`, once `ready_path` answers 200; yields its base URL.
    Its output goes to a file, not a pipe, so a chatty server never blocks."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tessera", *args],
            env=dict(env),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + start_seconds
        while time.monotonic() < deadline:
            try:
                if httpx2.get(f"{base}{ready_path}", timeout=1).status_code == 200:
                    break
            except httpx2.HTTPError:
                time.sleep(0.1)
        else:
            proc.kill()
            raise RuntimeError(f"{args[0]} did not start: {log_path.read_text()[-2000:]}")
        try:
            yield base
        finally:
            proc.terminate()
            proc.wait(10)


@contextmanager
def serve(settings: Settings, log_path: Path) -> Iterator[str]:
    """`tessera serve` with exactly `settings`; yields its base URL."""
    from tests.conftest import settings_env

    port = free_port()
    env = {**os.environ, **settings_env(settings)}
    with tessera_process(["serve", "--port", str(port)], port, env, log_path) as base:
        yield base
