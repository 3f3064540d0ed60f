"""The identity part's long-lived objects, built once per process at start-up and kept in
`runtime.extras["identity"]`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request

from tessera.core.config import Settings
from tessera.core.identity.api_key_cache import ApiKeyCache, NoApiKeyCache, RedisApiKeyCache
from tessera.core.identity.jwt_tokens import LEEWAY_SECONDS, JwtConfig
from tessera.core.identity.mailer import Mailer, build_mailer
from tessera.core.identity.passwords import PasswordHasher
from tessera.core.identity.session_cache import (
    NoSessionCache,
    RedisSessionCache,
    SessionCache,
)

EXTRAS_KEY = "identity"


@dataclass
class IdentityState:
    settings: Settings
    hasher: PasswordHasher
    sessions: SessionCache
    api_keys: ApiKeyCache
    mailer: Mailer
    jwt: JwtConfig

    @property
    def access_ttl(self) -> timedelta:
        return timedelta(minutes=self.settings.access_token_expire_minutes)

    @property
    def session_lifetime(self) -> timedelta:
        return timedelta(days=self.settings.refresh_token_expire_days)

    @classmethod
    def build(cls, runtime: Any) -> IdentityState:
        settings: Settings = runtime.settings
        tombstone_ttl = settings.access_token_expire_minutes * 60 + LEEWAY_SECONDS + 60
        # Shared by every replica, the worker and the CLI; without Redis, ask the database
        # every time (see session_cache and api_key_cache).
        sessions: SessionCache = NoSessionCache()
        api_keys: ApiKeyCache = NoApiKeyCache()
        if runtime.redis is not None:
            prefix = settings.redis_prefix
            sessions = RedisSessionCache(runtime.redis, prefix, tombstone_ttl)
            api_keys = RedisApiKeyCache(runtime.redis, prefix, tombstone_ttl)
        return cls(
            settings=settings,
            hasher=PasswordHasher(
                fast=settings.password_hash_fast, concurrency=settings.password_hash_concurrency
            ),
            sessions=sessions,
            api_keys=api_keys,
            mailer=build_mailer(settings),
            jwt=JwtConfig(
                secret=settings.jwt_secret(),
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
            ),
        )


async def install(runtime: Any) -> None:
    """`on_startup` hook."""
    runtime.extras[EXTRAS_KEY] = IdentityState.build(runtime)


def state_of(runtime: Any) -> IdentityState:
    state = runtime.extras.get(EXTRAS_KEY)
    if state is None:  # a process that skipped start-up hooks (a script, a test)
        state = runtime.extras[EXTRAS_KEY] = IdentityState.build(runtime)
    assert isinstance(state, IdentityState)
    return state


async def get_identity(request: Request) -> IdentityState:
    return state_of(request.app.state.runtime)


IdentityDep = Annotated[IdentityState, Depends(get_identity)]
