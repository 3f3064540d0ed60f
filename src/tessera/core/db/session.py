"""The per-request unit of work.

One session per request, committed after the endpoint returns and *before* the response is
sent (`scope="function"`), so a client never sees success for work that failed to commit.
Unsafe methods get a write session (`BEGIN IMMEDIATE` on SQLite); GET/HEAD a read session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.db.engine import Database

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def database_of(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_database(request: Request) -> Database:
    # async so FastAPI calls it inline instead of sending it to the thread pool
    return database_of(request)


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    db = database_of(request)
    async with db.session(write=request.method not in SAFE_METHODS) as session:
        yield session


DbSession = Annotated[AsyncSession, Depends(_session, scope="function")]
DatabaseDep = Annotated[Database, Depends(get_database)]


async def release_connection(session: AsyncSession) -> None:
    """Hand the session's connection back before CPU-heavy work (password hashing, RSA): on
    PostgreSQL the pool gets it back, on SQLite the write lock of `BEGIN IMMEDIATE` is
    released. Objects it loaded stay usable, detached: `add` back any the caller will change.
    The next statement opens a new transaction.

    The transaction is committed, not rolled back: what the caller has done so far must be
    reads only, but a dependency may have written something complete on its own before the
    endpoint ran (the refresh of a session cookie, the purge of an expired idempotency key),
    and that must not be silently discarded. A transaction that only read commits exactly as it
    would roll back. Transaction-scoped locks (an idempotency key's) end with it: take them
    again in the new transaction (`IdempotencyGuard.claim`). Unflushed changes are refused
    outright: they would be the caller's own writes."""
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("release_connection: the session has unflushed changes")
    if not session.in_transaction():
        return
    session.expunge_all()
    await session.commit()
