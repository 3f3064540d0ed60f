"""First-run accounts: the first admin (`make run`), `tessera create-admin`, `tessera seed`.

No account ever exists by default. The first admin's password comes from
TESSERA_ADMIN_PASSWORD or is generated and printed once; it is never logged or stored in
plain text.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.audit import record
from tessera.core.identity.auth_service import create_user, normalise_email
from tessera.core.identity.passwords import password_problem
from tessera.core.identity.repository import IdentityRepository
from tessera.core.identity.state import IdentityState, state_of

DEFAULT_ADMIN_EMAIL = "admin@example.com"
DEMO_TESTER_EMAIL = "tester@example.com"


def generate_password() -> str:
    return secrets.token_urlsafe(18)  # 144 bits, 24 characters


class PasswordRefused(ValueError):
    pass


def check_password(password: str) -> str:
    problem = password_problem(password)
    if problem:
        raise PasswordRefused(problem)
    return password


@dataclass(frozen=True)
class Outcome:
    email: str
    created: bool
    password: str | None  # set only when this call chose it, so it can be printed once


@asynccontextmanager
async def identity_session(runtime: Any) -> AsyncIterator[tuple[AsyncSession, IdentityState]]:
    async with runtime.db.session() as session:
        yield session, state_of(runtime)


async def ensure_user(
    session: AsyncSession,
    state: IdentityState,
    *,
    email: str,
    password: str | None,
    is_admin: bool,
    full_name: str | None = None,
    promote: bool = True,
) -> Outcome:
    """Create the account if missing (password given or generated); if it exists, promote it
    to admin when asked and leave its password alone."""
    email = normalise_email(email)
    repo = IdentityRepository(session)
    existing = await repo.get_user_by_email(email)
    if existing is not None:
        if is_admin and promote and not existing.is_admin:
            existing.is_admin = True
            await record(
                session,
                "admin.user_updated",
                actor_type="system",
                user_id=existing.id,
                target_type="user",
                target_id=existing.id,
                details={"changes": {"is_admin": [False, True]}, "via": "cli"},
            )
        return Outcome(email, False, None)
    generated = password is None
    chosen = generate_password() if password is None else check_password(password)
    user = await create_user(
        session, state, email=email, password=chosen, full_name=full_name, is_admin=is_admin
    )
    await record(
        session,
        "user.created",
        actor_type="system",
        user_id=user.id,
        target_type="user",
        target_id=user.id,
        details={"email": user.email, "is_admin": is_admin, "via": "cli"},
    )
    return Outcome(email, True, chosen if generated else None)


async def create_first_admin(runtime: Any) -> None:
    """`on_bootstrap`: on an empty database, create the first admin and print its password
    once (unless TESSERA_ADMIN_PASSWORD chose it). Does nothing once any account exists."""
    settings = runtime.settings
    async with identity_session(runtime) as (session, state):
        if await IdentityRepository(session).has_users():
            typer.echo("identity: accounts exist; no admin created")
            return
        password = settings.admin_password.get_secret_value() if settings.admin_password else None
        outcome = await ensure_user(
            session,
            state,
            email=settings.admin_email or DEFAULT_ADMIN_EMAIL,
            password=password,
            is_admin=True,
        )
    typer.echo(f"identity: created the first admin {outcome.email}")
    if outcome.password:
        typer.echo(f"identity: its password (shown once, store it now): {outcome.password}")
