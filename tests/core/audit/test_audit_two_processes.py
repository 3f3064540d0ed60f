"""Two API processes on one PostgreSQL database, each running its own sequencer loop, take
hundreds of audited writes at once: every committed row lands in the log exactly once, no
rolled-back one does, and the proofs they serve check out with an independent verifier."""

from __future__ import annotations

import asyncio
import random
import time
from contextlib import ExitStack
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import func, select, update

from tessera.core.audit.models import AuditLog, AuditTreeHead
from tessera.core.audit.sequencer import create_signing_key
from tessera.core.db.engine import Database
from tessera.core.identity.models import User
from tests.conftest import make_settings
from tests.helpers.cli import run_tessera
from tests.helpers.server import serve

from . import rfc9162
from .test_audit_log import cli_env, rolled_back_rows, unhex

DEPOSITS_PER_SERVER = 150


async def funded_user(client: httpx2.AsyncClient) -> dict[str, str]:
    email = f"audit-{random.randrange(10**12)}@example.com"
    password = "correct-horse-battery-staple-42"
    registered = await client.post("/auth/register", json={"email": email, "password": password})
    assert registered.status_code == 201, registered.text
    tokens = (await client.post("/auth/login", json={"email": email, "password": password})).json()
    return {"Authorization": f"Bearer {tokens['access_token']}", "id": registered.json()["id"]}


async def deposits(client: httpx2.AsyncClient, headers: dict[str, str], count: int) -> int:
    auth = {"Authorization": headers["Authorization"]}

    async def one() -> int:
        answer = await client.post(
            "/api/v1/wallet/deposit", json={"amount_usd": "0.01"}, headers=auth
        )
        return answer.status_code

    codes = await asyncio.gather(*(one() for _ in range(count)))
    assert set(codes) == {200}, codes
    return len(codes)


@pytest.mark.parametrize(
    "engine", [pytest.param("postgresql", marks=pytest.mark.pg)], indirect=True
)
async def test_two_api_processes_sequence_every_committed_row_exactly_once(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        database_url,
        tmp_path,
        scheduler="inprocess",
        audit_sequencer_interval_seconds=0.2,
        register_ip_limit="1000/hour",
    )
    db = Database(database_url)
    await create_signing_key(db, settings)
    with ExitStack() as stack:
        bases = [stack.enter_context(serve(settings, tmp_path / f"server{i}.log")) for i in (0, 1)]
        limits = httpx2.Limits(max_connections=16)
        clients = [httpx2.AsyncClient(base_url=b, timeout=60, limits=limits) for b in bases]
        users = [await funded_user(client) for client in clients]
        moved = await asyncio.gather(
            *(deposits(c, u, DEPOSITS_PER_SERVER) for c, u in zip(clients, users, strict=True)),
            *(rolled_back_rows(db, 5) for _ in range(4)),
        )
        assert sum(m for m in moved if m) == 2 * DEPOSITS_PER_SERVER

        # Both sequencers run; within the merge delay everything is in a signed tree head.
        deadline = time.monotonic() + settings.audit_max_merge_delay_seconds + 5
        while True:
            async with db.session(write=False) as session:
                total = await session.scalar(select(func.count()).select_from(AuditLog))
                head = await session.scalar(
                    select(AuditTreeHead).order_by(AuditTreeHead.tree_size.desc()).limit(1)
                )
            if head is not None and head.tree_size == total:
                break
            assert time.monotonic() < deadline, (total, head and head.tree_size)
            await asyncio.sleep(0.2)
        async with db.session(write=False) as session:
            rows = list(await session.scalars(select(AuditLog).order_by(AuditLog.log_index)))
            heads = list(await session.scalars(select(AuditTreeHead)))
        async with db.session() as session:
            await session.execute(
                update(User).where(User.id == users[0]["id"]).values(is_admin=True)
            )
        assert [row.log_index for row in rows] == list(range(len(rows)))
        actions = [row.action for row in rows]
        assert actions.count("ledger.transfer") == 2 * DEPOSITS_PER_SERVER
        assert "test.rolled_back" not in actions
        assert len(heads) > 1
        verified = await run_tessera("audit", "verify", env=cli_env(database_url))
        assert verified.returncode == 0, verified.stderr
        assert f"intact: {len(rows)} rows" in verified.stdout

        # The proofs either process serves check out against the latest signed head.
        admin = {"Authorization": users[0]["Authorization"]}
        latest = (await clients[1].get("/admin/audit/tree-head", headers=admin)).json()
        root = bytes.fromhex(latest["root_hash"])
        for row in random.sample(rows, 20):
            proof = (
                await clients[1].get(
                    "/admin/audit/proofs/inclusion", params={"audit_id": row.id}, headers=admin
                )
            ).json()
            assert rfc9162.verify_inclusion(
                bytes.fromhex(proof["leaf_hash"]),
                row.log_index,
                latest["tree_size"],
                unhex(proof["audit_path"]),
                root,
            )
        older = min(heads, key=lambda h: h.tree_size)
        proof = (
            await clients[0].get(
                "/admin/audit/proofs/consistency", params={"first": older.tree_size}, headers=admin
            )
        ).json()
        assert rfc9162.verify_consistency(
            older.tree_size,
            latest["tree_size"],
            bytes.fromhex(older.root_hash),
            root,
            unhex(proof["consistency_path"]),
        )
        for client in clients:
            await client.aclose()
    await db.dispose()
