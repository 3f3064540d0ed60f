"""Idempotent POSTs without a separate "in flight" transaction.

- The reply is stored by `respond()` in the request's own transaction, so the effects and the
  stored reply commit together: a crash before the commit loses both (a retry runs again), a
  crash after it keeps both (a retry gets the replay). Nothing is ever executed twice.
- "In flight" is a transaction-scoped advisory lock on (caller, key) on PostgreSQL: a second
  request with the key while the first runs gets 409. On SQLite write transactions are already
  serialised (`BEGIN IMMEDIATE`), so the second waits and then receives the replay.
- Requests that fail (4xx, validation) store nothing, so a corrected retry runs normally.
- Keys older than the retention (24 h) are treated as new and purged by a scheduled job.

Endpoints that hand the connection back for CPU work
----------------------------------------------------
An endpoint may end its transaction before slow work (`release_connection`, then e.g. RSA
signing) and write its effects in a new one. The lock ends with the first transaction, so the
endpoint calls `claim()` again once the work is done and before it writes any effect; `respond`
refuses (RuntimeError) to store a reply in a transaction that has not claimed the key. Why
that still executes nothing twice:

1. An effect under a key is written only in a transaction T that has claimed it, and T stores
   the reply itself, before it commits.
2. Claiming on PostgreSQL takes the advisory lock first (held by T until its commit) and then
   reads the stored reply in a new statement. PostgreSQL makes a commit visible before it
   releases the transaction's locks, and READ COMMITTED gives each statement a snapshot taken
   when it starts. So if another transaction T' claimed the key and committed an effect before
   T took the lock, T's read sees T''s reply and T replays it instead of writing; if T' still
   holds the lock, T gets 409. Two transactions cannot hold the lock at once.
3. On SQLite a write transaction holds the database's write lock from `BEGIN IMMEDIATE` to its
   commit and reads every committed row: the same argument with one global lock.

What changes is only the work done by a duplicate: while the first request computes without
a transaction, the key is free, so a duplicate sent meanwhile passes the dependency's claim and
computes too, then loses at its second claim (409, or the replay once the first committed).
Its result is thrown away, never sent. A duplicate sent after the first completed is answered
by the dependency's claim without computing anything.
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
    """The key of one request (or none). The dependency claims it before the endpoint runs;
    an endpoint that ends its transaction early (`release_connection`) claims it again."""

    def __init__(
        self, session: AsyncSession, scope: str | None, key: str | None, fingerprint: str | None
    ) -> None:
        self.session = session
        self.scope = scope
        self.key = key
        self.fingerprint = fingerprint
        self._claimed_in: object | None = None  # the transaction that holds the key

    async def claim(self) -> None:
        """Take the key in the session's current transaction (opening one): 409 while another
        request holds it (PostgreSQL), the stored reply (`ShortCircuit`) if one completed with
        it, 422 if it completed with a different request. Nothing to do without a key.

        Call it again after `release_connection` and before writing any effect: the first
        claim ended with the transaction it was made in."""
        if self.key is None or self.scope is None:
            return
        session = self.session
        if session.get_bind().dialect.name == "postgresql":
            name = f"{self.scope}\n{self.key}"
            lock = func.pg_try_advisory_xact_lock(func.hashtextextended(name, 0))
            if not await session.scalar(select(lock)):
                raise Conflict(
                    f"A request with this {HEADER} is still in progress",
                    code="idempotency_in_flight",
                )
        stored = await session.scalar(
            select(IdempotencyKey).where(
                IdempotencyKey.scope == self.scope, IdempotencyKey.key == self.key
            )
        )
        if stored is not None and stored.created_at < utcnow() - RETENTION:
            await session.delete(stored)
            await session.flush()
            stored = None
        if stored is not None:
            if stored.fingerprint != self.fingerprint:
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
        self._claimed_in = session.sync_session.get_transaction()

    async def respond(self, result: Any, *, status_code: int = 200) -> Response:
        """Serialise `result` once; store it under the key (if any) in this transaction."""
        body = _encode(result)
        if self.key is not None and self.scope is not None and self.fingerprint is not None:
            if self.session.sync_session.get_transaction() is not self._claimed_in:
                # The effects were written in a transaction that never claimed the key: a
                # parallel duplicate could have written them too. A bug, never a user error.
                raise RuntimeError("IdempotencyGuard: claim() the key again after releasing")
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
    guard = IdempotencyGuard(session, scope, key, await _fingerprint(request))
    await guard.claim()
    return guard


Idempotency = Annotated[IdempotencyGuard, Depends(idempotency_guard)]


async def purge_expired(session: AsyncSession) -> int:
    result = await session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < utcnow() - RETENTION)
    )
    return int(getattr(result, "rowcount", 0) or 0)
