"""Access tokens: short-lived HS256 JWTs naming the user (`sub`) and the session (`sid`).

Decoding allows exactly one algorithm and requires every claim, so `alg: none`, a token
signed for another audience or issuer, a refresh or reset token, or one missing a claim is
refused the same way: `InvalidAccessToken`. So is one whose `exp` lies further ahead than the
configured access-token lifetime (plus the clock leeway): this service never issues one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

ALGORITHM = "HS256"
ALLOWED_ALGORITHMS = [ALGORITHM]
ACCESS_TYPE = "access"
REQUIRED_CLAIMS = ["sub", "sid", "jti", "typ", "iat", "exp", "iss", "aud"]
LEEWAY_SECONDS = 10
MAX_TOKEN_LENGTH = 4096  # ours are ~400 bytes; anything far larger is not worth parsing


class InvalidAccessToken(Exception):
    """The token is not a valid access token of this service (the reason stays internal)."""


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    session_id: str
    jti: str
    expires_at: datetime


@dataclass(frozen=True)
class JwtConfig:
    secret: str
    issuer: str
    audience: str
    max_lifetime_seconds: int = 30 * 60  # the access-token lifetime setting


def encode_access(
    config: JwtConfig, *, user_id: str, session_id: str, jti: str, now: datetime, ttl: timedelta
) -> tuple[str, datetime]:
    expires_at = now + ttl
    payload: dict[str, Any] = {
        "sub": user_id,
        "sid": session_id,
        "jti": jti,
        "typ": ACCESS_TYPE,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        "iss": config.issuer,
        "aud": config.audience,
    }
    return jwt.encode(payload, config.secret, algorithm=ALGORITHM), expires_at


def _verified_payload(config: JwtConfig, token: str, required: list[str]) -> dict[str, Any]:
    """The claims of a token this service signed, for its audience and issuer, with every
    `required` claim present and `exp` not passed; `InvalidAccessToken` otherwise."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidAccessToken("bad length")
    try:
        payload: dict[str, Any] = jwt.decode(
            token,
            config.secret,
            algorithms=ALLOWED_ALGORITHMS,
            audience=config.audience,
            issuer=config.issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": required, "verify_signature": True},
        )
    except jwt.PyJWTError as exc:
        raise InvalidAccessToken(type(exc).__name__) from exc
    return payload


def decode_access(config: JwtConfig, token: str) -> AccessClaims:
    payload = _verified_payload(config, token, REQUIRED_CLAIMS)
    if payload.get("typ") != ACCESS_TYPE:
        raise InvalidAccessToken("wrong type")
    if int(payload["exp"]) > time.time() + config.max_lifetime_seconds + LEEWAY_SECONDS:
        raise InvalidAccessToken("expires later than any token this service issues")
    sub, sid, jti = payload.get("sub"), payload.get("sid"), payload.get("jti")
    if not all(isinstance(value, str) and value for value in (sub, sid, jti)):
        raise InvalidAccessToken("malformed claims")
    return AccessClaims(
        user_id=str(sub),
        session_id=str(sid),
        jti=str(jti),
        expires_at=datetime.fromtimestamp(int(payload["exp"]), tz=UTC),
    )


class AccessTokenVerifier:
    """`decode_access` that remembers the tokens it has already verified, per process.

    A client sends the same access token on every request for up to its lifetime, and
    verifying it (base64 checks, JSON, HMAC, seven claims) costs about as much as a bare
    request. A verified token's claims cannot change: only time can make it invalid, so a
    remembered token is checked against its `exp` again on every use, exactly as `jwt.decode`
    would. Whether its session is still alive is a separate question, asked on every request
    (`sessions.authenticate_access`). Tokens that fail are not remembered. Bounded: the oldest
    entry makes room once `size` tokens are remembered.
    """

    def __init__(self, config: JwtConfig, size: int = 4096) -> None:
        self.config = config
        self.size = size
        self._verified: dict[str, tuple[AccessClaims, float]] = {}

    def decode(self, token: str) -> AccessClaims:
        known = self._verified.get(token)
        if known is not None:
            claims, expires_at = known
            if expires_at > time.time() - LEEWAY_SECONDS:
                return claims
            del self._verified[token]
            raise InvalidAccessToken("ExpiredSignatureError")
        claims = decode_access(self.config, token)
        if len(self._verified) >= self.size:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = (claims, claims.expires_at.timestamp())
        return claims


def looks_like_jwt(token: str) -> bool:
    """A refresh token is opaque; a JWT has two dots. Used to answer "Invalid token type"."""
    return token.count(".") == 2 and token.startswith("eyJ")


def access_type_of(token: str) -> str | None:
    """The unverified `typ` claim of a JWT, for error messages only (never for trust)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    value = claims.get("typ") or claims.get("type")
    return value if isinstance(value, str) else None


CHALLENGE_TYPE = "2fa"
CHALLENGE_CLAIMS = ["sub", "typ", "iat", "exp", "iss", "aud"]


def encode_challenge(config: JwtConfig, *, user_id: str, now: datetime, ttl: timedelta) -> str:
    """The short-lived proof that the password was right, traded for a session together with
    the second factor. It is no access token (`typ`), so no endpoint accepts it as one."""
    payload: dict[str, Any] = {
        "sub": user_id,
        "typ": CHALLENGE_TYPE,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
        "iss": config.issuer,
        "aud": config.audience,
    }
    return jwt.encode(payload, config.secret, algorithm=ALGORITHM)


def decode_challenge(config: JwtConfig, token: str) -> str:
    """The user id of a live two-factor challenge, or `InvalidAccessToken`."""
    payload = _verified_payload(config, token, CHALLENGE_CLAIMS)
    sub = payload.get("sub")
    if payload.get("typ") != CHALLENGE_TYPE or not isinstance(sub, str) or not sub:
        raise InvalidAccessToken("wrong type")
    return sub
