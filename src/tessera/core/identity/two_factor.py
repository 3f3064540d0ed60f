"""TOTP two-factor (RFC 6238, pyotp): set-up, enabling, the login's second step, backup codes.

- The shared secret is stored encrypted (AES-GCM, key derived from SECRET_KEY): unlike a
  password it must be read back to check a code.
- A code is accepted once: the time step it belongs to is recorded with a conditional update,
  so a replay inside its 30-second window, or a racing second request, is refused.
- Codes are throttled per account (`TESSERA_TWO_FACTOR_LIMIT`), before anything is checked.
- Ten backup codes are shown once and kept as HMACs; each works once.
- Every step writes an audit row (`auth.2fa_*`); a failed code's row commits (KeepChanges).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyotp
import segno
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.audit import record
from tessera.core.db.base import utcnow
from tessera.core.errors import BadRequest, Unauthorized
from tessera.core.identity.failures import KeepChanges
from tessera.core.identity.jwt_tokens import (
    InvalidAccessToken,
    decode_challenge,
    encode_challenge,
)
from tessera.core.identity.models import User
from tessera.core.identity.repository import IdentityRepository
from tessera.core.identity.sessions import TokenPair, open_session
from tessera.core.identity.state import IdentityState
from tessera.core.ratelimit import RateLimiter

CHALLENGE_TTL = timedelta(minutes=5)
BACKUP_CODES = 10
TOTP_DIGITS = 6  # pyotp's default, what every authenticator app shows
VALID_WINDOW = 1  # the previous and next 30-second step too: clocks drift
SECRET_VERSION = "v1"


class InvalidCode(Unauthorized):
    code = "invalid_2fa_code"
    detail = "Invalid or already used two-factor code"


@dataclass(frozen=True)
class Setup:
    secret: str
    otpauth_uri: str
    qr_svg: str


# The secret at rest ---------------------------------------------------------------------------


def _key(state: IdentityState) -> bytes:
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=b"tessera totp secret").derive(
        state.jwt.secret.encode()
    )


def _seal(state: IdentityState, user_id: str, secret: str) -> str:
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(_key(state)).encrypt(nonce, secret.encode(), user_id.encode())
    return f"{SECRET_VERSION}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def _open(state: IdentityState, user: User) -> str | None:
    if not user.totp_secret or not user.totp_secret.startswith(f"{SECRET_VERSION}:"):
        return None
    raw = base64.urlsafe_b64decode(user.totp_secret.split(":", 1)[1])
    return AESGCM(_key(state)).decrypt(raw[:12], raw[12:], user.id.encode()).decode()


def _backup_hash(state: IdentityState, code: str) -> str:
    normalised = code.replace("-", "").replace(" ", "").lower()
    return hmac.new(_key(state), normalised.encode(), hashlib.sha256).hexdigest()


def _new_backup_code() -> str:
    raw = secrets.token_hex(5)  # 40 bits, single use, throttled
    return f"{raw[:5]}-{raw[5:]}"


# Checking a code ------------------------------------------------------------------------------


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS)
    if not (code.isascii() and code.isdigit() and len(code) == TOTP_DIGITS):
        return None
    for offset in range(-VALID_WINDOW, VALID_WINDOW + 1):
        moment = now + timedelta(seconds=offset * totp.interval)
        if hmac.compare_digest(totp.at(moment), code):
            return int(totp.timecode(moment))
    return None


async def _accept_code(
    session: AsyncSession,
    state: IdentityState,
    limiter: RateLimiter,
    user: User,
    code: str,
    *,
    allow_backup: bool,
    secret: str | None = None,
) -> str | None:
    """How the code passed ("totp" or "backup_code"; it is spent now), or None."""
    await limiter.enforce("two_factor_account", state.settings.two_factor_limit, user.id)
    secret = secret or _open(state, user)
    repo = IdentityRepository(session)
    code = code.strip()
    if secret is not None:
        step = _matching_step(secret, code, datetime.now(UTC))
        if step is not None and await repo.claim_totp_step(user.id, step):
            return "totp"
    looks_like_totp = code.isascii() and code.isdigit() and len(code) == TOTP_DIGITS
    backup = allow_backup and not looks_like_totp
    if backup and await repo.claim_backup_code(user.id, _backup_hash(state, code), utcnow()):
        return "backup_code"
    return None


async def _refuse(session: AsyncSession, user: User, step: str) -> KeepChanges:
    await record(
        session,
        "auth.2fa_failed",
        actor_id=user.id,
        target_type="user",
        target_id=user.id,
        details={"step": step},
    )
    return KeepChanges(InvalidCode())


# The flows ------------------------------------------------------------------------------------


async def setup(session: AsyncSession, state: IdentityState, user: User) -> Setup:
    """A new pending secret (replacing any earlier pending one); live only once enabled."""
    if user.totp_enabled:
        raise BadRequest("Two-factor authentication is already on", code="2fa_already_enabled")
    secret = pyotp.random_base32()
    user.totp_secret = _seal(state, user.id, secret)
    user.totp_last_step = None
    uri = pyotp.TOTP(secret).provisioning_uri(
        name=user.email, issuer_name=state.settings.two_factor_issuer
    )
    await record(session, "auth.2fa_setup", actor_id=user.id, target_type="user", target_id=user.id)
    svg = segno.make(uri, error="m").svg_inline(scale=4)
    return Setup(secret=secret, otpauth_uri=uri, qr_svg=svg)


async def enable(
    session: AsyncSession, state: IdentityState, limiter: RateLimiter, user: User, code: str
) -> list[str]:
    """Turn two-factor on with a valid code from the app; the ten backup codes, once."""
    if user.totp_enabled:
        raise BadRequest("Two-factor authentication is already on", code="2fa_already_enabled")
    secret = _open(state, user)
    if secret is None:
        raise BadRequest("Set up two-factor authentication first", code="2fa_not_set_up")
    if await _accept_code(session, state, limiter, user, code, allow_backup=False) is None:
        raise await _refuse(session, user, "enable")
    user.totp_enabled = True
    codes = [_new_backup_code() for _ in range(BACKUP_CODES)]
    await IdentityRepository(session).replace_backup_codes(
        user.id, [_backup_hash(state, c) for c in codes]
    )
    await record(
        session, "auth.2fa_enabled", actor_id=user.id, target_type="user", target_id=user.id
    )
    return codes


async def disable(
    session: AsyncSession,
    state: IdentityState,
    limiter: RateLimiter,
    user: User,
    *,
    password: str,
    code: str,
) -> None:
    """Turn two-factor off: the password and a code (or a backup code) are both needed."""
    if not user.totp_enabled:
        raise BadRequest("Two-factor authentication is not on", code="2fa_not_enabled")
    await limiter.enforce("password_change", state.settings.login_account_limit, user.id)
    ok, _ = await state.hasher.verify(password, user.hashed_password)
    if not ok:
        raise BadRequest("Current password is incorrect", code="incorrect_password")
    if await _accept_code(session, state, limiter, user, code, allow_backup=True) is None:
        raise await _refuse(session, user, "disable")
    user.totp_enabled = False
    user.totp_secret = None
    user.totp_last_step = None
    await IdentityRepository(session).replace_backup_codes(user.id, [])
    await record(
        session, "auth.2fa_disabled", actor_id=user.id, target_type="user", target_id=user.id
    )


def challenge_token(state: IdentityState, user: User) -> str:
    return encode_challenge(state.jwt, user_id=user.id, now=utcnow(), ttl=CHALLENGE_TTL)


async def verify_login(
    session: AsyncSession,
    state: IdentityState,
    limiter: RateLimiter,
    *,
    token: str,
    code: str,
) -> tuple[User, TokenPair]:
    """The login's second step: a live challenge and a good code open the session."""
    try:
        user_id = decode_challenge(state.jwt, token)
    except InvalidAccessToken as exc:
        raise Unauthorized(
            "Invalid or expired two-factor token; log in again", code="invalid_2fa_token"
        ) from exc
    user = await IdentityRepository(session).get_user(user_id)
    if user is None or not user.is_active or not user.totp_enabled:
        raise Unauthorized(
            "Invalid or expired two-factor token; log in again", code="invalid_2fa_token"
        )
    method = await _accept_code(session, state, limiter, user, code, allow_backup=True)
    if method is None:
        raise await _refuse(session, user, "login")
    pair = await open_session(session, state, user, method=f"password+{method}"[:20])
    left = await IdentityRepository(session).backup_codes_left(user.id)
    await record(
        session,
        "auth.login",
        actor_id=user.id,
        target_type="session",
        target_id=pair.session_id,
        details={"second_factor": method, "backup_codes_left": left},
    )
    return user, pair
