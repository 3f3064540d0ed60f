"""The ledger part: wallet and admin routers, `tessera ledger check`, the job that releases
expired holds, and a USD wallet opened for every new account in the registration's own
transaction."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.identity.models import User
from tessera.core.jobs import Job, JobContext
from tessera.core.ledger import models
from tessera.core.ledger.cli import cli
from tessera.core.ledger.endpoints import admin_router, router
from tessera.core.ledger.service import Ledger
from tessera.core.ledger.wallet import WALLET_CURRENCY
from tessera.core.modules import ModuleSpec


async def open_wallet_on_registration(session: AsyncSession, user: User) -> None:
    await Ledger(session).open_wallet(user.id, WALLET_CURRENCY)


async def expire_holds(context: JobContext) -> None:
    await Ledger(context.session).expire_holds(context.now)


module = ModuleSpec(
    name="ledger",
    models=models,
    routers=[router, admin_router],
    jobs=[
        Job(
            "ledger.expire_holds",
            timedelta(minutes=1),
            expire_holds,
            "Release two-phase holds past their expiry",
        )
    ],
    cli=cli,
    on_user_registered=[open_wallet_on_registration],
)
