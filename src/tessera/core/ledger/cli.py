"""`tessera ledger check`: recompute every balance from its entries; exit 1 on any drift."""

from __future__ import annotations

import asyncio

import typer

from tessera.core.config import get_settings
from tessera.core.db.engine import Database
from tessera.core.ledger.reconcile import LedgerReport, check_ledger

cli = typer.Typer(no_args_is_help=True, help="The double-entry ledger.")


@cli.command()
def check() -> None:
    """Recompute balances and transaction sums from the entries; name every account that drifted."""

    async def run() -> LedgerReport:
        db = Database(get_settings().resolved_database_url)
        try:
            # One read transaction: on PostgreSQL REPEATABLE READ gives every query the same
            # snapshot, so movements committing meanwhile cannot look like drift.
            async with db.session(write=False) as session:
                if db.dialect == "postgresql":
                    await session.connection(
                        execution_options={"isolation_level": "REPEATABLE READ"}
                    )
                return await check_ledger(session)
        finally:
            await db.dispose()

    report = asyncio.run(run())
    summary = (
        f"{report.accounts} accounts, {report.transactions} transactions, {report.entries} entries"
    )
    if report.ok:
        typer.echo(f"ledger consistent: {summary}")
        return
    problems = report.problems()
    typer.echo(f"ledger DRIFT: {len(problems)} problem(s) in {summary}", err=True)
    for line in problems:
        typer.echo(f"  {line}", err=True)
    raise typer.Exit(1)
