"""The account as clients read it: `/auth/me`, the `user` of login and register answers.

The core fields, the two-factor and verification flags seed 001's client reads, and whatever
the enabled modules add through their `profile` hook (seed 001's `user_id`, `role`,
`trust_score`; seed 003's `name`, `isParent` …). Extra fields are harmless to every client;
missing ones break them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.identity.models import User
from tessera.core.identity.state import IdentityState

TOTP_METHOD = "totp"


def two_fa_method(user: User) -> str | None:
    return TOTP_METHOD if user.totp_enabled else None


def core_fields(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "full_name": user.full_name,
        "is_active": user.is_active,
        "is_admin": user.is_admin,
        "created_at": user.created_at,
        "email_verified": user.email_verified,
        "two_fa_enabled": user.totp_enabled,
        "two_fa_method": two_fa_method(user),
    }


def account(user: User, module_fields: dict[str, Any]) -> dict[str, Any]:
    """Modules add fields; they never replace a core one (`is_admin` means one thing)."""
    return {**module_fields, **core_fields(user)}


async def me(session: AsyncSession, state: IdentityState, user: User) -> dict[str, Any]:
    return account(user, await state.hooks.profile(session, user))
