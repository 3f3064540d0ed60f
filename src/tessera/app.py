"""`create_app(settings)`: the core's routers, the enabled modules, middleware and lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

import tessera
from tessera.core import health, routing
from tessera.core.config import SchedulerMode, Settings, get_settings
from tessera.core.docs import install_offline_docs
from tessera.core.errors import (
    InternalErrorMiddleware,
    document_validation_errors,
    install_error_handlers,
)
from tessera.core.jobs import Scheduler
from tessera.core.logging import configure_logging
from tessera.core.middleware import (
    BodyLimitMiddleware,
    PathAliasMiddleware,
    RequestContextMiddleware,
)
from tessera.core.modules import core_parts, product_modules
from tessera.core.nul_guard import NulGuardMiddleware
from tessera.core.runtime import Runtime

log = structlog.get_logger("tessera.app")

DESCRIPTION = """
Tessera is one service on one shared core: accounts and sessions, a double-entry ledger,
and product modules on top. Errors are JSON `{"detail", "error"}`.
"""


CORS_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID")


def build_scheduler(runtime: Runtime) -> Scheduler:
    jobs = [job for part in runtime.parts for job in part.jobs]
    runtime.scheduler = Scheduler(runtime.db, jobs, runtime)
    return runtime.scheduler


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    settings.check_safe()
    configure_logging(settings.log_level, json=settings.log_json)
    core, modules = core_parts(), product_modules(settings.modules)
    parts = [*core, *modules]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime.build(settings, parts)
        app.state.runtime = runtime
        app.state.db = runtime.db
        for part in parts:
            for hook in part.on_startup:
                await hook(runtime)
        scheduler = build_scheduler(runtime)
        background: list[asyncio.Task[None]] = []
        if settings.scheduler is SchedulerMode.inprocess:
            if scheduler.jobs:
                background.append(
                    asyncio.create_task(scheduler.run_forever(settings.scheduler_tick_seconds))
                )
            background += [
                asyncio.create_task(loop(runtime)) for part in parts for loop in part.loops
            ]
        log.info(
            "started",
            version=tessera.__version__,
            env=settings.env.value,
            database=runtime.db.dialect,
            redis=bool(runtime.redis),
            parts=[part.name for part in parts],
        )
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await runtime.close()

    app = FastAPI(
        title="Tessera",
        version=tessera.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.serves_docs else None,
    )
    install_error_handlers(app)
    generated_openapi = app.openapi
    app.openapi = lambda: document_validation_errors(generated_openapi())  # type: ignore[method-assign]
    # FastAPI checks routes in order, a few microseconds each. A router with a prefix (/auth,
    # /admin …) is passed over with one prefix check (`routing`), one without costs a check per
    # route; so prefixed routers come first, then the product modules' (kiosks and validators,
    # many calls a second) before the core's; the docs pages (people, now and then) last. No
    # two parts share a method and path, so the order changes nothing else.
    routing.install()
    routers = [router for part in [*modules, *core] for router in part.routers]
    for router in [health.router, *sorted(routers, key=lambda router: not router.prefix)]:
        routing.add_router(app, router)
    if settings.serves_docs:
        install_offline_docs(app)

    # Outermost last: CORS wraps everything so that error responses carry its headers too.
    aliases = {alias: path for part in parts for alias, path in part.path_aliases.items()}
    if aliases:
        app.add_middleware(PathAliasMiddleware, aliases=aliases)
    app.add_middleware(NulGuardMiddleware)  # inside the body limit, which bounds what it reads
    upload_limits = {
        prefix: limit
        for part in parts
        if part.body_limits is not None
        for prefix, limit in part.body_limits(settings).items()
    }
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_body_bytes, overrides=upload_limits
    )
    # Inside the request id, security headers and CORS, so that a 500 carries them too.
    app.add_middleware(InternalErrorMiddleware)
    app.add_middleware(RequestContextMiddleware, hsts=settings.uses_https)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=[*CORS_HEADERS, *(h for part in parts for h in part.cors_headers)],
            expose_headers=["X-Request-ID", "Retry-After", "ETag"],
        )
    return app
