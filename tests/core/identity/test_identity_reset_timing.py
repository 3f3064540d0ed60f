"""A password-reset request takes the same time whether or not the e-mail has an account:
the request does the same statements on both paths, and the link is made and mailed after
the response, outside it."""

from __future__ import annotations

import re
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
import pytest
from sqlalchemy import event, func, select

from tessera.core.identity.models import PasswordResetToken
from tessera.core.identity.reset_links import reset_links_of
from tessera.core.identity.state import state_of
from tests.core.identity.conftest import AppFactory
from tests.helpers.identity import register_and_login

UNLIMITED = {"password_reset_ip_limit": "100000/hour", "password_reset_account_limit": "1000/hour"}


@contextmanager
def statements(runtime: Any) -> Iterator[list[str]]:
    """The SQL the database receives inside the block, with values and ids left out."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(re.sub(r"\s+", " ", statement).strip())

    engine = runtime.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def reset(client: httpx2.AsyncClient, email: str) -> None:
    response = await client.post("/auth/password-reset/request", json={"email": email})
    assert response.status_code == 202


async def test_known_and_unknown_addresses_run_the_same_statements(
    app_with: AppFactory,
) -> None:
    async with app_with(**UNLIMITED) as (app, client):
        runtime = app.state.runtime
        user = await register_and_login(client)
        links = reset_links_of(runtime, state_of(runtime))
        await reset(client, user.email)  # warm both paths (caches, prepared statements)
        await reset(client, "nobody@example.com")
        await links.drain()
        with statements(runtime) as known:
            await reset(client, user.email)
        await links.drain()  # the link is made after the response, in its own transaction
        with statements(runtime) as unknown:
            await reset(client, f"ghost-{uuid.uuid4().hex[:8]}@example.com")
        await links.drain()
        assert known == unknown
        assert not any("password_reset_tokens" in sql for sql in known)
        async with runtime.db.session(write=False) as session:
            tokens = await session.scalar(select(func.count()).select_from(PasswordResetToken))
        assert tokens == 2  # one link per request for the known address, made afterwards


@pytest.mark.slow
async def test_known_and_unknown_addresses_take_the_same_time(app_with: AppFactory) -> None:
    """≥ 200 requests each, interleaved so that load on the machine hits both alike."""
    async with app_with(**UNLIMITED) as (app, client):
        runtime = app.state.runtime
        user = await register_and_login(client)
        links = reset_links_of(runtime, state_of(runtime))
        timings: dict[str, list[float]] = {"known": [], "unknown": []}

        async def timed(kind: str, email: str) -> None:
            started = time.perf_counter()
            await reset(client, email)
            timings[kind].append(time.perf_counter() - started)
            await links.drain()  # outside the timing: the work a request no longer waits for

        for _ in range(20):  # warm-up, not measured
            await reset(client, user.email)
            await links.drain()
        for i in range(220):
            ghost = f"ghost-{i}-{uuid.uuid4().hex[:6]}@example.com"
            order = [("known", user.email), ("unknown", ghost)]
            for kind, email in order if i % 2 else reversed(order):
                await timed(kind, email)
    known = statistics.median(timings["known"])
    unknown = statistics.median(timings["unknown"])
    # Noise: how far the medians of two halves of the same kind of request lie apart.
    halves = [statistics.median(timings["unknown"][k::2]) for k in (0, 1)]
    noise = abs(halves[0] - halves[1])
    assert abs(known - unknown) <= max(3 * noise, 0.05 * unknown), (known, unknown, noise)
