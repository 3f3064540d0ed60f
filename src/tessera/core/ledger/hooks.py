"""Registration opens the user's USD wallet, in the registration's own transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.identity.hooks import on_user_registered
from tessera.core.identity.models import User
from tessera.core.ledger.service import Ledger
from tessera.core.ledger.wallet import WALLET_CURRENCY


async def open_wallet_on_registration(session: AsyncSession, user: User) -> None:
    await Ledger(session).open_wallet(user.id, WALLET_CURRENCY)


def install() -> None:
    on_user_registered(open_wallet_on_registration)
