"""`tessera riskscan …`: the queue of asynchronous scans, and a check of the AI service."""

from __future__ import annotations

import asyncio
from collections import Counter

import typer
from sqlalchemy import func, select

from tessera.core.config import get_settings
from tessera.core.db.engine import Database
from tessera.modules.riskscan.config import RiskscanSettings
from tessera.modules.riskscan.models import Scan

cli = typer.Typer(no_args_is_help=True, help="Risk scans: the queue and the AI service.")


@cli.command()
def queue() -> None:
    """How many scans are in each state."""

    async def run() -> Counter[str]:
        db = Database(get_settings().resolved_database_url)
        try:
            async with db.session(write=False) as session:
                rows = await session.execute(
                    select(Scan.status, func.count()).group_by(Scan.status)
                )
                return Counter({str(status): int(count) for status, count in rows.all()})
        finally:
            await db.dispose()

    counts = asyncio.run(run())
    for name in ("queued", "extracting", "analysing", "done", "partial", "failed"):
        typer.echo(f"{name:12} {counts.get(name, 0)}")


@cli.command()
def ping() -> None:
    """Ask the AI service (AI_SERVICE_URL) what it is."""
    import httpx2

    url = get_settings().module(RiskscanSettings).ai_service_url
    try:
        reply = httpx2.get(f"{url}/", timeout=5)
    except httpx2.HTTPError as exc:
        typer.echo(f"{url}: unreachable ({type(exc).__name__})", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{url}: HTTP {reply.status_code} {reply.text[:300]}")
