"""Stripe/IETF semantics for `Idempotency-Key` (reliability tests I1–I6, I8) on both engines."""

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
from tessera.core.errors import BadRequest
from tessera.core.idempotency import Idempotency
from tessera.core.idempotency.models import IdempotencyKey
from tessera.core.idempotency.service import purge_expired


class Payment(BaseModel):
    amount: int
    note: str = ""


class Receipt(BaseModel):
    receipt_id: str
    amount: int


def authenticate(request: Request) -> str:
    """Stands in for the identity dependencies, which set the caller the same way."""
    principal = request.headers.get("X-Caller", "user:alice")
    request.state.principal = principal
    return principal


@pytest.fixture
async def http(settings: Any) -> Any:
    app = create_app(settings)

    @app.post("/probe/pay", status_code=201)
    async def pay(
        body: Payment, session: DbSession, caller: str = Depends(authenticate), *, idem: Idempotency
    ) -> Response:
        if body.amount > 1000:
            raise BadRequest("Insufficient balance", code="insufficient_balance")
        await asyncio.sleep(0.05)  # long enough for parallel duplicates to overlap
        row = await record(session, "probe.pay", actor_type="system", details={"by": caller})
        return await idem.respond(Receipt(receipt_id=row.id, amount=body.amount), status_code=201)

    async with LifespanManager(app):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://t") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


async def executions(http: Any) -> int:
    async with http.app.state.runtime.db.session(write=False) as session:
        query = select(func.count()).where(AuditLog.action == "probe.pay")
        return int(await session.scalar(query) or 0)


async def test_i1_replays_return_the_stored_result_byte_for_byte(http: Any) -> None:
    headers = {"Idempotency-Key": "order-1"}
    responses = [
        await http.post("/probe/pay", json={"amount": 5}, headers=headers) for _ in range(10)
    ]
    assert {r.status_code for r in responses} == {201}
    assert len({r.content for r in responses}) == 1
    assert "Idempotent-Replayed" not in responses[0].headers
    assert all(r.headers["Idempotent-Replayed"] == "true" for r in responses[1:])
    assert await executions(http) == 1


async def test_i2_same_key_with_a_different_body_is_422_without_effect(http: Any) -> None:
    headers = {"Idempotency-Key": "order-2"}
    assert (await http.post("/probe/pay", json={"amount": 5}, headers=headers)).status_code == 201
    changed = await http.post("/probe/pay", json={"amount": 6}, headers=headers)
    assert changed.status_code == 422
    assert changed.json()["error"] == "idempotency_key_reused"
    assert await executions(http) == 1


async def test_i3_fifty_parallel_duplicates_execute_once(http: Any) -> None:
    headers = {"Idempotency-Key": "order-3"}
    responses = await asyncio.gather(
        *(http.post("/probe/pay", json={"amount": 7}, headers=headers) for _ in range(50))
    )
    statuses = [r.status_code for r in responses]
    assert all(status in (201, 409) for status in statuses), statuses
    winners = {r.content for r in responses if r.status_code == 201}
    assert len(winners) == 1  # every 201 is the one execution or its replay
    assert await executions(http) == 1
    conflict = next((r for r in responses if r.status_code == 409), None)
    if conflict is not None:
        assert conflict.json()["error"] == "idempotency_in_flight"


async def test_i4_keys_are_scoped_to_the_caller(http: Any) -> None:
    alice = await http.post(
        "/probe/pay",
        json={"amount": 5},
        headers={"Idempotency-Key": "shared", "X-Caller": "user:a"},
    )
    bob = await http.post(
        "/probe/pay",
        json={"amount": 5},
        headers={"Idempotency-Key": "shared", "X-Caller": "user:b"},
    )
    assert alice.status_code == bob.status_code == 201
    assert alice.json()["receipt_id"] != bob.json()["receipt_id"]
    assert "Idempotent-Replayed" not in bob.headers
    assert await executions(http) == 2


@pytest.mark.parametrize("key", ["k" * 256, "bad\x01key", " ", "tab\tkey"])
async def test_i6_malformed_keys_are_400_without_effect(http: Any, key: str) -> None:
    response = await http.post("/probe/pay", json={"amount": 5}, headers={"Idempotency-Key": key})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_idempotency_key"
    assert await executions(http) == 0


async def test_a_request_without_a_key_is_processed_normally(http: Any) -> None:
    first = await http.post("/probe/pay", json={"amount": 5})
    second = await http.post("/probe/pay", json={"amount": 5})
    assert first.status_code == second.status_code == 201
    assert first.json() != second.json()
    assert await executions(http) == 2


async def test_i8_failures_are_not_stored_and_a_fixed_retry_runs(http: Any) -> None:
    headers = {"Idempotency-Key": "order-8"}
    invalid = await http.post("/probe/pay", json={"amount": "lots"}, headers=headers)
    assert invalid.status_code == 422
    refused = await http.post("/probe/pay", json={"amount": 5000}, headers=headers)
    assert refused.status_code == 400
    fixed = await http.post("/probe/pay", json={"amount": 5000 - 4990}, headers=headers)
    assert fixed.status_code == 201 and "Idempotent-Replayed" not in fixed.headers
    assert await executions(http) == 1


async def test_i5_after_retention_a_key_is_a_new_operation_and_is_purged(http: Any) -> None:
    headers = {"Idempotency-Key": "order-5"}
    first = await http.post("/probe/pay", json={"amount": 5}, headers=headers)
    db = http.app.state.runtime.db
    async with db.session() as session:
        await session.execute(
            update(IdempotencyKey).values(created_at=utcnow() - timedelta(hours=23, minutes=59))
        )
    assert (
        await http.post("/probe/pay", json={"amount": 5}, headers=headers)
    ).content == first.content
    async with db.session() as session:
        await session.execute(
            update(IdempotencyKey).values(created_at=utcnow() - timedelta(hours=25))
        )
    later = await http.post("/probe/pay", json={"amount": 5}, headers=headers)
    assert later.status_code == 201 and later.json() != first.json()
    async with db.session() as session:
        await session.execute(
            update(IdempotencyKey).values(created_at=utcnow() - timedelta(hours=25))
        )
        assert await purge_expired(session) == 1
    assert await executions(http) == 2
