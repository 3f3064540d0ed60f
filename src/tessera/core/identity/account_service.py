"""The signed-in user's own account: profile, password, password reset, sessions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.audit import record
from tessera.core.context import current_request
from tessera.core.db.base import utcnow
from tessera.core.db.session import release_connection
from tessera.core.errors import BadRequest, NotFound
from tessera.core.identity.auth_service import normalise_email
from tessera.core.identity.mailer import Mail
from tessera.core.identity.models import AuthSession, PasswordResetToken, User
from tessera.core.identity.repository import IdentityRepository
from tessera.core.identity.secret_tokens import new_secret, sha256_hex
from tessera.core.identity.sessions import end_sessions
from tessera.core.identity.state import IdentityState
from tessera.core.ratelimit import RateLimiter

INVALID_RESET_TOKEN = "Invalid or expired reset token"


def _ip() -> str:
    return current_request().ip_address or "unknown"


async def update_profile(session: AsyncSession, user: User, *, full_name: str | None) -> User:
    if full_name != user.full_name:
        user.full_name = full_name
        await record(
            session,
            "user.updated",
            actor_id=user.id,
            target_type="user",
            target_id=user.id,
            details={"fields": ["full_name"]},
        )
    return user


async def change_password(
    session: AsyncSession,
    state: IdentityState,
    limiter: RateLimiter,
    user: User,
    *,
    current_session_id: str,
    current_password: str,
    new_password: str,
) -> int:
    """Set a new password; every other session ends. Returns how many ended. Both hashes
    run with the connection handed back (the request has only read the caller so far)."""
    await limiter.enforce("password_change", state.settings.login_account_limit, user.id)
    await release_connection(session)
    ok, _ = await state.hasher.verify(current_password, user.hashed_password)
    if not ok:
        raise BadRequest("Current password is incorrect", code="incorrect_password")
    hashed = await state.hasher.hash(new_password)
    session.add(user)
    user.hashed_password = hashed
    ended = await end_sessions(
        session, state, user.id, reason="password_changed", keep=current_session_id
    )
    await IdentityRepository(session).retire_reset_tokens(user.id, utcnow())
    await record(
        session,
        "auth.password_changed",
        actor_id=user.id,
        target_type="user",
        target_id=user.id,
        details={"sessions_ended": len(ended)},
    )
    return len(ended)


async def request_password_reset(
    session: AsyncSession, state: IdentityState, limiter: RateLimiter, *, email: str
) -> str | None:
    """Record the request; returns the account to send a link to, after commit, if any.

    The same work whether or not the address has an account (see `reset_links`): the link
    itself is made and mailed outside the request.
    """
    settings = state.settings
    email = normalise_email(email)
    await limiter.enforce("reset_ip", settings.password_reset_ip_limit, _ip())
    await limiter.enforce("reset_account", settings.password_reset_account_limit, email)
    user = await IdentityRepository(session).get_user_by_email(email)
    send = user is not None and user.is_active
    await record(
        session,
        "auth.password_reset_requested",
        actor_type="anonymous",
        user_id=user.id if user else None,
        target_type="user",
        target_id=user.id if user else None,
        details={"email": email, "sent": send},
    )
    return user.id if user is not None and send else None


async def issue_reset_link(
    session: AsyncSession, state: IdentityState, user_id: str
) -> Mail | None:
    """A new reset token for an active account (only the newest link works), and its mail."""
    settings = state.settings
    repo = IdentityRepository(session)
    user = await repo.get_user(user_id)
    if user is None or not user.is_active:
        return None
    now = utcnow()
    await repo.retire_reset_tokens(user.id, now)
    token = new_secret()
    minutes = settings.password_reset_expire_minutes
    await repo.add_reset_token(
        PasswordResetToken(
            user_id=user.id,
            token_hash=sha256_hex(token),
            expires_at=now + timedelta(minutes=minutes),
        )
    )
    link = f"{settings.frontend_url.rstrip('/')}/reset-password#token={token}"
    return Mail(
        to=user.email,
        subject="Reset your Tessera password",
        body=(
            f"Someone asked to reset the password of your Tessera account.\n\n"
            f"Open this link within {minutes} minutes to choose a new password:\n{link}\n\n"
            f"Or send this code to POST /auth/password-reset/confirm:\n{token}\n\n"
            f"If it was not you, ignore this message; your password has not changed.\n"
        ),
    )


async def confirm_password_reset(
    session: AsyncSession,
    state: IdentityState,
    limiter: RateLimiter,
    *,
    token: str,
    new_password: str,
) -> None:
    await limiter.enforce("reset_ip", state.settings.password_reset_ip_limit, _ip())
    # Hashed before the first statement: the token claim below is a write, and no connection
    # may wait on the hashing slots (an unknown token costs the same, and is rate-limited).
    hashed = await state.hasher.hash(new_password)
    repo = IdentityRepository(session)
    user_id = await repo.claim_reset_token(sha256_hex(token), utcnow())
    user = await repo.get_user(user_id) if user_id else None
    if user is None:
        raise BadRequest(INVALID_RESET_TOKEN, code="invalid_reset_token")
    user.hashed_password = hashed
    await repo.retire_reset_tokens(user.id, utcnow())
    ended = await end_sessions(session, state, user.id, reason="password_reset")
    await record(
        session,
        "auth.password_reset",
        actor_id=user.id,
        target_type="user",
        target_id=user.id,
        details={"sessions_ended": len(ended)},
    )


async def list_sessions(session: AsyncSession, user: User) -> Sequence[AuthSession]:
    return await IdentityRepository(session).alive_sessions(user.id, utcnow())


async def end_own_session(
    session: AsyncSession, state: IdentityState, user: User, session_id: str
) -> None:
    """Another user's session answers 404, exactly like one that does not exist."""
    target = await IdentityRepository(session).get_session(session_id)
    if target is None or target.user_id != user.id or target.revoked_at is not None:
        raise NotFound("Session not found", code="session_not_found")
    await end_sessions(session, state, user.id, reason="revoked_by_user", only=session_id)
    await record(
        session,
        "auth.session_revoked",
        actor_id=user.id,
        target_type="session",
        target_id=session_id,
    )
