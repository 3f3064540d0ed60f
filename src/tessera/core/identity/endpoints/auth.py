"""The auth API at /auth, also served at /api/auth and /api/v1/auth for the seeds' clients
(path aliases: the same routes, documented once)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request, status
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.db import DbSession
from tessera.core.errors import error_responses
from tessera.core.identity import account_service, auth_service, two_factor, verification, views
from tessera.core.identity.cookies import (
    check_csrf,
    clear_session_cookies,
    read_cookies,
    set_session_cookies,
    wants_cookies,
)
from tessera.core.identity.deps import CurrentAccount, CurrentUser
from tessera.core.identity.failures import KeepChanges, error_response, invalid_refresh
from tessera.core.identity.mailer import deliver
from tessera.core.identity.models import User
from tessera.core.identity.reset_links import reset_links_of
from tessera.core.identity.schemas import (
    CountOut,
    LoginIn,
    LoginOut,
    LogoutOut,
    MeOut,
    Message,
    MeUpdate,
    PasswordChangeIn,
    RefreshIn,
    RegisterIn,
    RegisterOut,
    ResetConfirmIn,
    ResetRequestIn,
    SessionOut,
    TokenOut,
    TwoFactorChallenge,
)
from tessera.core.identity.sessions import (
    TokenPair,
    open_session,
    refresh_cookie_session,
    rotate_refresh_token,
    seconds_left,
)
from tessera.core.identity.state import IdentityDep, IdentityState
from tessera.core.kit.responses import model_response
from tessera.core.ratelimit import RateLimiterDep

router = APIRouter(prefix="/auth", tags=["auth"])
ALIASES = {"/api/auth": "/auth", "/api/v1/auth": "/auth"}

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
LOGIN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": LoginIn.model_json_schema()},
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "username": {"type": "string", "description": "the e-mail"},
                        "password": {"type": "string"},
                    },
                    "required": ["username", "password"],
                }
            },
        },
    }
}


def _tokens(pair: TokenPair) -> TokenOut:
    return TokenOut(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


def give_cookies(
    response: Response, state: IdentityState, pair: TokenPair, session_max_age: int
) -> None:
    set_session_cookies(
        response,
        state.settings,
        state.jwt.secret,
        access_token=pair.access_token,
        access_max_age=pair.expires_in,
        refresh_token=pair.refresh_token,
        session_id=pair.session_id,
        session_max_age=session_max_age,
    )


async def signed_in(
    request: Request,
    response: Response,
    session: AsyncSession,
    state: IdentityState,
    user: User,
    pair: TokenPair,
) -> LoginOut:
    """The answer of every successful sign-in: tokens, the account, and cookies for a
    browser."""
    if wants_cookies(request, state.settings):
        give_cookies(response, state, pair, int(state.session_lifetime.total_seconds()))
    return LoginOut(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
        user=MeOut.model_validate(await views.me(session, state, user)),
    )


def _validation_failure(exc: ValidationError) -> JSONResponse:
    errors = [
        {"type": e["type"], "loc": ["body", *e["loc"]], "msg": e["msg"]} for e in exc.errors()
    ]
    return JSONResponse({"detail": errors, "error": "validation_error"}, status_code=422)


async def _login_body(request: Request) -> LoginIn:
    """JSON `{email, password}` or the OAuth2 password form (`username`, `password`)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in FORM_TYPES:
        form = await request.form(max_files=0, max_fields=10)
        return LoginIn.model_validate(
            {"email": form.get("username") or form.get("email"), "password": form.get("password")}
        )
    return LoginIn.model_validate_json(await request.body())


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=RegisterOut,
    responses=error_responses(400, 422, 429),
)
async def register(
    body: RegisterIn,
    request: Request,
    response: Response,
    background: BackgroundTasks,
    session: DbSession,
    identity: IdentityDep,
    limiter: RateLimiterDep,
) -> RegisterOut:
    """Create an account. The e-mail is trimmed and lower-cased; never an admin. A link to
    verify the address is mailed. A browser's registration also signs in (cookies and the
    token pair), unless sign-in waits for the e-mail to be verified."""
    user = await auth_service.register(
        session,
        identity,
        limiter,
        email=body.email,
        password=body.password,
        full_name=body.full_name,
    )
    mail = await verification.issue(session, identity, user)
    background.add_task(deliver, identity.mailer, mail)
    view = await views.me(session, identity, user)
    answer = RegisterOut.model_validate({**view, "user": view})
    if wants_cookies(request, identity.settings) and not (
        identity.settings.email_verification_required and not user.email_verified
    ):
        pair = await open_session(session, identity, user)
        give_cookies(response, identity, pair, int(identity.session_lifetime.total_seconds()))
        answer.access_token, answer.refresh_token = pair.access_token, pair.refresh_token
        answer.token_type, answer.expires_in = "bearer", pair.expires_in
    return answer


@router.post(
    "/login",
    response_model=LoginOut | TwoFactorChallenge,
    responses=error_responses(401, 403, 422, 429),
    openapi_extra=LOGIN_BODY,
)
async def login(
    request: Request,
    response: Response,
    session: DbSession,
    identity: IdentityDep,
    limiter: RateLimiterDep,
) -> Any:
    """Log in with JSON `{email, password}` or the OAuth2 password form. With two-factor on,
    the answer is a challenge (`requires_2fa`) and no tokens. A browser also gets the session
    cookies."""
    try:
        body = await _login_body(request)
    except ValidationError as exc:
        return _validation_failure(exc)
    try:
        user, pair = await auth_service.login(
            session, identity, limiter, email=body.email, password=body.password
        )
    except KeepChanges as failure:  # the failed attempt's audit row must commit
        return error_response(failure.error)
    if pair is None:
        return TwoFactorChallenge(
            two_fa_token=two_factor.challenge_token(identity, user),
            two_fa_method=views.TOTP_METHOD,
        )
    return await signed_in(request, response, session, identity, user, pair)


