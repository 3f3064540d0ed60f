"""Password-reset links, made and mailed outside the request that asked for them.

A reset request must take the same time whether or not the e-mail has an account, or its
timing tells an outsider which addresses are registered. So the request itself does the same
work on both paths (look the address up, record the request) and, after its transaction has
committed, queues the account id here when there is one. A task of the process then creates
the link in a transaction of its own and sends the mail: neither the token writes nor SMTP
are part of any request's time.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from typing import TYPE_CHECKING

import structlog

from tessera.core.db.engine import Database
from tessera.core.identity import account_service
from tessera.core.identity.mailer import deliver
from tessera.core.identity.state import IdentityState

if TYPE_CHECKING:
    from tessera.core.runtime import Runtime

log = structlog.get_logger("tessera.identity.reset_links")


class ResetLinks:
    def __init__(self, db: Database, state: IdentityState) -> None:
        self.db = db
        self.state = state
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    async def enqueue(self, user_id: str) -> None:
        """Queue a link for `user_id` (call after the request's commit). Returns at once."""
        self._queue.put_nowait(user_id)
        if self._worker is None or self._worker.done():
            # A context of its own: the request that happened to start it is not its caller.
            loop = asyncio.get_running_loop()
            self._worker = loop.create_task(self._run(), context=contextvars.Context())

    async def drain(self) -> None:
        """Wait until every queued link has been made and mailed (tests, shutdown)."""
        await self._queue.join()

    async def close(self) -> None:
        if self._worker is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.drain(), timeout=10)
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    async def _run(self) -> None:
        while True:
            user_id = await self._queue.get()
            try:
                await self._send_one(user_id)
            except Exception as exc:  # one failed link never stops the others
                log.error("reset_link_failed", error=type(exc).__name__)
            finally:
                self._queue.task_done()

    async def _send_one(self, user_id: str) -> None:
        async with self.db.session() as session:
            mail = await account_service.issue_reset_link(session, self.state, user_id)
        if mail is not None:  # only once the link is committed
            await deliver(self.state.mailer, mail)


def reset_links_of(runtime: Runtime, state: IdentityState) -> ResetLinks:
    """The process's queue, started on first use and drained when the runtime closes."""

    def build(runtime: Runtime) -> ResetLinks:
        links = ResetLinks(runtime.db, state)
        runtime.on_close.append(links.close)
        return links

    return runtime.get(ResetLinks, build)
