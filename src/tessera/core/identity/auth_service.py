"""Accounts: register, log in (throttled before any hashing), log out.

No connection is held while a password is hashed or checked (~28 ms of argon2id): a burst of
logins would otherwise park pool connections (and, on SQLite, the write lock) behind the
hashing slots until every other request waits for a connection. Registration hashes before
its first statement; login looks the account up, hands the connection back
(`release_connection`), checks the password, then writes.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.audit import record
from tessera.core.context import current_request
from tessera.core.db.session import release_connection
from tessera.core.errors import BadRequest, Forbidden
from tessera.core.identity.failures import KeepChanges, incorrect_credentials
from tessera.core.identity.models import User
from tessera.core.identity.repository import IdentityRepository
from tessera.core.identity.sessions import TokenPair, end_sessions, open_session
from tessera.core.identity.state import IdentityState
from tessera.core.ratelimit import RateLimiter

EMAIL_TAKEN = "Email already registered"


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _ip() -> str:
    return current_request().ip_address or "unknown"


async def create_user(
    session: AsyncSession,
    state: IdentityState,
    *,
    email: str,
    password: str | None,
    full_name: str | None = None,
    is_admin: bool = False,
) -> User:
    """Create an account and run the `user_registered` hooks in the same transaction.
    The password must already satisfy the policy (the schemas check it). It is hashed before
    the first statement, so a caller that has not used the session yet holds no connection
    meanwhile (a taken e-mail costs the same hash: it answers in the same time, too)."""
    hashed = await state.hasher.hash(password) if password is not None else None
    repo = IdentityRepository(session)
    email = normalise_email(email)
    if await repo.get_user_by_email(email) is not None:
        raise BadRequest(EMAIL_TAKEN, code="email_taken")
    try:
        user = await repo.add_user(
            User(email=email, hashed_password=hashed, full_name=full_name, is_admin=is_admin)
        )
    except IntegrityError as exc:  # a concurrent registration of the same e-mail won
        raise BadRequest(EMAIL_TAKEN, code="email_taken") from exc
    await state.hooks.user_registered(session, user)
    return user


async def register(
    session: AsyncSession,
    state: IdentityState,
    limiter: RateLimiter,
    *,
    email: str,
    password: str,
    full_name: str | None,
) -> User:
    await limiter.enforce("register_ip", state.settings.register_ip_limit, _ip())
    user = await create_user(session, state, email=email, password=password, full_name=full_name)
    await record(
        session,
        "auth.register",
        actor_id=user.id,
        target_type="user",
        target_id=user.id,
        details={"email": user.email},
    )
    return user


async def login(
    session: AsyncSession,
    state: IdentityState,
    limiter: RateLimiter,
    *,
    email: str,
    password: str,
) -> tuple[User, TokenPair | None]:
    """Both limits are taken atomically before the password is looked at, so parallel
    guesses cannot slip past them; unknown e-mails are throttled and hashed like known ones.
    No pair (None) when the account has two-factor on: `two_factor.verify_login` opens it."""
    email = normalise_email(email)
    settings = state.settings
    await limiter.enforce("login_ip", settings.login_ip_limit, _ip())
    await limiter.enforce("login_account", settings.login_account_limit, email)
    repo = IdentityRepository(session)
    user = await repo.get_user_by_email(email)
    await release_connection(session)  # nothing written yet: check the password without it
    ok, upgraded = await state.hasher.verify(password, user.hashed_password if user else None)
    if user is not None:
        session.add(user)  # attached again: the writes below open a new transaction
    if user is None or not ok:
        await record(
            session,
            "auth.login_failed",
            actor_type="anonymous",
            user_id=user.id if user else None,
            target_type="user",
            target_id=user.id if user else None,
            details={"email": email[:320]},
        )
        raise KeepChanges(incorrect_credentials())
    if not user.is_active:
        await record(session, "auth.login_denied", actor_id=user.id, details={"reason": "inactive"})
        raise KeepChanges(Forbidden("Account is inactive", code="inactive_user"))
    if upgraded:
        user.hashed_password = upgraded  # legacy bcrypt or weaker argon2 parameters
    if settings.email_verification_required and not user.email_verified:
        await record(
            session, "auth.login_denied", actor_id=user.id, details={"reason": "email_unverified"}
        )
        raise KeepChanges(
            Forbidden("Verify your e-mail address before signing in", code="email_not_verified")
        )
    if user.totp_enabled:  # the password was right; the second factor comes next
        await record(
            session, "auth.2fa_challenged", actor_id=user.id, target_type="user", target_id=user.id
        )
        return user, None
    pair = await open_session(session, state, user)
    await record(
        session,
        "auth.login",
        actor_id=user.id,
        target_type="session",
        target_id=pair.session_id,
        details={"rehashed": bool(upgraded)},
    )
    return user, pair


async def logout(session: AsyncSession, state: IdentityState, user: User, session_id: str) -> None:
    await end_sessions(session, state, user.id, reason="logout", only=session_id)
    await record(
        session, "auth.logout", actor_id=user.id, target_type="session", target_id=session_id
    )


async def logout_all(session: AsyncSession, state: IdentityState, user: User) -> int:
    ended = await end_sessions(session, state, user.id, reason="logout_all")
    await record(
        session,
        "auth.logout_all",
        actor_id=user.id,
        target_type="user",
        target_id=user.id,
        details={"sessions": len(ended)},
    )
    return len(ended)
