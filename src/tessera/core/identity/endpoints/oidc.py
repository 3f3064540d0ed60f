"""OpenID Connect sign-in for browsers: `/auth/oidc/{provider}/login` and `/callback`, with
seed 003's `/api/auth/google` and `/api/auth/google/callback` as aliases.

The browser navigates here (top level), so every answer is a redirect: to the provider, then
back to the allow-listed frontend (`FRONTEND_URL` plus a validated relative `next`) with the
session cookies set, or to `FRONTEND_URL?error=<code>&message=<text>` with no session.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from tessera.core.audit import record
from tessera.core.db import DbSession
from tessera.core.identity.endpoints.auth import give_cookies
from tessera.core.identity.oidc import Flow, OidcError
from tessera.core.identity.oidc_service import (
    FLOW_COOKIE,
    FLOW_TTL,
    decode_flow,
    encode_flow,
    provider_of,
    safe_next,
    sign_in,
)
from tessera.core.identity.state import IdentityDep, IdentityState

log = structlog.get_logger("tessera.identity.oidc")
router = APIRouter(prefix="/auth/oidc", tags=["auth"])
SEED_LOGIN = "/api/auth/google"
ALIASES = {
    f"{SEED_LOGIN}/callback": "/auth/oidc/google/callback",
    SEED_LOGIN: "/auth/oidc/google/login",
}
MAX_PARAM_LENGTH = 4096


def _frontend(state: IdentityState, path: str = "/") -> str:
    return state.settings.frontend_url.rstrip("/") + path


def _failure(state: IdentityState, error: OidcError) -> RedirectResponse:
    base = _frontend(state)
    query = urlencode({"error": error.code, "message": error.message})
    response = RedirectResponse(f"{base}{'&' if '?' in base else '?'}{query}", status_code=302)
    _clear_flow(response, state)
    return response


def _clear_flow(response: RedirectResponse, state: IdentityState) -> None:
    response.delete_cookie(
        FLOW_COOKIE,
        path="/",
        domain=state.settings.cookie_domain,
        secure=state.settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )


def _callback_uri(request: Request, state: IdentityState, provider: str) -> str:
    """The seed's callback path when the sign-in started on the seed's path."""
    started_at = request.scope.get("tessera.alias_of")
    path = (
        f"{SEED_LOGIN}/callback" if started_at == SEED_LOGIN else f"/auth/oidc/{provider}/callback"
    )
    return state.settings.resolved_public_url + path


@router.get("/{provider}/login", status_code=302, response_class=RedirectResponse)
async def oidc_login(
    provider: str, request: Request, identity: IdentityDep, next: str | None = None
) -> RedirectResponse:
    """Start signing in with the provider: redirects the browser to its sign-in page."""
    try:
        found = provider_of(identity.settings, provider)
        flow = Flow.start(_callback_uri(request, identity, provider))
        target = await identity.oidc.authorization_url(found, flow)
    except OidcError as error:
        return _failure(identity, error)
    response = RedirectResponse(target, status_code=302)
    response.set_cookie(
        FLOW_COOKIE,
        encode_flow(identity, provider, flow, safe_next(next)),
        max_age=int(FLOW_TTL.total_seconds()),
        path="/",
        domain=identity.settings.cookie_domain,
        secure=identity.settings.secure_cookies,
        httponly=True,
        samesite="lax",  # sent on the provider's top-level redirect back to us
    )
    return response


@router.get("/{provider}/callback", status_code=302, response_class=RedirectResponse)
async def oidc_callback(
    provider: str,
    request: Request,
    session: DbSession,
    identity: IdentityDep,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
) -> RedirectResponse:
    """The provider sends the browser back here; on success the session cookies are set
    and the browser lands on the frontend."""
    try:
        found = provider_of(identity.settings, provider)
        flow, next_path = decode_flow(identity, provider, request.cookies.get(FLOW_COOKIE))
        if error:  # a refusal signs nobody in, so it needs no state (some providers drop it)
            raise OidcError("oauth_failed", "The sign-in was cancelled or refused")
        if (
            not state
            or len(state) > MAX_PARAM_LENGTH
            or not secrets.compare_digest(state.encode(), flow.state.encode())
        ):
            raise OidcError("state_mismatch", "The sign-in was not started in this browser")
        if not code or len(code) > MAX_PARAM_LENGTH:
            raise OidcError("oauth_failed", "The provider sent no authorization code")
        identity_claims = await identity.oidc.exchange(found, flow, code)
        user, pair = await sign_in(session, identity, found, identity_claims)
    except OidcError as failure:
        await session.rollback()  # nothing of a failed sign-in stays, but its audit row
        log.info("oidc_sign_in_failed", provider=provider, error=failure.code)
        await record(
            session,
            "auth.oidc_failed",
            actor_type="anonymous",
            details={"provider": provider[:50], "error": failure.code},
        )
        return _failure(identity, failure)
    response = RedirectResponse(_frontend(identity, next_path), status_code=302)
    _clear_flow(response, identity)
    give_cookies(response, identity, pair, int(identity.session_lifetime.total_seconds()))
    log.info("oidc_sign_in", provider=provider, user_id=user.id)
    return response
