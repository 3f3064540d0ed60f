"""The process-wide resources of a running app, built once per process and kept on
`app.state.runtime`: settings, database, Redis, rate limiter, the parts' declared hooks, the
scheduler, and each part's own long-lived objects.

A part keeps its long-lived objects (key rings, caches, batchers) in one class of its own and
registers an instance in its start-up hook: `runtime.provide(TokensState(...))`; its code
reads it back typed with `runtime.get(TokensState)`. The class is the key, so no part can
reach another's by a guessed name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import Depends, Request
from redis.asyncio import Redis

from tessera.core.config import Settings
from tessera.core.db.engine import Database
from tessera.core.modules import Hooks, ModuleSpec
from tessera.core.ratelimit import RateLimiter
from tessera.core.redis_client import RedisGate, build_redis, redis_options

if TYPE_CHECKING:
    from tessera.core.jobs import Scheduler

T = TypeVar("T")


@dataclass
class Runtime:
    settings: Settings
    db: Database
    redis: Redis | None
    limiter: RateLimiter
    parts: tuple[ModuleSpec, ...] = ()
    hooks: Hooks = field(default_factory=Hooks)
    scheduler: Scheduler | None = None
    # Shared by every user of `redis` in this process: one failure spares the others a wait.
    redis_gate: RedisGate = field(default_factory=RedisGate)
    _states: dict[type[Any], Any] = field(default_factory=dict, repr=False)
    # Run first by `close()`, newest first: parts' background work finishes while the
    # database and Redis are still open.
    on_close: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings, parts: Sequence[ModuleSpec]) -> Runtime:
        db = Database(
            settings.resolved_database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            echo=settings.db_echo,
        )
        gate = RedisGate(settings.redis_retry_after_seconds)
        limiter = RateLimiter(
            settings.redis_url,
            prefix=settings.redis_prefix,
            options=redis_options(settings),
            gate=gate,
        )
        for part in parts:  # a bad module setting stops the process here, before it serves
            if part.settings is not None:
                settings.module(part.settings)
        return cls(
            settings=settings,
            db=db,
            redis=build_redis(settings),
            limiter=limiter,
            redis_gate=gate,
            parts=tuple(parts),
            hooks=Hooks.of(parts),
        )

    def provide(self, value: object) -> None:
        """Register a part's long-lived object under its class."""
        self._states[type(value)] = value

    def get(self, kind: type[T], build: Callable[[Runtime], T] | None = None) -> T:
        """The object registered under `kind`; built with `build` on first use if given (a
        process that skipped the start-up hooks: a script, a test)."""
        value = self._states.get(kind)
        if value is None:
            if build is None:
                raise LookupError(f"{kind.__name__} was not provided at start-up")
            value = self._states[kind] = build(self)
        assert isinstance(value, kind)
        return value

    async def close(self) -> None:
        for closer in reversed(self.on_close):
            await closer()
        if self.redis is not None:
            await self.redis.aclose()
        await self.db.dispose()


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
