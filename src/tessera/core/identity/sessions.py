"""Sessions: issuing token pairs, rotating refresh tokens, ending sessions, and the per-request
check that an access token's session is still alive."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.audit import record
from tessera.core.context import current_request
from tessera.core.db.base import utcnow
from tessera.core.errors import Forbidden, Unauthorized
from tessera.core.identity.failures import (
    INVALID_CREDENTIALS,
    KeepChanges,
    invalid_refresh,
)
from tessera.core.identity.jwt_tokens import (
    ACCESS_TYPE,
    AccessClaims,
    InvalidAccessToken,
    access_type_of,
    encode_access,
    looks_like_jwt,
)
from tessera.core.identity.models import AuthSession, User
from tessera.core.identity.repository import IdentityRepository
from tessera.core.identity.secret_tokens import new_secret, sha256_hex
from tessera.core.identity.session_cache import REVOKED, alive
from tessera.core.identity.state import IdentityState

MAX_REFRESH_TOKEN_LENGTH = 256

# How the user of a live session is read when the session cache vouches for it (by id); the
# default is a primary-key lookup, `/auth/me` reads the user and its profile fields at once.
UserLoader = Callable[[str], Awaitable[User | None]]


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    session_id: str


def _seconds_left(until: datetime, now: datetime) -> int:
    return max(1, int((until - now).total_seconds()))


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_in: int
    session_id: str
    user_id: str


async def _mint_access(
    repo: IdentityRepository, state: IdentityState, auth_session: AuthSession, now: datetime
) -> AccessToken:
    """A new access token for the session; the previous one becomes stale."""
    ttl = min(state.access_ttl, auth_session.expires_at - now)
    jti = str(uuid.uuid4())
    access, expires_at = encode_access(
        state.jwt,
        user_id=auth_session.user_id,
        session_id=auth_session.id,
        jti=jti,
        now=now,
        ttl=ttl,
    )
    await repo.rotate_session(auth_session.id, access_jti=jti, now=now)
    await state.sessions.set_current(
        auth_session.id, auth_session.user_id, jti, _seconds_left(auth_session.expires_at, now)
    )
    return AccessToken(
        access, _seconds_left(expires_at, now), auth_session.id, auth_session.user_id
    )


async def _mint(
    repo: IdentityRepository, state: IdentityState, auth_session: AuthSession, now: datetime
) -> TokenPair:
    """A new access token for the session and a new refresh token in its family."""
    access = await _mint_access(repo, state, auth_session, now)
    refresh = new_secret()
    await repo.add_refresh_token(auth_session.id, sha256_hex(refresh))
    return TokenPair(access.token, refresh, access.expires_in, auth_session.id)


def seconds_left(auth_session: AuthSession) -> int:
    return _seconds_left(auth_session.expires_at, utcnow())


async def refresh_cookie_session(session: AsyncSession, refresh_token: str) -> AuthSession | None:
    """The live session whose current (unused) refresh token this is, or None."""
    if not refresh_token or len(refresh_token) > MAX_REFRESH_TOKEN_LENGTH:
        return None
    found = await IdentityRepository(session).unused_refresh_token_session(
        sha256_hex(refresh_token)
    )
    if found is None or found.revoked_at is not None or found.expires_at <= utcnow():
        return None
    return found


async def reissue_access(
    session: AsyncSession, state: IdentityState, session_id: str
) -> AccessToken | None:
    """A fresh access token for a live session (the refresh cookie's transparent refresh);
    None if the session ended meanwhile."""
    repo = IdentityRepository(session)
    auth_session = await repo.get_session(session_id)
    now = utcnow()
    if (
        auth_session is None
        or auth_session.revoked_at is not None
        or auth_session.expires_at <= now
    ):
        return None
    return await _mint_access(repo, state, auth_session, now)


async def open_session(
    session: AsyncSession, state: IdentityState, user: User, *, method: str = "password"
) -> TokenPair:
    now = utcnow()
    meta = current_request()
    repo = IdentityRepository(session)
    auth_session = await repo.add_session(
        AuthSession(
            user_id=user.id,
            access_jti="",
            created_at=now,
            last_used_at=now,
            expires_at=now + state.session_lifetime,
            auth_method=method,
            ip_address=meta.ip_address,
            user_agent=meta.user_agent,
        )
    )
    return await _mint(repo, state, auth_session, now)


async def end_sessions(
    session: AsyncSession,
    state: IdentityState,
    user_id: str,
    *,
    reason: str,
    only: str | None = None,
    keep: str | None = None,
) -> list[str]:
    """Revoke in the database and tombstone in the cache before the commit: the very next
    request with any of these sessions' tokens fails, on every replica."""
    ids = await IdentityRepository(session).revoke_sessions(
        user_id=user_id, now=utcnow(), reason=reason, only=only, keep=keep
    )
    await state.sessions.revoke(ids)
    return ids


async def rotate_refresh_token(
    session: AsyncSession, state: IdentityState, refresh_token: str
) -> TokenPair:
    """Single use: the winner of any race gets a new pair; presenting a used token again ends
    the whole session (its family), so a thief and the owner both lose it."""
    if looks_like_jwt(refresh_token):
        if access_type_of(refresh_token) == ACCESS_TYPE:
            raise Unauthorized("Invalid token type", code="invalid_token_type")
        raise invalid_refresh()
    if not refresh_token or len(refresh_token) > MAX_REFRESH_TOKEN_LENGTH:
        raise invalid_refresh()
    now = utcnow()
    repo = IdentityRepository(session)
    token_hash = sha256_hex(refresh_token)
    won = await repo.claim_refresh_token(token_hash, now)
    auth_session = await repo.refresh_token_session(token_hash)
    if auth_session is None:
        raise invalid_refresh()
    if not won:
        if auth_session.revoked_at is None:
            await end_sessions(
                session, state, auth_session.user_id, reason="refresh_reuse", only=auth_session.id
            )
            await record(
                session,
                "auth.refresh_reuse_detected",
                actor_type="system",
                user_id=auth_session.user_id,
                target_type="session",
                target_id=auth_session.id,
            )
            raise KeepChanges(invalid_refresh())
        raise invalid_refresh()
    if auth_session.revoked_at is not None or auth_session.expires_at <= now:
        raise invalid_refresh()
    user = await repo.get_user(auth_session.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("User not found or inactive", code="inactive_user")
    pair = await _mint(repo, state, auth_session, now)
    await record(
        session, "auth.refresh", actor_id=user.id, target_type="session", target_id=auth_session.id
    )
    return pair


async def authenticate_access(
    session: AsyncSession, state: IdentityState, token: str, load: UserLoader | None = None
) -> tuple[User, AccessClaims]:
    """The user behind a Bearer access token whose session is alive and current."""
    try:
        claims = state.access_tokens.decode(token)
    except InvalidAccessToken as exc:
        raise Unauthorized(INVALID_CREDENTIALS, code="invalid_token") from exc
    return await authenticate_claims(session, state, claims, load), claims


async def authenticate_claims(
    session: AsyncSession,
    state: IdentityState,
    claims: AccessClaims,
    load: UserLoader | None = None,
) -> User:
    """The user behind decoded access-token claims whose session is alive and current."""
    cached = await state.sessions.get(claims.session_id)
    if cached == REVOKED:
        raise Unauthorized("Session has ended", code="session_ended")
    repo = IdentityRepository(session)
    user: User | None
    if cached == alive(claims.user_id, claims.jti):
        user = await (load or repo.get_user)(claims.user_id)
    else:  # not cached, or cached for a newer token: the database decides
        row = await repo.session_with_user(claims.session_id)
        now = utcnow()
        if row is None or row[0].id != claims.user_id or row[3] or row[2] <= now:
            raise Unauthorized("Session has ended", code="session_ended")
        if row[1] != claims.jti:
            raise Unauthorized("Access token has been superseded", code="token_superseded")
        await state.sessions.remember(
            claims.session_id, claims.user_id, claims.jti, _seconds_left(row[2], now)
        )
        user = row[0]
    if user is None:
        raise Unauthorized(INVALID_CREDENTIALS, code="invalid_token")
    if not user.is_active:
        raise Forbidden("Account is inactive", code="inactive_user")
    return user
