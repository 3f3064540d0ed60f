"""Signing in with an OpenID provider in headless Chromium, the way seed 003's web client does:
a top-level navigation to /api/auth/google, the provider's own sign-in page, the way back
through the callback, and a page on another port of `localhost` (the frontend) that reads
`/api/auth/me` and logs out cross-origin with `credentials: "include"` and no CSRF header."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tessera.core.config import Settings
from tests.conftest import make_settings, settings_env
from tests.helpers.oidc import CLIENT_ID, CLIENT_SECRET, OpenIdProvider
from tests.helpers.server import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

PAGE = """<!doctype html>
<html><body>
<p id="who">loading</p><p id="after">-</p>
<script>
const api = "{api}";
async function run() {{
  const params = new URLSearchParams(location.search);
  if (params.get("error")) {{
    document.getElementById("who").textContent = "error:" + params.get("error");
    return;
  }}
  const me = await fetch(api + "/api/auth/me", {{credentials: "include"}});
  const body = await me.json();
  document.getElementById("who").textContent = me.status + ":" + body.email;
  const out = await fetch(api + "/api/auth/logout", {{method: "POST", credentials: "include"}});
  const again = await fetch(api + "/api/auth/me", {{credentials: "include"}});
  document.getElementById("after").textContent = out.status + "," + again.status;
}}
run();
</script>
</body></html>
"""


@contextlib.contextmanager
def frontend(port: int, api: str) -> Iterator[str]:
    page = PAGE.format(api=api).encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://localhost:{port}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def serve(settings: Settings, port: int) -> Iterator[str]:
    env = {**os.environ, **settings_env(settings)}
    log_path = settings.data_dir / "browser_server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tessera", "serve", "--port", str(port)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        base = f"http://localhost:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx2.HTTPError):
                if httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            proc.kill()
            raise RuntimeError(log_path.read_text()[-2000:])
        try:
            yield base
        finally:
            proc.terminate()
            proc.wait(10)


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
@pytest.mark.parametrize("engine", ["sqlite"])
async def test_google_sign_in_lands_on_the_frontend_with_a_working_cookie(
    database_url: str, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    api_port, frontend_port = free_port(), free_port()
    api, web = f"http://localhost:{api_port}", f"http://localhost:{frontend_port}"
    with OpenIdProvider.start() as provider:
        provider.add_user("kid-1", email="kid@example.com", email_verified=True, name="Kid")
        settings = make_settings(
            database_url,
            tmp_path,
            google_client_id=CLIENT_ID,
            google_client_secret=CLIENT_SECRET,
            oidc_google_issuer=provider.issuer,
            oidc_allow_signup=True,
            public_url=api,
            frontend_url=web,
            cors_origins=[web],
        )
        with serve(settings, api_port), frontend(frontend_port, api):
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
                )
                try:
                    page = await browser.new_page()
                    await page.goto(f"{api}/api/auth/google")
                    # The provider's own sign-in page: a person types who they are.
                    await page.fill("input[name=sub]", "kid-1")
                    await page.click("button[type=submit]:not([name])")
                    await page.wait_for_url(f"{web}/**")
                    await page.wait_for_function(
                        "document.getElementById('after').textContent !== '-'"
                    )
                    who = await page.inner_text("#who")
                    after = await page.inner_text("#after")
                    cookies = {c["name"]: c for c in await page.context.cookies(api)}
                finally:
                    await browser.close()
    assert who == "200:kid@example.com"
    assert after == "200,401"  # logged out cross-origin; the cookie no longer works
    assert "tessera_access" not in cookies and "tessera_refresh" not in cookies
