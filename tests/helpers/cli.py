"""`tessera …` as a real process, the way an operator runs it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Mapping


async def run_tessera(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the CLI with only `env` (plus PATH and a quiet log level) in its environment."""
    full_env = {"PATH": "/usr/bin:/bin", "TESSERA_LOG_LEVEL": "ERROR", **env}
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "tessera", *args],
        env=full_env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def database_env(database_url: str) -> dict[str, str]:
    return {"TESSERA_DATABASE_URL": database_url}
