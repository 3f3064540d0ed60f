"""Seams other core parts use to react to identity events without identity importing them.

Hooks run inside the caller's transaction: if a hook fails, the registration rolls back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from tessera.core.identity.models import User

UserHook = Callable[[AsyncSession, "User"], Awaitable[None]]

_user_registered: list[UserHook] = []


def on_user_registered(hook: UserHook) -> UserHook:
    """Register `hook(session, user)` to run when an account is created (any way)."""
    if hook not in _user_registered:
        _user_registered.append(hook)
    return hook


async def user_registered(session: AsyncSession, user: User) -> None:
    for hook in _user_registered:
        await hook(session, user)
