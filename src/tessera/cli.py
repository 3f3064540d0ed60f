"""The `tessera` command: operator work (serve, migrate, worker, jobs …).

Core parts and product modules add their own sub-commands through `ModuleSpec.cli`.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from tessera.aiservice.cli import ai_service_app
from tessera.core.config import InsecureSettings, get_settings
from tessera.core.errors import AppError
from tessera.core.identity.cli import api_keys_app, create_admin, seed
from tessera.core.modules import all_parts

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
jobs_app = typer.Typer(no_args_is_help=True, help="Scheduled jobs.")
app.add_typer(jobs_app, name="jobs")
app.command("create-admin")(create_admin)
app.command("seed")(seed)
app.add_typer(api_keys_app, name="api-keys")
app.add_typer(ai_service_app, name="ai-service", invoke_without_command=True)


@app.callback()
def refuse_unsafe_settings() -> None:
    # Every command, not only `serve`: a worker or an operator command run with a placeholder
    # secret in production would sign, seal or hash with it.
    try:
        get_settings().check_safe()
    except InsecureSettings as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def migrate(revision: str = "head") -> None:
    """Bring the database schema up to date (run once per deploy)."""
    from tessera.core.db.migrate import upgrade

    settings = get_settings()
    upgrade(settings.resolved_database_url, revision)
    typer.echo(f"database migrated to {revision}: {_safe_url(settings.resolved_database_url)}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (TESSERA_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (TESSERA_PORT)")] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Processes (TESSERA_WORKERS; default: CPUs in production, else 1)"),
    ] = None,
    reload: bool = False,
) -> None:
    """Serve the API."""
    from tessera.server import serve as serve_app

    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    docs = f"  (docs: http://{host}:{port}/docs)" if settings.serves_docs else ""
    typer.echo(f"Tessera on http://{host}:{port}{docs}")
    serve_app(
        "tessera.app:create_app",
        settings,
        host=host,
        port=port,
        workers=workers or settings.worker_count,
        reload=reload,
    )


@app.command()
def bootstrap() -> None:
    """First-run set-up, safe to repeat: each part creates what it needs if it is missing."""
    from tessera.worker import run_bootstrap

    asyncio.run(run_bootstrap(get_settings()))


@app.command()
def worker() -> None:
    """Run the scheduled jobs in this process (use with TESSERA_SCHEDULER=off on the API)."""
    from tessera.worker import run_worker

    asyncio.run(run_worker(get_settings()))


@jobs_app.command("list")
def jobs_list() -> None:
    """List the scheduled jobs and their periods."""
    for part in all_parts(get_settings().modules):
        for job in part.jobs:
            typer.echo(f"{job.name:40} every {job.period}  {job.description}")


@jobs_app.command("run")
def jobs_run(
    name: str,
    force: Annotated[bool, typer.Option(help="Run again even if this period already ran")] = False,
) -> None:
    """Run one job now for the current period."""
    from tessera.worker import run_job_once

    try:
        ran = asyncio.run(run_job_once(get_settings(), name, force=force))
    except AppError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{name}: {'ran' if ran else 'already ran this period (use --force)'}")


def _safe_url(url: str) -> str:
    """The URL without its password, for printing."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _add_part_commands() -> None:
    for part in all_parts():
        if part.cli is not None:
            app.add_typer(part.cli, name=part.name)


def main() -> None:
    _add_part_commands()
    app()
