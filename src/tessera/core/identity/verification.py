"""E-mail verification: a single-use link mailed at registration and on request.

Only the newest link works; it proves the address once. `TESSERA_EMAIL_VERIFICATION_REQUIRED`
makes a verified address a condition of signing in with a password (off by default).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.audit import record
from tessera.core.context import current_request
from tessera.core.db.base import utcnow
from tessera.core.errors import BadRequest
from tessera.core.identity.auth_service import normalise_email
from tessera.core.identity.mailer import Mail
from tessera.core.identity.models import EmailVerificationToken, User
from tessera.core.identity.repository import IdentityRepository
from tessera.core.identity.secret_tokens import new_secret, sha256_hex
from tessera.core.identity.state import IdentityState
from tessera.core.ratelimit import RateLimiter

INVALID_VERIFICATION_TOKEN = "Invalid or expired verification link"


async def issue(session: AsyncSession, state: IdentityState, user: User) -> Mail:
    """A new link (earlier ones stop working); the mail to send after commit."""
    settings = state.settings
    repo = IdentityRepository(session)
    now = utcnow()
    await repo.retire_verification_tokens(user.id, now)
    token = new_secret()
    hours = settings.email_verification_expire_hours
    await repo.add_verification_token(
        EmailVerificationToken(
            user_id=user.id, token_hash=sha256_hex(token), expires_at=now + timedelta(hours=hours)
        )
    )
    link = f"{settings.frontend_url.rstrip('/')}/verify-email#token={token}"
    return Mail(
        to=user.email,
        subject="Confirm your Tessera e-mail address",
        body=(
            f"Open this link within {hours} hours to confirm your address:\n{link}\n\n"
            f"Or send this code to POST /auth/verify-email:\n{token}\n\n"
            f"If you did not create a Tessera account, ignore this message.\n"
        ),
    )


async def verify(
    session: AsyncSession, state: IdentityState, limiter: RateLimiter, *, token: str
) -> User:
    await limiter.enforce(
        "verify_ip", state.settings.password_reset_ip_limit, current_request().ip_address or "-"
    )
    repo = IdentityRepository(session)
    user_id = await repo.claim_verification_token(sha256_hex(token), utcnow())
    user = await repo.get_user(user_id) if user_id else None
    if user is None:
        raise BadRequest(INVALID_VERIFICATION_TOKEN, code="invalid_verification_token")
    user.email_verified = True
    await repo.retire_verification_tokens(user.id, utcnow())
    await record(
        session, "auth.email_verified", actor_id=user.id, target_type="user", target_id=user.id
    )
    return user


async def resend(
    session: AsyncSession, state: IdentityState, limiter: RateLimiter, *, email: str
) -> Mail | None:
    """Looks the same whether or not the address has an account (or is verified already)."""
    settings = state.settings
    email = normalise_email(email)
    ip = current_request().ip_address or "-"
    await limiter.enforce("resend_verification_ip", settings.password_reset_ip_limit, ip)
    await limiter.enforce("resend_verification", settings.resend_verification_limit, email)
    user = await IdentityRepository(session).get_user_by_email(email)
    mail = None
    if user is not None and user.is_active and not user.email_verified:
        mail = await issue(session, state, user)
    await record(
        session,
        "auth.verification_requested",
        actor_type="anonymous",
        user_id=user.id if user else None,
        target_type="user",
        target_id=user.id if user else None,
        details={"email": email, "sent": mail is not None},
    )
    return mail
