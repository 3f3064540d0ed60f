"""`tessera audit verify`: walk the chain and name the first broken row."""

from __future__ import annotations

import asyncio

import typer

from tessera.core.audit.service import AuditTrail, BrokenLink
from tessera.core.config import get_settings
from tessera.core.db.engine import Database

cli = typer.Typer(no_args_is_help=True, help="The audit log.")


@cli.command()
def verify() -> None:
    """Recompute the hash chain; exit 1 and name the first broken row if any."""

    async def run() -> tuple[int, BrokenLink | None]:
        db = Database(get_settings().resolved_database_url)
        try:
            async with db.session(write=False) as session:
                return await AuditTrail(session).verify()
        finally:
            await db.dispose()

    checked, broken = asyncio.run(run())
    if broken is None:
        typer.echo(f"audit chain intact: {checked} rows")
        return
    typer.echo(
        f"audit chain BROKEN at row seq={broken.seq} id={broken.id}: {broken.reason}", err=True
    )  # type: ignore[attr-defined]
    raise typer.Exit(1)
