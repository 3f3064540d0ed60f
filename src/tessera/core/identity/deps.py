"""Who is calling: dependencies other parts use to authenticate requests.

- `CurrentUser`: a Bearer access JWT whose session is alive (checked on every request), or,
  when the request has no Authorization header, the browser's session cookies (with the CSRF
  check for unsafe methods and a transparent refresh of a stale access cookie).
- `CurrentAccount`: the same user and its `/auth/me` view, read in one statement with every
  module's profile fields when the session cache vouches for the session.
- `AdminUser`: the same, and an admin.
- `ApiKeyPrincipal("kiosk", …)`: `Authorization: ApiKey <key>` with one of the roles.
- `Caller("validator", allow_users=True)`: either of the above, as a `Principal`.

Each sets `request.state.principal` ("user:<id>" or "api_key:<id>") for idempotency scopes,
rate-limit keys and logs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.db import DbSession
from tessera.core.db.engine import Database
from tessera.core.db.session import SAFE_METHODS, database_of
from tessera.core.errors import Forbidden, Unauthorized
from tessera.core.identity import views
from tessera.core.identity.api_key_cache import ApiKeyIdentity as ApiKeyIdentity
from tessera.core.identity.api_keys import authenticate_api_key
from tessera.core.identity.cookies import (
    CsrfFailed,
    check_csrf,
    read_cookies,
    renew_access_cookie,
)
from tessera.core.identity.failures import INVALID_CREDENTIALS
from tessera.core.identity.jwt_tokens import InvalidAccessToken, decode_access
from tessera.core.identity.models import User
from tessera.core.identity.repository import IdentityRepository
from tessera.core.identity.sessions import (
    UserLoader,
    authenticate_access,
    authenticate_claims,
    refresh_cookie_session,
    reissue_access,
)
from tessera.core.identity.state import IdentityDep, IdentityState, state_of
from tessera.core.modules import ProfileReader

# Both read the Authorization header; they exist so that /docs offers the two schemes.
bearer_scheme = OAuth2PasswordBearer(tokenUrl="/auth/login", scheme_name="Bearer", auto_error=False)
api_key_scheme = APIKeyHeader(
    name="Authorization",
    scheme_name="ApiKey",
    description="`ApiKey <key>` (service principals: kiosks, validators, staff)",
    auto_error=False,
)

NOT_AUTHENTICATED = "Not authenticated"
INVALID_API_KEY = "Invalid API key"


@dataclass(frozen=True)
class Principal:
    kind: Literal["api_key", "user"]
    id: str
    role: str | None  # the API key's role; None for users (see `user.is_admin`)
    user: User | None


def _split_authorization(request: Request) -> tuple[str, str]:
    """(scheme lower-cased, credentials) from the Authorization header, or ("", "")."""
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    return scheme.lower(), credentials.strip()


async def _user_from_bearer(
    request: Request,
    session: AsyncSession,
    state: IdentityState,
    token: str,
    load: UserLoader | None = None,
) -> User:
    user, claims = await authenticate_access(session, state, token, load)
    request.state.principal = f"user:{user.id}"
    request.state.session_id = claims.session_id
    return user


# A stale access cookie is worth a refresh; any other failure stands.
REFRESHABLE = frozenset({"invalid_token", "token_superseded"})


async def _user_from_cookies(
    request: Request,
    session: AsyncSession,
    state: IdentityState,
    load: UserLoader | None = None,
) -> User | None:
    """The user behind the session cookies, or None when the request carries none. An
    unsafe method must pass the CSRF check before anything is looked up or written."""
    settings = state.settings
    cookies = read_cookies(request, settings)
    if not cookies.present:
        return None
    failure = Unauthorized(INVALID_CREDENTIALS, code="invalid_token")
    if cookies.access:
        try:
            claims = decode_access(state.jwt, cookies.access)
        except InvalidAccessToken:
            claims = None
        if claims is not None:
            check_csrf(request, settings, state.jwt.secret, cookies, claims.session_id)
            try:
                user = await authenticate_claims(session, state, claims, load)
            except Unauthorized as exc:
                if exc.code not in REFRESHABLE or not cookies.refresh:
                    raise
                failure = exc
            else:
                request.state.principal = f"user:{user.id}"
                request.state.session_id = claims.session_id
                return user
    if not cookies.refresh:
        raise failure
    auth_session = await refresh_cookie_session(session, cookies.refresh)
    if auth_session is None:
        raise Unauthorized("Session has ended", code="session_ended")
    check_csrf(request, settings, state.jwt.secret, cookies, auth_session.id)
    if request.method in SAFE_METHODS:  # the request's own transaction is read-only
        async with database_of(request).session() as writer:
            access = await reissue_access(writer, state, auth_session.id)
    else:
        access = await reissue_access(session, state, auth_session.id)
    if access is None:
        raise Unauthorized("Session has ended", code="session_ended")
    owner = await IdentityRepository(session).get_user(access.user_id)
    if owner is None:
        raise failure
    if not owner.is_active:
        raise Forbidden("Account is inactive", code="inactive_user")
    renew_access_cookie(request, settings, access.token, access.expires_in)
    request.state.principal = f"user:{owner.id}"
    request.state.session_id = access.session_id
    return owner


async def _api_key_from_header(
    request: Request, db: Database, state: IdentityState, credentials: str, roles: tuple[str, ...]
) -> ApiKeyIdentity:
    key = await authenticate_api_key(db, state.api_keys, credentials) if credentials else None
    if key is None:
        raise Unauthorized(INVALID_API_KEY, code="invalid_api_key")
    if key.role not in roles:
        raise Forbidden("This API key's role may not do that", code="api_key_role_forbidden")
    request.state.principal = f"api_key:{key.id}"
    return key


async def _signed_in_user(
    request: Request,
    session: AsyncSession,
    state: IdentityState,
    load: UserLoader | None = None,
) -> User:
    scheme, token = _split_authorization(request)
    if scheme == "bearer" and token:
        return await _user_from_bearer(request, session, state, token, load)
    if not scheme:  # an Authorization header, whatever it holds, means cookies are ignored
        user = await _user_from_cookies(request, session, state, load)
        if user is not None:
            return user
    raise Unauthorized(NOT_AUTHENTICATED, code="not_authenticated")


async def current_user(
    request: Request,
    session: DbSession,
    _token: Annotated[str | None, Depends(bearer_scheme)],
) -> User:
    # The identity state straight from the app rather than as a sub-dependency (as for API
    # keys): this runs on every signed-in request, and each dependency FastAPI solves costs.
    state = state_of(request.app.state.runtime)
    return await _signed_in_user(request, session, state)


@dataclass
class Account:
    """The signed-in user and the `/auth/me` view of the account (core and module fields)."""

    user: User
    view: dict[str, Any]


class _AccountLoader:
    """Reads the user of a session the cache vouches for together with every part's profile
    fields, in one statement (`ProfileReader.with_row_of`), and keeps the fields."""

    def __init__(self, session: AsyncSession, profiles: ProfileReader) -> None:
        self.session = session
        self.profiles = profiles
        self.user: User | None = None
        self.fields: dict[str, Any] = {}

    async def __call__(self, user_id: str) -> User | None:
        statement = self.profiles.with_row_of(User, User.id)
        row = (await self.session.execute(statement, self.profiles.params(user_id))).one_or_none()
        if row is None:
            return None
        self.user, self.fields = row[0], self.profiles.fields(row[1:])
        return self.user


async def current_account(
    request: Request,
    session: DbSession,
    _token: Annotated[str | None, Depends(bearer_scheme)],
) -> Account:
    """`CurrentUser` and the account view, with one round trip to the database for both when
    the session cache vouches for the session (otherwise the fields are read after the
    session check)."""
    state = state_of(request.app.state.runtime)
    loader = _AccountLoader(session, state.hooks.profiles)
    user = await _signed_in_user(request, session, state, loader)
    fields = loader.fields if loader.user is user else await state.hooks.profile(session, user)
    return Account(user, views.account(user, fields))


async def admin_user(user: Annotated[User, Depends(current_user)]) -> User:
    if not user.is_admin:
        raise Forbidden("Admin privileges required", code="admin_required")
    return user


CurrentUser = Annotated[User, Depends(current_user)]
CurrentAccount = Annotated[Account, Depends(current_account)]
AdminUser = Annotated[User, Depends(admin_user)]


def ApiKeyPrincipal(*roles: str) -> Callable[..., Awaitable[ApiKeyIdentity]]:
    """A dependency accepting `Authorization: ApiKey <key>` whose role is one of `roles`."""
    allowed = tuple(roles)

    async def api_key_principal(
        request: Request, _header: Annotated[str | None, Depends(api_key_scheme)]
    ) -> ApiKeyIdentity:
        scheme, credentials = _split_authorization(request)
        if scheme != "apikey":
            raise Unauthorized(INVALID_API_KEY, code="invalid_api_key")
        # Database and identity state straight from the app rather than as sub-dependencies:
        # machines call this on every request, and each dependency FastAPI solves costs.
        state = state_of(request.app.state.runtime)
        return await _api_key_from_header(
            request, database_of(request), state, credentials, allowed
        )

    api_key_principal.__name__ = f"api_key_principal_{'_'.join(allowed) or 'any'}"
    return api_key_principal


async def _principal(
    request: Request,
    session: AsyncSession,
    state: IdentityState,
    roles: tuple[str, ...],
    allow_users: bool,
) -> Principal:
    scheme, credentials = _split_authorization(request)
    if not scheme and allow_users:
        user = await _user_from_cookies(request, session, state)
        if user is not None:
            return Principal(kind="user", id=user.id, role=None, user=user)
    if scheme == "apikey" and roles:
        key = await _api_key_from_header(request, database_of(request), state, credentials, roles)
        return Principal(kind="api_key", id=key.id, role=key.role, user=None)
    if scheme == "bearer" and allow_users and credentials:
        user = await _user_from_bearer(request, session, state, credentials)
        return Principal(kind="user", id=user.id, role=None, user=user)
    if scheme == "apikey":
        raise Forbidden("API keys may not do that", code="api_key_role_forbidden")
    raise Unauthorized(NOT_AUTHENTICATED, code="not_authenticated")


def Caller(*roles: str, allow_users: bool = True) -> Callable[..., Awaitable[Principal]]:
    """A dependency accepting an API key with one of `roles` or (if `allow_users`) a signed-in
    user; returns a `Principal`."""
    allowed = tuple(roles)

    async def caller(
        request: Request,
        session: DbSession,
        state: IdentityDep,
        _header: Annotated[str | None, Depends(api_key_scheme)],
        _token: Annotated[str | None, Depends(bearer_scheme)],
    ) -> Principal:
        return await _principal(request, session, state, allowed, allow_users)

    caller.__name__ = f"caller_{'_'.join(allowed) or 'users'}"
    return caller


def OptionalCaller(*roles: str) -> Callable[..., Awaitable[Principal | None]]:
    """Like `Caller(*roles)`, but a request that sends no credentials at all gets None. An
    Authorization header that is sent must be valid; session cookies that are stale, or that
    come with a cross-site request, count as no credentials."""
    allowed = tuple(roles)

    async def optional_caller(
        request: Request,
        session: DbSession,
        state: IdentityDep,
        _header: Annotated[str | None, Depends(api_key_scheme)],
        _token: Annotated[str | None, Depends(bearer_scheme)],
    ) -> Principal | None:
        if request.headers.get("authorization"):
            return await _principal(request, session, state, allowed, True)
        if not read_cookies(request, state.settings).present:
            return None
        try:  # stale or cross-site cookies make an anonymous caller, not an error
            user = await _user_from_cookies(request, session, state)
        except (Unauthorized, CsrfFailed):
            return None
        return None if user is None else Principal(kind="user", id=user.id, role=None, user=user)

    optional_caller.__name__ = f"optional_caller_{'_'.join(allowed) or 'users'}"
    return optional_caller
