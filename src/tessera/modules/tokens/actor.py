"""Who is calling, as the module's services see it: a small view of the authenticated caller,
so that services do not depend on how the identity part represents principals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

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
