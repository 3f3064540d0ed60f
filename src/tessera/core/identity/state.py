"""The identity part's long-lived objects, built once per process at start-up and provided on
the runtime (`runtime.get(IdentityState)`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from tessera.core.config import Settings
from tessera.core.identity.api_key_cache import ApiKeyCache, NoApiKeyCache, RedisApiKeyCache
from tessera.core.identity.jwt_tokens import LEEWAY_SECONDS, AccessTokenVerifier, JwtConfig
from tessera.core.identity.mailer import Mailer, build_mailer
from tessera.core.identity.oidc import OidcClient
from tessera.core.identity.passwords import PasswordHasher
from tessera.core.identity.session_cache import (
    NoSessionCache,
    RedisSessionCache,
    SessionCache,
)
from tessera.core.modules import Hooks

if TYPE_CHECKING:
    from tessera.core.runtime import Runtime


@dataclass
class IdentityState:
    settings: Settings
    hasher: PasswordHasher
    sessions: SessionCache
    api_keys: ApiKeyCache
    mailer: Mailer
    jwt: JwtConfig
    access_tokens: AccessTokenVerifier
    hooks: Hooks  # the enabled parts' declared hooks (registration, profile, sign-up)
    oidc: OidcClient  # caches the OpenID providers' metadata and keys

    @property
    def access_ttl(self) -> timedelta:
        return timedelta(minutes=self.settings.access_token_expire_minutes)

    @property
    def session_lifetime(self) -> timedelta:
        return timedelta(days=self.settings.refresh_token_expire_days)

    @classmethod
    def build(cls, runtime: Runtime) -> IdentityState:
        settings: Settings = runtime.settings
        tombstone_ttl = settings.access_token_expire_minutes * 60 + LEEWAY_SECONDS + 60
        # Shared by every replica, the worker and the CLI; without Redis, ask the database
        # every time (see session_cache and api_key_cache).
        sessions: SessionCache = NoSessionCache()
        api_keys: ApiKeyCache = NoApiKeyCache()
        if runtime.redis is not None:
            prefix = settings.redis_prefix
            gate = runtime.redis_gate
            sessions = RedisSessionCache(runtime.redis, prefix, tombstone_ttl, gate)
            api_keys = RedisApiKeyCache(runtime.redis, prefix, tombstone_ttl, gate)
        jwt = JwtConfig(
            secret=settings.jwt_secret(),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            max_lifetime_seconds=settings.access_token_expire_minutes * 60,
        )
        return cls(
            settings=settings,
            hasher=PasswordHasher(
                fast=settings.password_hash_fast, concurrency=settings.password_hash_slots
            ),
            sessions=sessions,
            api_keys=api_keys,
            mailer=build_mailer(settings),
            jwt=jwt,
            access_tokens=AccessTokenVerifier(jwt),
            hooks=runtime.hooks,
            oidc=OidcClient(),
        )


async def install(runtime: Runtime) -> None:
    """`on_startup` hook."""
    runtime.provide(IdentityState.build(runtime))


def state_of(runtime: Runtime) -> IdentityState:
    return runtime.get(IdentityState, IdentityState.build)


async def get_identity(request: Request) -> IdentityState:
    return state_of(request.app.state.runtime)


IdentityDep = Annotated[IdentityState, Depends(get_identity)]
