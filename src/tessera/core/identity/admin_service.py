"""Admin work on accounts: find, inspect, change flags, end sessions, read the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.audit import record
from tessera.core.errors import BadRequest, NotFound
from tessera.core.identity.models import User
from tessera.core.identity.repository import IdentityRepository
from tessera.core.identity.sessions import end_sessions
from tessera.core.identity.state import IdentityState

EDITABLE = ("is_active", "is_admin", "full_name")


async def get_user(session: AsyncSession, user_id: str) -> User:
    user = await IdentityRepository(session).get_user(user_id)
    if user is None:
        raise NotFound("User not found", code="user_not_found")
    return user


async def list_users(
    session: AsyncSession, *, search: str | None, limit: int, offset: int
) -> tuple[Sequence[User], int]:
    return await IdentityRepository(session).list_users(search=search, limit=limit, offset=offset)


async def update_user(
    session: AsyncSession, state: IdentityState, admin: User, user_id: str, changes: dict[str, Any]
) -> User:
    """Apply `changes` (a subset of is_active, is_admin, full_name). Deactivating ends every
    session; demotion and deactivation take effect on the user's next request because the
    flags are read from the database on every request."""
    user = await get_user(session, user_id)
    if user.id == admin.id and (
        changes.get("is_admin") is False or changes.get("is_active") is False
    ):
        raise BadRequest(
            "Admins cannot remove their own admin rights or deactivate themselves",
            code="self_lockout",
        )
    diff = {
        field: [getattr(user, field), value]
        for field, value in changes.items()
        if field in EDITABLE and getattr(user, field) != value
    }
    for field, (_, value) in diff.items():
        setattr(user, field, value)
    ended: list[str] = []
    if diff.get("is_active") == [True, False]:
        ended = await end_sessions(session, state, user.id, reason="deactivated")
    if diff:
        await record(
            session,
            "admin.user_updated",
            actor_id=admin.id,
            user_id=user.id,
            target_type="user",
            target_id=user.id,
            details={"changes": diff, "sessions_ended": len(ended)},
        )
    return user


async def end_user_sessions(
    session: AsyncSession, state: IdentityState, admin: User, user_id: str
) -> int:
    user = await get_user(session, user_id)
    ended = await end_sessions(session, state, user.id, reason="admin")
    await record(
        session,
        "admin.sessions_revoked",
        actor_id=admin.id,
        user_id=user.id,
        target_type="user",
        target_id=user.id,
        details={"sessions_ended": len(ended)},
    )
    return len(ended)
