"""A real API server process for tests that need more than the `live_server` fixture: other
settings, or two processes on one database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2

from tessera.core.config import Settings
from tests.conftest import free_port, settings_env


@contextmanager
def serve(settings: Settings, log_path: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, **settings_env(settings)}
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tessera", "serve", "--port", str(port)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx2.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx2.HTTPError:
                time.sleep(0.1)
        else:
            proc.kill()
            raise RuntimeError(f"server did not start: {log_path.read_text()[-2000:]}")
        try:
            yield base
        finally:
            proc.terminate()
            proc.wait(10)
