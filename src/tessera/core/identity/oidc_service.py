"""Signing in with an outside identity (OpenID Connect): the rules for linking and sign-up.

- An identity already linked by (issuer, subject) signs in to its account.
- Otherwise the provider must vouch for the e-mail (`email_verified`). It links to an
  existing account only if that account's address is verified or it has no password (else
  whoever registered the address first with a password could be hijacked, or could hijack).
- A new account needs `OIDC_ALLOW_SIGNUP`, or a module's `signup_allowed` hook saying the
  address is expected (an invited family member).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jwt as pyjwt
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.audit import record
from tessera.core.config import Settings
from tessera.core.db.base import utcnow
from tessera.core.identity.auth_service import create_user, normalise_email
from tessera.core.identity.jwt_tokens import ALGORITHM
from tessera.core.identity.models import OAuthAccount, User
from tessera.core.identity.oidc import Flow, Identity, OidcError, Provider
from tessera.core.identity.repository import IdentityRepository
from tessera.core.identity.sessions import TokenPair, open_session
from tessera.core.identity.state import IdentityState

FLOW_TYPE = "oidc_flow"
FLOW_TTL = timedelta(minutes=10)
FLOW_COOKIE = "tessera_oidc"
MAX_NEXT_LENGTH = 512


def provider_of(settings: Settings, name: str) -> Provider:
    found = settings.oidc_provider(name)
    if found is None:
        raise OidcError("provider_not_configured", f"Sign-in with {name} is not configured")
    secret = found.client_secret.get_secret_value() if found.client_secret else None
    return Provider(
        name=name,
        issuer=found.issuer,
        client_id=found.client_id,
        client_secret=secret,
        scopes=found.scopes,
    )


def safe_next(value: str | None) -> str:
    """A path on the frontend to land on after sign-in; anything else becomes "/"."""
    if (
        not value
        or len(value) > MAX_NEXT_LENGTH
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(c) < 0x20 for c in value)
    ):
        return "/"
    return value


# The flow cookie: signed, short-lived, bound to this browser ---------------------------------


def encode_flow(state: IdentityState, provider: str, flow: Flow, next_path: str) -> str:
    now = utcnow()
    payload: dict[str, Any] = {
        "typ": FLOW_TYPE,
        "aud": state.jwt.audience,
        "prv": provider,
        "st": flow.state,
        "nc": flow.nonce,
        "cv": flow.code_verifier,
        "ru": flow.redirect_uri,
        "nx": next_path,
        "iat": int(now.timestamp()),
        "exp": int((now + FLOW_TTL).timestamp()),
    }
    return pyjwt.encode(payload, state.jwt.secret, algorithm=ALGORITHM)


def decode_flow(state: IdentityState, provider: str, value: str | None) -> tuple[Flow, str]:
    """(flow, next path) from the cookie, or `state_mismatch`."""
    if not value or len(value) > 4096:
        raise OidcError("state_mismatch", "The sign-in was not started in this browser")
    try:
        payload = pyjwt.decode(
            value,
            state.jwt.secret,
            algorithms=[ALGORITHM],
            audience=state.jwt.audience,
            options={"require": ["typ", "exp", "st", "nc", "cv", "ru", "prv"]},
        )
    except pyjwt.ExpiredSignatureError as exc:
        raise OidcError("state_mismatch", "The sign-in took too long; try again") from exc
    except pyjwt.PyJWTError as exc:
        raise OidcError("state_mismatch", "The sign-in was not started in this browser") from exc
    if payload.get("typ") != FLOW_TYPE or payload.get("prv") != provider:
        raise OidcError("state_mismatch", "The sign-in was not started in this browser")
    flow = Flow(
        state=str(payload["st"]),
        nonce=str(payload["nc"]),
        code_verifier=str(payload["cv"]),
        redirect_uri=str(payload["ru"]),
    )
    return flow, safe_next(payload.get("nx"))


# Linking and sign-up --------------------------------------------------------------------------


async def _account_for(
    session: AsyncSession, state: IdentityState, provider: Provider, found: Identity
) -> tuple[User, str]:
    """(user, how: "linked" | "link" | "signup")."""
    repo = IdentityRepository(session)
    linked = await repo.get_oauth_account(found.issuer, found.subject)
    if linked is not None:
        user = await repo.get_user(linked.user_id)
        if user is None:
            raise OidcError("oauth_failed", "The linked account no longer exists")
        linked.last_login_at = utcnow()
        return user, "linked"
    if not found.email:
        raise OidcError("no_email", "The provider did not share an e-mail address")
    if not found.email_verified:
        raise OidcError("email_not_verified", "The provider has not verified this e-mail address")
    email = normalise_email(found.email)
    user = await repo.get_user_by_email(email)
    if user is not None:
        if not (user.email_verified or user.hashed_password is None):
            raise OidcError(
                "account_exists",
                "An account with this e-mail exists; sign in with its password and verify it",
            )
        how = "link"
    else:
        allowed = state.settings.oidc_allow_signup or await state.hooks.may_sign_up(session, email)
        if not allowed:
            raise OidcError("not_invited", "This e-mail address has not been invited")
        user = await create_user(session, state, email=email, password=None, full_name=found.name)
        user.email_verified = True
        how = "signup"
    try:
        await repo.add_oauth_account(
            OAuthAccount(
                user_id=user.id,
                provider=provider.name,
                issuer=found.issuer,
                subject=found.subject,
                email=email,
                last_login_at=utcnow(),
            )
        )
    except IntegrityError as exc:  # the same identity linked by a parallel callback
        raise OidcError("oauth_failed", "The sign-in raced another; try again") from exc
    return user, how


async def sign_in(
    session: AsyncSession, state: IdentityState, provider: Provider, found: Identity
) -> tuple[User, TokenPair]:
    user, how = await _account_for(session, state, provider, found)
    if not user.is_active:
        raise OidcError("account_inactive", "This account is inactive")
    if how != "linked":
        await record(
            session,
            "auth.oidc_signup" if how == "signup" else "auth.oidc_linked",
            actor_id=user.id,
            target_type="user",
            target_id=user.id,
            details={"provider": provider.name, "issuer": found.issuer},
        )
    pair = await open_session(session, state, user, method=f"oidc:{provider.name}"[:20])
    await record(
        session,
        "auth.login",
        actor_id=user.id,
        target_type="session",
        target_id=pair.session_id,
        details={"method": "oidc", "provider": provider.name},
    )
    return user, pair
