"""Risk scans: what the API adds over calling the AI service directly, and its memory under
large uploads.

    .venv/bin/python bench/bench_riskscan.py [--quick]

What it does, on a scratch SQLite database, with both services started here on loopback:

1. starts `tessera ai-service` and `tessera serve` (pointed at it), registers a user;
2. added latency: the p50 of `POST /api/scan` with a short text, minus the p50 of the same
   text posted to the AI service's `/scan` directly (the ceiling); target <= 5 ms;
3. scans per second with a 10 MB PDF (one text page and a large incompressible image),
   through the API and directly, and their ratio;
4. peak RSS of the API process while 10 clients upload a 10 MB PDF each at once, above its
   resting RSS, as a share of the 100 MB those uploads weigh (a copy of each in memory would
   be 1.0 or more).

Results are printed and saved to bench/results/riskscan.json.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
from fpdf import FPDF
from PIL import Image
from support import free_port, start_server

from tessera.core.db.migrate import upgrade

SECRET = "bench-secret-key-that-is-long-enough-0123456789"
RESULTS = Path(__file__).parent / "results"
PASSWORD = "bench-password-long-enough-42"
TEXT = "The contractor has unlimited liability for all damages. Payment is due in 120 days."
MB = 1_000_000


def start_ai_service() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tessera", "ai-service", "--port", str(port)],
        env={**os.environ, "TESSERA_AI_LOG_LEVEL": "WARNING", "TESSERA_AI_MAX_BYTES": "20000000"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx2.get(f"{base}/", timeout=1).status_code == 200:
                return proc, base
        except httpx2.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("AI service did not start")


def big_pdf(size: int) -> bytes:
    """One page with a text layer and an image of random pixels (no OCR, little to parse)."""
    side = int((size / 3) ** 0.5)
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    png = io.BytesIO()
    image.save(png, format="PNG", compress_level=1)
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(0, 8, TEXT)
    pdf.image(io.BytesIO(png.getvalue()), x=10, y=40, w=100)
    return bytes(pdf.output())


def pin(api_pid: int, ai_pid: int) -> bool:
    """The API on its own core; the AI service and this client share the other, so that the
    API's added latency is not the time it waits for a core."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return False
    os.sched_setaffinity(api_pid, {cpus[1]})
    os.sched_setaffinity(ai_pid, {cpus[0]})
    os.sched_setaffinity(0, {cpus[0]})
    return True


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def p50_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def timed_posts(
    client: httpx2.AsyncClient, url: str, count: int, **kwargs: Any
) -> list[float]:
    samples = []
    for n in range(count):
        files = {"text": (None, f"{TEXT} ({n})"), "force_llm": (None, "false")}
        started = time.perf_counter()
        reply = await client.post(url, files=files, **kwargs)
        samples.append(time.perf_counter() - started)
        assert reply.status_code in (200, 201), reply.text
    return samples


async def scans_per_second(
    client: httpx2.AsyncClient, url: str, pdf: bytes, count: int, **kwargs: Any
) -> float:
    started = time.perf_counter()
    for n in range(count):
        files: dict[str, Any] = {
            "file": (f"big{n}.pdf", pdf, "application/pdf"),
            "force_llm": (None, "true"),  # no reuse of the stored result
        }
        reply = await client.post(url, files=files, timeout=120, **kwargs)
        assert reply.status_code in (200, 201), reply.text[:300]
    return count / (time.perf_counter() - started)


async def run(quick: bool) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-riskscan-"))
    url = f"sqlite+aiosqlite:///{work / 'bench.db'}"
    await asyncio.to_thread(upgrade, url)  # Alembic runs its own event loop
    ai_proc, ai_url = start_ai_service()
    env = {
        **os.environ,
        "TESSERA_ENV": "test",
        "TESSERA_DATABASE_URL": url,
        "TESSERA_SECRET_KEY": SECRET,
        "TESSERA_SCHEDULER": "off",
        "TESSERA_DATA_DIR": str(work),
        "TESSERA_LOG_LEVEL": "WARNING",
        "TESSERA_PASSWORD_HASH_FAST": "true",
        "AI_SERVICE_URL": ai_url,
        "TESSERA_RISKSCAN_SCAN_RATE": "1000000/minute",
        "TESSERA_RISKSCAN_MAX_IN_FLIGHT": "50",
        "TESSERA_RISKSCAN_QUEUE_WORKERS": "0",
    }
    api_proc, api_url = start_server(env)
    pinned = pin(api_proc.pid, ai_proc.pid)
    try:
        async with httpx2.AsyncClient(timeout=60) as client:
            await client.post(
                f"{api_url}/auth/register", json={"email": "b@example.com", "password": PASSWORD}
            )
            login = await client.post(
                f"{api_url}/auth/login", json={"email": "b@example.com", "password": PASSWORD}
            )
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            count = 40 if quick else 200
            await timed_posts(client, f"{ai_url}/scan", 10)  # warm up both
            await timed_posts(client, f"{api_url}/api/scan", 10, headers=headers)
            direct = await timed_posts(client, f"{ai_url}/scan", count)
            via_api = await timed_posts(client, f"{api_url}/api/scan", count, headers=headers)

            pdf = big_pdf(10 * MB)
            rounds = 3 if quick else 8
            direct_rate = await scans_per_second(client, f"{ai_url}/scan", pdf, rounds)
            api_rate = await scans_per_second(
                client, f"{api_url}/api/scan", pdf, rounds, headers=headers
            )

            resting = rss_kib(api_proc.pid, "VmRSS")
            peak_before = rss_kib(api_proc.pid, "VmHWM")

            async def upload(n: int) -> int:
                files: dict[str, Any] = {
                    "file": (f"p{n}.pdf", pdf, "application/pdf"),
                    "force_llm": (None, "1"),
                }
                reply = await client.post(
                    f"{api_url}/api/scan", files=files, headers=headers, timeout=180
                )
                return reply.status_code

            statuses = await asyncio.gather(*(upload(n) for n in range(10)))
            peak = rss_kib(api_proc.pid, "VmHWM")
    finally:
        for proc in (api_proc, ai_proc):
            proc.terminate()
            proc.wait(10)
    added = p50_ms(via_api) - p50_ms(direct)
    grown = max(peak, peak_before) - resting
    return {
        "when": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "engine": "sqlite",
        "api_pinned_to_own_core": pinned,
        "latency": {
            "samples": count,
            "direct_p50_ms": round(p50_ms(direct), 2),
            "api_p50_ms": round(p50_ms(via_api), 2),
            "added_p50_ms": round(added, 2),
            "target_added_ms": 5.0,
            "ratio_direct_to_api": round(p50_ms(direct) / p50_ms(via_api), 3),
        },
        "pdf_10mb": {
            "bytes": len(pdf),
            "rounds": rounds,
            "direct_scans_per_s": round(direct_rate, 2),
            "api_scans_per_s": round(api_rate, 2),
            "ratio_api_to_direct": round(api_rate / direct_rate, 3),
        },
        "parallel_uploads": {
            "clients": 10,
            "statuses": sorted(statuses),
            "resting_rss_mib": round(resting / 1024, 1),
            "peak_rss_mib": round(max(peak, peak_before) / 1024, 1),
            "growth_mib": round(grown / 1024, 1),
            "growth_share_of_uploads": round(grown * 1024 / (10 * len(pdf)), 3),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    result = asyncio.run(run(parser.parse_args().quick))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "riskscan.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
