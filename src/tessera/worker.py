"""The scheduler as its own process (`tessera worker`), and one-off job runs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import structlog

from tessera.app import build_scheduler
from tessera.core.config import Settings
from tessera.core.errors import NotFound
from tessera.core.logging import configure_logging
from tessera.core.modules import all_parts
from tessera.core.runtime import Runtime

log = structlog.get_logger("tessera.worker")


async def _start(settings: Settings) -> Runtime:
    settings.check_safe()  # the worker signs, seals and hashes with the same secrets as the API
    configure_logging(settings.log_level, json=settings.log_json)
    parts = all_parts(settings.modules)
    runtime = Runtime.build(settings, parts)
    for part in parts:
        for hook in part.on_startup:
            await hook(runtime)
    return runtime


async def run_worker(settings: Settings) -> None:
    runtime = await _start(settings)
    scheduler = build_scheduler(runtime)
    log.info("worker_started", jobs=sorted(scheduler.jobs))
    loops: list[asyncio.Task[None]] = [
        asyncio.create_task(loop(runtime)) for part in runtime.parts for loop in part.loops
    ]
    try:
        await scheduler.run_forever(settings.scheduler_tick_seconds)
    finally:
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        await runtime.close()


async def run_bootstrap(settings: Settings) -> None:
    runtime = await _start(settings)
    try:
        for part in runtime.parts:
            for hook in part.on_bootstrap:
                await hook(runtime)
    finally:
        await runtime.close()


async def run_job_once(settings: Settings, name: str, *, force: bool = False) -> bool:
    runtime = await _start(settings)
    try:
        scheduler = build_scheduler(runtime)
        job = scheduler.jobs.get(name)
        if job is None:
            raise NotFound(f"no job named {name!r}; see `tessera jobs list`")
        key = f"manual:{datetime.now(UTC).isoformat()}" if force else None
        return await scheduler.run_job(job, key=key)
    finally:
        await runtime.close()