@router.post("/refresh", response_model=TokenOut, responses=error_responses(401, 403, 422))
async def refresh(
    request: Request,
    response: Response,
    session: DbSession,
    identity: IdentityDep,
    body: RefreshIn | None = None,
) -> Any:
    """Trade a refresh token for a new pair; the old refresh token and access token die.
    Presenting a used refresh token again ends its whole session. A browser sends no body:
    the refresh cookie is used (and rotated), after the CSRF check."""
    token = body.refresh_token if body is not None else None
    from_cookie = token is None
    if token is None:
        cookies = read_cookies(request, identity.settings)
        token = cookies.refresh
        if not token:
            raise invalid_refresh()
        auth_session = await refresh_cookie_session(session, token)
        if auth_session is not None:
            check_csrf(request, identity.settings, identity.jwt.secret, cookies, auth_session.id)
    try:
        pair = await rotate_refresh_token(session, identity, token)
    except KeepChanges as failure:  # the family revocation must commit
        answer = error_response(failure.error)
        if from_cookie:
            clear_session_cookies(answer, identity.settings)
        return answer
    if from_cookie or wants_cookies(request, identity.settings):
        alive = await refresh_cookie_session(session, pair.refresh_token)
        give_cookies(response, identity, pair, seconds_left(alive) if alive else pair.expires_in)
    return _tokens(pair)


@router.post("/logout", response_model=LogoutOut, responses=error_responses(401, 403))
async def logout(
    request: Request,
    response: Response,
    user: CurrentUser,
    session: DbSession,
    identity: IdentityDep,
) -> LogoutOut:
    """End this session: its access and refresh tokens fail from the next request on, and
    the session cookies are cleared."""
    await auth_service.logout(session, identity, user, request.state.session_id)
    clear_session_cookies(response, identity.settings)
    return LogoutOut(message="Logged out")


@router.post("/logout-all", response_model=CountOut, responses=error_responses(401, 403))
async def logout_all(
    response: Response, user: CurrentUser, session: DbSession, identity: IdentityDep
) -> CountOut:
    """End every session of this account, this one included."""
    ended = await auth_service.logout_all(session, identity, user)
    clear_session_cookies(response, identity.settings)
    return CountOut(message="Logged out everywhere", sessions_ended=ended)


@router.get("/me", response_model=MeOut, responses=error_responses(401, 403))
async def me(account: CurrentAccount) -> Response:
    """The account: the core fields and what the enabled modules add for their clients."""
    return model_response(MeOut.model_validate(account.view))


@router.patch("/me", response_model=MeOut, responses=error_responses(401, 403, 422))
async def update_me(
    body: MeUpdate, user: CurrentUser, session: DbSession, identity: IdentityDep
) -> MeOut:
    if "full_name" in body.model_fields_set:
        await account_service.update_profile(session, user, full_name=body.full_name)
    return MeOut.model_validate(await views.me(session, identity, user))


@router.post(
    "/password", response_model=CountOut, responses=error_responses(400, 401, 403, 422, 429)
)
async def change_password(
    body: PasswordChangeIn,
    request: Request,
    user: CurrentUser,
    session: DbSession,
    identity: IdentityDep,
    limiter: RateLimiterDep,
) -> CountOut:
    """Change the password; every other session ends (this one continues)."""
    ended = await account_service.change_password(
        session,
        identity,
        limiter,
        user,
        current_session_id=request.state.session_id,
        current_password=body.current_password,
        new_password=body.new_password,
    )
    return CountOut(message="Password changed", sessions_ended=ended)


@router.post(
    "/password-reset/request",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Message,
    responses=error_responses(422, 429),
)
async def request_password_reset(
    body: ResetRequestIn,
    request: Request,
    background: BackgroundTasks,
    session: DbSession,
    identity: IdentityDep,
    limiter: RateLimiterDep,
) -> Message:
    """Always 202: whether the e-mail has an account is not revealed. The link is made and
    mailed after the transaction commits and works once, for at most an hour."""
    user_id = await account_service.request_password_reset(
        session, identity, limiter, email=body.email
    )
    if user_id is not None:  # background tasks run after the commit
        links = reset_links_of(request.app.state.runtime, identity)
        background.add_task(links.enqueue, user_id)
    return Message(message="If the address has an account, a reset link is on its way")


@router.post(
    "/password-reset/confirm", response_model=Message, responses=error_responses(400, 422, 429)
)
async def confirm_password_reset(
    body: ResetConfirmIn, session: DbSession, identity: IdentityDep, limiter: RateLimiterDep
) -> Message:
    """Set a new password with a reset token; every session of the account ends."""
    await account_service.confirm_password_reset(
        session, identity, limiter, token=body.token, new_password=body.new_password
    )
    return Message(message="Password has been reset; log in with the new password")


@router.get("/sessions", response_model=list[SessionOut], responses=error_responses(401, 403))
async def list_sessions(
    request: Request, user: CurrentUser, session: DbSession
) -> list[SessionOut]:
    """This account's live sessions; `current` marks the one making this request."""
    rows = await account_service.list_sessions(session, user)
    return [
        SessionOut(
            id=row.id,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            expires_at=row.expires_at,
            ip_address=row.ip_address,
            user_agent=row.user_agent,
            current=row.id == request.state.session_id,
        )
        for row in rows
    ]


@router.delete(
    "/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404),
)
async def end_session(
    session_id: str, user: CurrentUser, session: DbSession, identity: IdentityDep
) -> Response:
    """End one of this account's sessions (another account's answers 404)."""
    await account_service.end_own_session(session, identity, user, session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
