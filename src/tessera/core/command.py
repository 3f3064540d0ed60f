"""What every part's `tessera …` sub-command shares: a runtime of the enabled parts for the
length of one command, and an `AppError` printed as one line with exit code 1."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer

from tessera.core.config import get_settings
from tessera.core.errors import AppError
from tessera.core.modules import all_parts
from tessera.core.runtime import Runtime

T = TypeVar("T")


def run_with_runtime(work: Callable[[Runtime], Awaitable[T]]) -> T:
    async def main() -> T:
        settings = get_settings()
        runtime = Runtime.build(settings, all_parts(settings.modules))
        try:
            return await work(runtime)
        finally:
            await runtime.close()

    try:
        return asyncio.run(main())
    except AppError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
