"""Long-lived objects of the module, one set per process: built by the module's start-up hook
and provided on the runtime (`runtime.get(TokensState)`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.db.base import utcnow
from tessera.core.db.engine import Database
from tessera.core.db.group_commit import GroupCommit
from tessera.modules.tokens.config import TokensConfig
from tessera.modules.tokens.filters import BloomService
from tessera.modules.tokens.keyring import KeyRing
from tessera.modules.tokens.repository import Spend, SpendOutcome, TokensRepository


@dataclass
class TokensState:
    config: TokensConfig
    keyring: KeyRing
    bloom: BloomService
    # Online redemptions: concurrent requests share one transaction (see GroupCommit).
    spends: GroupCommit[Spend, SpendOutcome]

    @classmethod
    def build(cls, config: TokensConfig, db: Database) -> TokensState:
        return cls(
            config=config,
            keyring=KeyRing(config.kek),
            bloom=BloomService(config),
            spends=GroupCommit(db, _write_spends),
        )


async def _write_spends(session: AsyncSession, spends: Sequence[Spend]) -> list[SpendOutcome]:
    return await TokensRepository(session).spend(spends, utcnow())
