"""Long-lived objects of the module (one set per process) and who is calling.

`TokensState` is built by the module's start-up hook and provided on the runtime.
`Actor` is the module's own, small view of the authenticated caller, so that services do not
depend on how the identity part represents principals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.db.base import utcnow
from tessera.core.db.engine import Database
from tessera.core.db.group_commit import GroupCommit
from tessera.modules.tokens.config import TokensConfig
from tessera.modules.tokens.filters import BloomService
from tessera.modules.tokens.keyring import KeyRing
from tessera.modules.tokens.repository import Spend, SpendOutcome, TokensRepository

ActorKind = Literal["api_key", "user", "anonymous"]


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    id: str
    role: str | None = None
    is_admin: bool = False

    @property
    def owner(self) -> str:
        """The ownership scope of receipts: "api_key:<id>" or "user:<id>"."""
        return f"{self.kind}:{self.id}"

    @property
    def user_id(self) -> str | None:
        return self.id if self.kind == "user" else None

    @property
    def api_key_id(self) -> str | None:
        return self.id if self.kind == "api_key" else None

    def audit_fields(self) -> dict[str, Any]:
        if self.kind == "anonymous":
            return {"actor_type": "anonymous", "actor_id": None}
        return {"actor_type": self.kind, "actor_id": self.id}


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
