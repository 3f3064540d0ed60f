"""Group commit: concurrent callers of one small write share a transaction.

A hot write path that runs one short statement per request spends most of its cost on the
transaction around it: a pool checkout, BEGIN, COMMIT and, on PostgreSQL, a WAL flush per
commit. `GroupCommit` queues the items of concurrent callers and writes them together. While
one batch is being written the next one gathers, so the batch size follows the load and no
timer is involved: a lone caller is written at once, on its own.

A caller's result is handed back only after its batch has committed, so an answer never
reports an effect that is not durable. If a batch fails, nothing of it was written, and its
items are written again one by one, each in its own transaction: one bad item (input that
slipped past validation, a constraint it breaks) fails only its own caller, never its
neighbours. Only when the database itself is unreachable or overloaded does every caller of
the batch get that error at once (one by one, each would meet it again).

A caller that gives up while waiting (a dropped connection) does not stop the batch: its item
may still be written, exactly as if the connection had dropped after a commit of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.db.engine import Database
from tessera.core.errors import DATABASE_UNAVAILABLE

Item = TypeVar("Item")
Result = TypeVar("Result")

#: Writes one batch inside the given (write) session; returns one result per item, in order.
BatchWriter = Callable[[AsyncSession, Sequence[Item]], Awaitable[Sequence[Result]]]


class GroupCommit(Generic[Item, Result]):
    def __init__(
        self, db: Database, write: BatchWriter[Item, Result], *, max_batch: int = 256
    ) -> None:
        self.db = db
        self.write = write
        self.max_batch = max_batch
        self._queue: list[tuple[Item, asyncio.Future[Result]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        """Write `item` with whatever else is queued; its result once the batch commits."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        self._queue.append((item, future))
        if self._writer is None:
            self._writer = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
                await self._write_batch(batch)
        except BaseException:  # cancelled (shutting down): nobody will write the rest
            for _, future in self._queue:
                future.cancel()
            self._queue.clear()
            raise
        finally:
            self._writer = None

    async def _write_batch(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            async with self.db.session(write=True) as session:
                results = await self.write(session, [item for item, _ in batch])
        except Exception as exc:
            if len(batch) == 1 or isinstance(exc, DATABASE_UNAVAILABLE):
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                return
            for single in batch:  # find the bad item: each alone, in its own transaction
                await self._write_batch([single])
            return
        except BaseException:
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
