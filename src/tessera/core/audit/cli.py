"""`tessera audit verify` and `tessera audit sequence`."""

from __future__ import annotations

import asyncio

import typer

from tessera.core.audit.sequencer import Sequencer
from tessera.core.audit.verify import LogReport, verify_log
from tessera.core.config import get_settings
from tessera.core.db.engine import Database

cli = typer.Typer(no_args_is_help=True, help="The audit log.")


@cli.command()
def verify() -> None:
    """Recompute the Merkle log from the rows, check every signed tree head; exit 1 and name
    the first tampered, missing or re-ordered row, or rows left unsequenced too long."""
    settings = get_settings()

    async def run() -> LogReport:
        db = Database(settings.resolved_database_url)
        try:
            async with db.session(write=False) as session:
                if db.dialect == "postgresql":  # one snapshot for heads, rows and nodes
                    await session.connection(
                        execution_options={"isolation_level": "REPEATABLE READ"}
                    )
                return await verify_log(
                    session, max_merge_delay=settings.audit_max_merge_delay_seconds
                )
        finally:
            await db.dispose()

    report = asyncio.run(run())
    summary = f"{report.rows} rows, {report.tree_heads} signed tree heads"
    if report.ok:
        typer.echo(f"audit log intact: {summary}")
        return
    if report.problem:
        typer.echo(f"audit log BROKEN: {report.problem}", err=True)
    for line in report.late:
        typer.echo(f"audit log LATE: {line}", err=True)
    typer.echo(f"checked {summary}", err=True)
    raise typer.Exit(1)


@cli.command()
def sequence() -> None:
    """Sequence every waiting row now and sign a tree head (the sequencer loop does this on
    its own every few hundred milliseconds)."""
    settings = get_settings()

    async def run() -> int:
        db = Database(settings.resolved_database_url)
        try:
            return await Sequencer(db, settings).run_once()
        finally:
            await db.dispose()

    typer.echo(f"sequenced {asyncio.run(run())} rows")
