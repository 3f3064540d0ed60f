"""`Idempotency-Key` on an endpoint that hands its connection back for slow work and writes
its effects in a new transaction (`release_connection`, then `IdempotencyGuard.claim`), on
both engines: still executed once, duplicates get 409 or the replay, and an endpoint that
forgets to claim again writes nothing."""

import asyncio
from datetime import timedelta
from typing import Any

import httpx2
import pytest
from asgi_lifespan import LifespanManager
from fastapi import Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import func, select, update

from tessera.app import create_app
from tessera.core.audit import record
from tessera.core.audit.models import AuditLog
from tessera.core.db import DbSession
from tessera.core.db.base import utcnow
from tessera.core.db.session import release_connection
from tessera.core.idempotency import Idempotency
from tessera.core.idempotency.models import IdempotencyKey


class Payment(BaseModel):
    amount: int


def authenticate(request: Request) -> str:
    """Stands in for the identity dependencies, which set the caller the same way."""
    request.state.principal = "user:alice"
    return "user:alice"


@pytest.fixture
async def http(settings: Any) -> Any:
    app = create_app(settings)

    @app.post("/probe/slow", status_code=201)
    async def slow(
        body: Payment, session: DbSession, caller: str = Depends(authenticate), *, idem: Idempotency
    ) -> Response:
        await release_connection(session)  # no transaction and no connection from here …
        await asyncio.sleep(0.05)  # … while the slow work runs (parallel duplicates overlap)
        await idem.claim()
        row = await record(session, "probe.slow", actor_type="system", details={"by": caller})
        return await idem.respond({"id": row.id, "amount": body.amount}, status_code=201)

    @app.post("/probe/forgetful", status_code=201)
    async def forgetful(
        body: Payment, session: DbSession, caller: str = Depends(authenticate), *, idem: Idempotency
    ) -> Response:
        await release_connection(session)
        row = await record(session, "probe.slow", actor_type="system", details={"by": caller})
        return await idem.respond({"id": row.id}, status_code=201)  # never claimed again

    async with LifespanManager(app):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://t") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


async def executions(http: Any) -> int:
    async with http.app.state.runtime.db.session(write=False) as session:
        query = select(func.count()).where(AuditLog.action == "probe.slow")
        return int(await session.scalar(query) or 0)


async def test_fifty_parallel_duplicates_of_a_releasing_endpoint_execute_once(http: Any) -> None:
    headers = {"Idempotency-Key": "slow-1"}
    responses = await asyncio.gather(
        *(http.post("/probe/slow", json={"amount": 7}, headers=headers) for _ in range(50))
    )
    statuses = [r.status_code for r in responses]
    assert all(status in (201, 409) for status in statuses), statuses
    assert len({r.content for r in responses if r.status_code == 201}) == 1
    assert {r.json()["error"] for r in responses if r.status_code == 409} <= {
        "idempotency_in_flight"
    }
    assert await executions(http) == 1
    again = await http.post("/probe/slow", json={"amount": 7}, headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    changed = await http.post("/probe/slow", json={"amount": 8}, headers=headers)
    assert changed.status_code == 422 and changed.json()["error"] == "idempotency_key_reused"
    assert await executions(http) == 1


async def test_an_expired_key_purged_before_the_release_runs_anew(http: Any) -> None:
    headers = {"Idempotency-Key": "slow-2"}
    first = await http.post("/probe/slow", json={"amount": 5}, headers=headers)
    async with http.app.state.runtime.db.session() as session:
        await session.execute(
            update(IdempotencyKey).values(created_at=utcnow() - timedelta(hours=25))
        )
    later = await http.post("/probe/slow", json={"amount": 5}, headers=headers)
    assert later.status_code == 201 and later.json() != first.json()
    assert "Idempotent-Replayed" not in later.headers
    replay = await http.post("/probe/slow", json={"amount": 5}, headers=headers)
    assert replay.content == later.content
    assert await executions(http) == 2


async def test_an_endpoint_that_does_not_claim_again_writes_nothing(http: Any) -> None:
    headers = {"Idempotency-Key": "slow-3"}
    response = await http.post("/probe/forgetful", json={"amount": 5}, headers=headers)
    assert response.status_code == 500  # a programming error, refused before anything commits
    assert await executions(http) == 0
    async with http.app.state.runtime.db.session(write=False) as session:
        assert await session.scalar(select(func.count()).select_from(IdempotencyKey)) == 0
    # Without a key there is nothing to claim, and the same endpoint works.
    plain = await http.post("/probe/forgetful", json={"amount": 5})
    assert plain.status_code == 201
    assert await executions(http) == 1
