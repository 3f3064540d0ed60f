"""Shared fixtures for the identity tests: apps with adjusted settings, direct DB edits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import select, update

from tessera.app import create_app
from tessera.core.audit.models import AuditLog
from tessera.core.identity.models import User
from tests.conftest import make_settings
from tests.helpers.oidc import provider

__all__ = ["provider"]

AppFactory = Callable[..., AbstractAsyncContextManager[tuple[Any, httpx2.AsyncClient]]]


@pytest.fixture
def app_with(database_url: str, tmp_path: Path) -> AppFactory:
    """`async with app_with(login_account_limit="3/minute") as (app, client): …`"""

    @asynccontextmanager
    async def factory(
        client_ip: str = "203.0.113.7", **overrides: Any
    ) -> AsyncIterator[tuple[Any, httpx2.AsyncClient]]:
        settings = make_settings(database_url, tmp_path, **overrides)
        application = create_app(settings)
        async with LifespanManager(application):
            transport = httpx2.ASGITransport(app=application, client=(client_ip, 50000))
            async with httpx2.AsyncClient(
                transport=transport, base_url="http://testserver"
            ) as http:
                yield application, http

    return factory


async def set_user_flags(runtime: Any, user_id: str, **values: Any) -> None:
    async with runtime.db.session() as session:
        await session.execute(update(User).where(User.id == user_id).values(**values))


async def audit_rows(runtime: Any, action: str | None = None) -> list[AuditLog]:
    async with runtime.db.session(write=False) as session:
        stmt = select(AuditLog).order_by(AuditLog.created_at, AuditLog.id)
        if action:
            stmt = stmt.where(AuditLog.action == action)
        return list(await session.scalars(stmt))
