"""A burst of logins with real argon2id hashing holds no database connection while it hashes,
so on PostgreSQL with the default pool every other endpoint keeps answering meanwhile.

Were a connection held across the hash, the logins queued on the two hashing slots would each
park one "idle in transaction" until the pool (10 + 20 overflow) is empty, and every other
request would wait for a connection until it times out with a 503."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import asyncpg
import httpx2
import pytest

from tessera.core.db.engine import Database
from tessera.core.identity.models import User
from tessera.core.identity.passwords import PasswordHasher
from tests.conftest import make_settings
from tests.helpers.server import serve

LOGINS = 120
PASSWORD = "correct-horse-battery-staple-42"


@pytest.mark.parametrize(
    "engine", [pytest.param("postgresql", marks=pytest.mark.pg)], indirect=True
)
async def test_a_login_burst_leaves_the_pool_to_everyone_else(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        database_url,
        tmp_path,
        password_hash_fast=False,  # OWASP argon2id: ~30 ms of CPU per login
        login_ip_limit="10000/hour",
        login_account_limit="10000/hour",
        register_ip_limit="10000/hour",
    )
    hashed = await PasswordHasher().hash(PASSWORD)  # one real hash, shared by every account
    db = Database(database_url)
    emails = [f"burst-{uuid.uuid4().hex[:12]}@example.com" for _ in range(LOGINS)]
    async with db.session() as session:
        session.add_all(User(email=email, hashed_password=hashed) for email in emails)
    await db.dispose()

    with serve(settings, tmp_path / "server.log") as base:
        limits = httpx2.Limits(max_connections=LOGINS + 20)
        async with httpx2.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
            first = await client.post(
                "/auth/login", json={"email": emails[0], "password": PASSWORD}
            )
            me_headers = {"Authorization": f"Bearer {first.json()['access_token']}"}
            done = asyncio.Event()
            me_statuses: list[int] = []

            async def keep_asking() -> None:
                while not done.is_set():
                    me_statuses.append(
                        (await client.get("/auth/me", headers=me_headers)).status_code
                    )

            async def login(email: str) -> int:
                answer = await client.post(
                    "/auth/login", json={"email": email, "password": PASSWORD}
                )
                return answer.status_code

            peak = 0

            async def watch_connections() -> None:
                nonlocal peak
                probe = await asyncpg_connect(database_url)
                try:
                    while not done.is_set():
                        parked = await probe.fetchval(
                            "SELECT count(*) FROM pg_stat_activity"
                            " WHERE datname = current_database() AND state = 'idle in transaction'"
                            "   AND state_change < now() - interval '500 milliseconds'"
                        )
                        peak = max(peak, int(parked))
                        await asyncio.sleep(0.01)
                finally:
                    await probe.close()

            askers = [asyncio.create_task(keep_asking()) for _ in range(8)]
            watcher = asyncio.create_task(watch_connections())
            started = time.monotonic()
            statuses = await asyncio.gather(*(login(email) for email in emails))
            elapsed = time.monotonic() - started
            done.set()
            await asyncio.gather(*askers, watcher)
    assert statuses.count(200) == LOGINS, sorted(set(statuses))
    assert me_statuses and set(me_statuses) == {200}, sorted(set(me_statuses))
    assert elapsed < 60  # the burst is CPU-bound, never stuck on the pool
    # No connection sits in an open transaction for half a second (a login waiting for its
    # turn to hash would, for seconds); the old code parked all 30 of the pool's.
    assert peak < 5, peak


async def asyncpg_connect(database_url: str) -> asyncpg.Connection:
    return await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
