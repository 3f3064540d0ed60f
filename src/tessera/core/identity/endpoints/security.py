"""E-mail verification and TOTP two-factor at /auth, also served under seed 001's
`/api/v1/security/*` names (path aliases: the same routes, documented once)."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request, Response, status

from tessera.core.db import DbSession
from tessera.core.errors import error_responses
from tessera.core.identity import two_factor, verification
from tessera.core.identity.deps import CurrentUser
from tessera.core.identity.endpoints.auth import signed_in
from tessera.core.identity.failures import KeepChanges, error_response
from tessera.core.identity.mailer import deliver
from tessera.core.identity.schemas import (
    EmailIn,
    LoginOut,
    Message,
    TwoFactorCodeIn,
    TwoFactorDisableIn,
    TwoFactorEnabledOut,
    TwoFactorSetupOut,
    TwoFactorStatusOut,
    TwoFactorVerifyIn,
    VerifiedOut,
    VerifyEmailIn,
)
from tessera.core.identity.state import IdentityDep
from tessera.core.ratelimit import RateLimiterDep

router = APIRouter(prefix="/auth", tags=["auth"])
SECURITY = "/api/v1/security"
ALIASES = {
    f"{SECURITY}/forgot-password": "/auth/password-reset/request",
    f"{SECURITY}/reset-password": "/auth/password-reset/confirm",
    SECURITY: "/auth",  # verify-email, resend-verification, 2fa/*
}


@router.post("/verify-email", response_model=VerifiedOut, responses=error_responses(400, 422, 429))
async def verify_email(
    body: VerifyEmailIn, session: DbSession, identity: IdentityDep, limiter: RateLimiterDep
) -> VerifiedOut:
    """Confirm the address with the mailed token (single use)."""
    await verification.verify(session, identity, limiter, token=body.token)
    return VerifiedOut(message="Email address verified", email_verified=True)


@router.post(
    "/resend-verification",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Message,
    responses=error_responses(422, 429),
)
async def resend_verification(
    body: EmailIn,
    background: BackgroundTasks,
    session: DbSession,
    identity: IdentityDep,
    limiter: RateLimiterDep,
) -> Message:
    """Always 202: whether the address has an account, or is verified already, is not
    revealed. Throttled per address and per client."""
    mail = await verification.resend(session, identity, limiter, email=body.email)
    if mail is not None:
        background.add_task(deliver, identity.mailer, mail)
    return Message(message="If the address needs verifying, a new link is on its way")


@router.post("/2fa/setup", response_model=TwoFactorSetupOut, responses=error_responses(400, 401))
async def two_factor_setup(
    user: CurrentUser, session: DbSession, identity: IdentityDep
) -> TwoFactorSetupOut:
    """A new secret for an authenticator app (scan the QR code); turn it on with
    `/auth/2fa/enable` and a code from the app."""
    found = await two_factor.setup(session, identity, user)
    data_uri = "data:image/svg+xml;base64," + base64.b64encode(found.qr_svg.encode()).decode()
    return TwoFactorSetupOut(
        message="Scan the QR code, then confirm with a code from the app",
        secret=found.secret,
        otpauth_uri=found.otpauth_uri,
        qr_svg=found.qr_svg,
        qr_code=data_uri,
    )


@router.post(
    "/2fa/enable",
    response_model=TwoFactorEnabledOut,
    responses=error_responses(400, 401, 422, 429),
)
async def two_factor_enable(
    body: TwoFactorCodeIn,
    user: CurrentUser,
    session: DbSession,
    identity: IdentityDep,
    limiter: RateLimiterDep,
) -> Any:
    """Turn two-factor on; the answer holds ten single-use backup codes, shown this once."""
    try:
        codes = await two_factor.enable(session, identity, limiter, user, body.code)
    except KeepChanges as failure:  # the failed attempt's audit row must commit
        return error_response(failure.error)
    return TwoFactorEnabledOut(
        message="Two-factor authentication is on", two_fa_enabled=True, backup_codes=codes
    )


@router.post(
    "/2fa/disable",
    response_model=TwoFactorStatusOut,
    responses=error_responses(400, 401, 422, 429),
)
async def two_factor_disable(
    body: TwoFactorDisableIn,
    user: CurrentUser,
    session: DbSession,
    identity: IdentityDep,
    limiter: RateLimiterDep,
) -> Any:
    """Turn two-factor off with the password and a code (or a backup code)."""
    try:
        await two_factor.disable(
            session, identity, limiter, user, password=body.password, code=body.code
        )
    except KeepChanges as failure:
        return error_response(failure.error)
    return TwoFactorStatusOut(message="Two-factor authentication is off", two_fa_enabled=False)


@router.post("/2fa/verify", response_model=LoginOut, responses=error_responses(401, 403, 422, 429))
async def two_factor_verify(
    body: TwoFactorVerifyIn,
    request: Request,
    response: Response,
    session: DbSession,
    identity: IdentityDep,
    limiter: RateLimiterDep,
) -> Any:
    """The login's second step: the `two_fa_token` from `/auth/login` and a code from the app
    (or a backup code) give the same answer as a login without two-factor."""
    try:
        user, pair = await two_factor.verify_login(
            session, identity, limiter, token=body.two_fa_token, code=body.code
        )
    except KeepChanges as failure:
        return error_response(failure.error)
    return await signed_in(request, response, session, identity, user, pair)
