"""Idempotent POSTs without a separate "in flight" transaction.

- The reply is stored by `respond()` in the request's own transaction, so the effects and the
  stored reply commit together: a crash before the commit loses both (a retry runs again), a
  crash after it keeps both (a retry gets the replay). Nothing is ever executed twice.
- "In flight" is a transaction-scoped advisory lock on (caller, key) on PostgreSQL: a second
  request with the key while the first runs gets 409. On SQLite write transactions are already
  serialised (`BEGIN IMMEDIATE`), so the second waits and then receives the replay.
- Requests that fail (4xx, validation) store nothing, so a corrected retry runs normally.
- Keys older than the retention (24 h) are treated as new and purged by a scheduled job.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.db.base import utcnow
from tessera.core.db.session import DbSession
from tessera.core.errors import BadRequest, Conflict, ShortCircuit, Unprocessable
from tessera.core.idempotency.models import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
RETENTION = timedelta(hours=24)
_VALID_KEY = re.compile(r"^[\x20-\x7e]{1,255}$")  # printable ASCII, at most 255 characters


class IdempotencyGuard:
    def __init__(
        self, session: AsyncSession, scope: str | None, key: str | None, fingerprint: str | None
    ) -> None:
        self.session = session
        self.scope = scope
        self.key = key
        self.fingerprint = fingerprint

    async def respond(self, result: Any, *, status_code: int = 200) -> Response:
        """Serialise `result` once; store it under the key (if any) in this transaction."""
        body = _encode(result)
        if self.key is not None and self.scope is not None and self.fingerprint is not None:
            self.session.add(
                IdempotencyKey(
                    scope=self.scope,
                    key=self.key,
                    fingerprint=self.fingerprint,
                    response_status=status_code,
                    response_body=body.decode(),
                )
            )
            await self.session.flush()
        return Response(body, status_code=status_code, media_type="application/json")


def _encode(result: Any) -> bytes:
    if isinstance(result, BaseModel):
        return result.model_dump_json().encode()
    return orjson.dumps(jsonable_encoder(result))


async def _fingerprint(request: Request) -> str:
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.url.path.encode(), await request.body()):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


async def idempotency_guard(request: Request, session: DbSession) -> IdempotencyGuard:
    key = request.headers.get(HEADER)
    if key is None:
        return IdempotencyGuard(session, None, None, None)
    if not _VALID_KEY.match(key) or not key.strip():
        raise BadRequest(
            f"{HEADER} must be 1 to 255 printable ASCII characters",
            code="invalid_idempotency_key",
        )
    scope = getattr(request.state, "principal", None)
    if scope is None:
        raise RuntimeError("declare Idempotency after the authentication dependency")
    fingerprint = await _fingerprint(request)

    if session.get_bind().dialect.name == "postgresql":
        lock = func.pg_try_advisory_xact_lock(func.hashtextextended(f"{scope}\n{key}", 0))
        if not await session.scalar(select(lock)):
            raise Conflict(
                f"A request with this {HEADER} is still in progress",
                code="idempotency_in_flight",
            )
    stored = await session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
    )
    if stored is not None and stored.created_at < utcnow() - RETENTION:
        await session.delete(stored)
        await session.flush()
        stored = None
    if stored is not None:
        if stored.fingerprint != fingerprint:
            raise Unprocessable(
                f"This {HEADER} was already used with a different request",
                code="idempotency_key_reused",
            )
        raise ShortCircuit(
            Response(
                stored.response_body.encode(),
                status_code=stored.response_status,
                media_type="application/json",
                headers={REPLAYED_HEADER: "true"},
            )
        )
    return IdempotencyGuard(session, scope, key, fingerprint)


Idempotency = Annotated[IdempotencyGuard, Depends(idempotency_guard)]


async def purge_expired(session: AsyncSession) -> int:
    result = await session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < utcnow() - RETENTION)
    )
    return int(getattr(result, "rowcount", 0) or 0)
