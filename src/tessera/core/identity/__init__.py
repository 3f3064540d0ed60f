"""Accounts, sessions, tokens, API keys and admin (seed 004).

Other parts authenticate requests with the dependencies re-exported here (defined in
`tessera.core.identity.deps`): `CurrentUser`, `AdminUser`, `ApiKeyPrincipal(*roles)`,
`Caller(*roles, allow_users=True)`, `OptionalCaller(*roles)`, and create keys with
`api_keys.create_api_key`. They are loaded lazily so that importing the models does not pull
in FastAPI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tessera.core.identity.deps import (
        AdminUser,
        ApiKeyIdentity,
        ApiKeyPrincipal,
        Caller,
        CurrentUser,
        OptionalCaller,
        Principal,
    )

__all__ = [
    "AdminUser",
    "ApiKeyIdentity",
    "ApiKeyPrincipal",
    "Caller",
    "CurrentUser",
    "OptionalCaller",
    "Principal",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from tessera.core.identity import deps

        return getattr(deps, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
