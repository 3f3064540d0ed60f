"""A Redis that accepts connections and never answers (a black hole, not a refused port):
requests still answer within the Redis timeouts, session and API-key checks use the database,
login and token minting stay limited, and revocations refuse rather than pretend."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from tessera.modules.tokens.config import TokensSettings
from tests.core.identity.conftest import AppFactory
from tests.helpers.identity import make_api_key, register_and_login

ANSWER_WITHIN_SECONDS = 5.0  # a hang is what this guards against, not a speed target


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A Redis URL whose server accepts every connection and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            held.append(conn)  # kept open, never read, never answered

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    server.close()


async def answered(request: Any) -> httpx2.Response:
    response: httpx2.Response = await asyncio.wait_for(request, ANSWER_WITHIN_SECONDS)
    return response


async def test_a_black_hole_redis_never_hangs_a_request(
    app_with: AppFactory, black_hole: str
) -> None:
    limits: dict[str, Any] = {
        "login_account_limit": "3/minute",
        "redis_timeout_seconds": 0.5,  # the production defaults (the harness is more patient)
        "redis_connect_timeout_seconds": 0.5,
        "module_settings": [TokensSettings(sign_rate="2/minute")],
    }
    async with app_with(redis_url=black_hole, **limits) as (app, client):
        runtime = app.state.runtime
        started = time.monotonic()
        user = await register_and_login(client)  # register and login: rate-limited routes
        me = await answered(client.get("/auth/me", headers=user.headers))
        assert me.status_code == 200 and me.json()["id"] == user.id  # checked in the database
        kiosk = await make_api_key(runtime, "kiosk")
        receipt = await answered(
            client.post(
                "/v1/verify_receipt",
                json={"payment_provider": "test", "provider_receipt_id": "r-1"},
                headers=kiosk,
            )
        )
        assert receipt.status_code == 201, receipt.text  # the API key, checked in the database
        assert (await answered(client.get("/healthz"))).status_code == 200
        ready = await answered(client.get("/readyz"))
        assert ready.status_code == 503 and ready.json()["checks"]["redis"] == "unreachable"

        # Limits still hold, counted in the process: never unlimited.
        wrong = {"email": user.email, "password": "not-the-password-1"}
        statuses = [
            (await answered(client.post("/auth/login", json=wrong))).status_code for _ in range(4)
        ]
        assert statuses[-1] == 429, statuses
        signs = [
            await answered(
                client.post(
                    "/v1/sign_blinded",
                    json={"receipt_id": receipt.json()["receipt_id"], "blinded_token": "AAAA"},
                    headers=kiosk,
                )
            )
            for _ in range(3)
        ]
        assert signs[-1].status_code == 429, [s.text for s in signs]
        assert "Retry-After" in signs[-1].headers

        # A session that cannot be tombstoned is not reported as ended.
        logout = await answered(client.post("/auth/logout", headers=user.headers))
        assert logout.status_code == 503
        assert (await answered(client.get("/auth/me", headers=user.headers))).status_code == 200
        elapsed = time.monotonic() - started
    assert elapsed < 30, elapsed  # a dozen requests, each paying at most a timeout or two
