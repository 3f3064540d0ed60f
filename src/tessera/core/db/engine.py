"""One `Database` per process: the engine, and sessions that are either read or write.

SQLite runs in WAL mode with foreign keys on and a busy timeout. Python's sqlite3 driver
would open transactions lazily and upgrade a read lock to a write lock mid-transaction, which
fails at once with "database is locked" whatever the busy timeout. So the driver's own
transaction handling is switched off and we emit `BEGIN` ourselves: `BEGIN IMMEDIATE` for write
sessions (the write lock is taken up front, waiting politely on the busy timeout), plain
`BEGIN` for read sessions (one snapshot for the whole read).

On PostgreSQL write sessions are ordinary READ COMMITTED transactions, and read sessions run
each statement on its own (AUTOCOMMIT). At READ COMMITTED every statement takes a fresh
snapshot anyway, so wrapping reads in a transaction changes nothing they see, and costs two
round trips (BEGIN, COMMIT) per request: more than the typical read itself. A read session
must not write (on PostgreSQL each statement would commit at once).

Pooled PostgreSQL connections are checked before use only when they sat idle for more than
IDLE_PING_SECONDS. SQLAlchemy's `pool_pre_ping` would check every checkout, which with asyncpg
costs three round trips (BEGIN, a ping, ROLLBACK) per transaction: more than a typical
request's own statements. A busy connection has just proved itself; an idle one may have been
cut by a server restart or a firewall, and a failed ping replaces it before anyone sees an
error. A connection that dies while in use fails that one transaction, and SQLAlchemy then
discards the rest of the pool, so the next checkouts start fresh.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

WRITE_OPTION = "tessera_write"
SQLITE_BUSY_TIMEOUT_MS = 30_000
IDLE_PING_SECONDS = 5.0


class Database:
    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        max_overflow: int = 20,
        echo: bool = False,
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        # Bound parameters (password hashes, key hashes, personal data) never reach a log
        # line or an error message: neither the echo log nor a failed statement's text shows
        # them.
        kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        else:
            kwargs |= {"pool_size": pool_size, "max_overflow": max_overflow}
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        else:
            _ping_idle_connections(self.engine)
        self._write_engine = self.engine.execution_options(**{WRITE_OPTION: True})
        read_engine = (
            self.engine
            if self.is_sqlite
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self.read_sessions = async_sessionmaker(read_engine, expire_on_commit=False)
        self.write_sessions = async_sessionmaker(self._write_engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        """A unit of work: commits when the block ends normally, rolls back otherwise."""
        maker = self.write_sessions if write else self.read_sessions
        async with maker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def dispose(self) -> None:
        await self.engine.dispose()


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see module doc)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _ping_idle_connections(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine
    dialect = sync_engine.dialect

    @event.listens_for(sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return  # new, or in use moments ago
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool discards this connection and checks out another (up to three tries).
            raise exc.DisconnectionError(f"idle connection failed its ping: {error}") from error


def insert_for(dialect_name: str, table: Any) -> Any:
    """`INSERT` that supports `on_conflict_do_nothing` / `do_update` on either engine."""
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
