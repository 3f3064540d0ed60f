"""Swagger UI and ReDoc render in a real browser with every asset served by the service."""

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=8000",
]


def rendered_dom(url: str, profile: Path) -> str:
    result = subprocess.run(
        [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
@pytest.mark.parametrize("engine", ["sqlite"])
async def test_docs_render_offline(live_server: str, tmp_path: Path) -> None:
    swagger = await asyncio.to_thread(rendered_dom, f"{live_server}/docs", tmp_path / "a")
    assert 'class="swagger-ui' in swagger and "opblock-tag" in swagger  # the UI built itself
    assert "/healthz" in swagger
    redoc = await asyncio.to_thread(rendered_dom, f"{live_server}/redoc", tmp_path / "b")
    assert "/readyz" in redoc and "api-content" in redoc
