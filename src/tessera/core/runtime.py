"""The process-wide resources of a running app, built in the lifespan and kept on
`app.state.runtime`: settings, database, Redis, rate limiter. Core parts and modules hang
their own long-lived objects in `extras` under their name."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from redis.asyncio import Redis

from tessera.core.config import Settings
from tessera.core.db.engine import Database
from tessera.core.ratelimit import RateLimiter


@dataclass
class Runtime:
    settings: Settings
    db: Database
    redis: Redis | None
    limiter: RateLimiter
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        db = Database(
            settings.resolved_database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            echo=settings.db_echo,
        )
        redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
        limiter = RateLimiter(settings.redis_url, prefix=settings.redis_prefix)
        return cls(settings=settings, db=db, redis=redis, limiter=limiter)

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
        await self.db.dispose()


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
