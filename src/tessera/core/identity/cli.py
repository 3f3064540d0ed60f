"""Operator commands: `tessera create-admin`, `tessera seed --demo`, `tessera api-keys …`
(top level, as the spec names them) and `tessera identity end-sessions EMAIL`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tessera.core.command import run_with_runtime
from tessera.core.config import get_settings
from tessera.core.identity import api_keys
from tessera.core.identity.auth_service import normalise_email
from tessera.core.identity.bootstrap import (
    DEFAULT_ADMIN_EMAIL,
    DEMO_TESTER_EMAIL,
    Outcome,
    PasswordRefused,
    ensure_user,
    identity_session,
)
from tessera.core.identity.repository import IdentityRepository
from tessera.core.identity.sessions import end_sessions

cli = typer.Typer(no_args_is_help=True, help="Accounts and sessions.")
api_keys_app = typer.Typer(no_args_is_help=True, help="Service API keys (kiosks, validators …).")


def _report(outcome: Outcome, what: str) -> None:
    if not outcome.created:
        typer.echo(f"{what} {outcome.email} already exists (password unchanged)")
        return
    typer.echo(f"created {what} {outcome.email}")
    if outcome.password:
        typer.echo(f"  password (shown once): {outcome.password}")


def create_admin(
    email: Annotated[
        str | None, typer.Option(help="Default: TESSERA_ADMIN_EMAIL or a prompt")
    ] = None,
    password: Annotated[
        str | None, typer.Option(help="Default: TESSERA_ADMIN_PASSWORD or a prompt")
    ] = None,
    generate: Annotated[bool, typer.Option(help="Generate a password and print it once")] = False,
    full_name: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Create an admin account, or make an existing account an admin."""
    settings = get_settings()
    email = email or settings.admin_email or typer.prompt("E-mail")
    if password is None and settings.admin_password is not None:
        password = settings.admin_password.get_secret_value()
    if password is None and not generate:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def work(runtime: Any) -> Outcome:
        async with identity_session(runtime) as (session, state):
            return await ensure_user(
                session, state, email=email, password=password, is_admin=True, full_name=full_name
            )

    try:
        outcome = run_with_runtime(work)
    except PasswordRefused as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(2) from exc
    if not outcome.created:
        typer.echo(f"{outcome.email} exists; it is an admin now (password unchanged)")
        return
    _report(outcome, "admin")


def seed(
    demo: Annotated[bool, typer.Option("--demo", help="Create the demo admin and tester")] = False,
    admin_email: str = DEFAULT_ADMIN_EMAIL,
    admin_password: Annotated[str | None, typer.Option(help="Default: random, printed")] = None,
    tester_email: str = DEMO_TESTER_EMAIL,
    tester_password: Annotated[str | None, typer.Option(help="Default: random, printed")] = None,
) -> None:
    """Demo data: an admin and a tester account (idempotent by e-mail), then each enabled
    module's own demo data."""
    if not demo:
        typer.echo("nothing to seed; use --demo")
        return

    async def work(runtime: Any) -> tuple[Outcome, Outcome]:
        async with identity_session(runtime) as (session, state):
            admin = await ensure_user(
                session,
                state,
                email=admin_email,
                password=admin_password,
                is_admin=True,
                full_name="Demo Admin",
            )
            tester = await ensure_user(
                session,
                state,
                email=tester_email,
                password=tester_password,
                is_admin=False,
                full_name="Demo Tester",
            )
            return admin, tester

    try:
        admin, tester = run_with_runtime(work)
    except PasswordRefused as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(2) from exc
    _report(admin, "admin")
    _report(tester, "tester")

    async def module_demos(runtime: Any) -> None:
        for part in runtime.parts:
            for hook in part.on_demo_seed:
                await hook(runtime)

    run_with_runtime(module_demos)


@api_keys_app.command("create")
def create_key(
    name: Annotated[str, typer.Option(help="Who uses it, e.g. 'kiosk-zurich-hb-3'")],
    role: Annotated[str, typer.Option(help="kiosk, validator, staff …")],
) -> None:
    """Create an API key and print it once."""

    async def work(runtime: Any) -> tuple[str, str]:
        async with runtime.db.session() as session:
            key, plaintext = await api_keys.create_api_key(
                session, name=name, role=role, created_by="cli"
            )
            return key.id, plaintext

    key_id, plaintext = run_with_runtime(work)
    typer.echo(f"api key {key_id} ({role}) created; shown once:\n{plaintext}")


@api_keys_app.command("list")
def list_keys(include_revoked: bool = False) -> None:
    """List API keys (never the keys themselves)."""

    async def work(runtime: Any) -> list[str]:
        async with runtime.db.session(write=False) as session:
            keys, _ = await api_keys.list_api_keys(
                session, include_revoked=include_revoked, limit=1000, offset=0
            )
            return [
                f"{k.id}  {k.prefix}…  {k.role:10} {k.name}"
                + ("  (revoked)" if k.revoked_at else "")
                for k in keys
            ]

    for line in run_with_runtime(work):
        typer.echo(line)


@api_keys_app.command("revoke")
def revoke_key(key_id: str) -> None:
    """Revoke an API key."""

    async def work(runtime: Any) -> None:
        async with identity_session(runtime) as (session, state):
            await api_keys.revoke_api_key(session, state.api_keys, key_id, revoked_by="cli")

    run_with_runtime(work)
    typer.echo(f"api key {key_id} revoked")


@cli.command("end-sessions")
def end_all_sessions(email: str) -> None:
    """End every session of an account (a compromised account's kill switch)."""

    async def work(runtime: Any) -> int | None:
        from tessera.core.audit import record

        async with identity_session(runtime) as (session, state):
            user = await IdentityRepository(session).get_user_by_email(normalise_email(email))
            if user is None:
                return None
            ended = await end_sessions(session, state, user.id, reason="admin")
            await record(
                session,
                "admin.sessions_revoked",
                actor_type="system",
                user_id=user.id,
                target_type="user",
                target_id=user.id,
                details={"sessions_ended": len(ended), "via": "cli"},
            )
            return len(ended)

    ended = run_with_runtime(work)
    if ended is None:
        typer.echo(f"no account {email}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{ended} session(s) ended for {email}")
