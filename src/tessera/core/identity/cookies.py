"""Session cookies for browsers, and the CSRF defence that cookie authentication needs.

Three cookies, all `SameSite=Lax` and `Secure` whenever the public URL is https:
- the access cookie (HttpOnly): the access JWT, for as long as it lives;
- the refresh cookie (HttpOnly): the session's refresh token; when the access cookie is gone
  or stale it mints a new access token for the same session (the refresh token itself rotates
  only on `POST /auth/refresh`, so a lost response or parallel tabs cannot trip reuse
  detection);
- the CSRF cookie (readable by the page): a token bound to the session, echoed back in
  `X-CSRF-Token` (or axios' `X-XSRF-TOKEN`) by clients that cannot rely on `Origin`.

An unsafe request authenticated by cookie passes the CSRF check (OWASP's cheat sheet) when its
`Origin` — or, without one, its `Referer` — is a trusted origin, or `Sec-Fetch-Site` says
same-origin, or the double-submit header matches the cookie and the session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

from fastapi import Request, Response

from tessera.core.config import CookieMode, Settings, origin_of
from tessera.core.errors import Forbidden
from tessera.core.middleware import add_response_header

CSRF_HEADERS = ("x-csrf-token", "x-xsrf-token")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_COOKIE_LENGTH = 4096


class CsrfFailed(Forbidden):
    code = "csrf_failed"
    detail = "Cross-site request refused: send it from an allowed origin or with X-CSRF-Token"


@dataclass(frozen=True)
class BrowserCookies:
    access: str | None
    refresh: str | None
    csrf: str | None

    @property
    def present(self) -> bool:
        return bool(self.access or self.refresh)


def _bounded(value: str | None) -> str | None:
    return value if value and len(value) <= MAX_COOKIE_LENGTH else None


def read_cookies(request: Request, settings: Settings) -> BrowserCookies:
    cookies = request.cookies
    return BrowserCookies(
        access=_bounded(cookies.get(settings.access_cookie_name)),
        refresh=_bounded(cookies.get(settings.refresh_cookie_name)),
        csrf=_bounded(cookies.get(settings.csrf_cookie_name)),
    )


def wants_cookies(request: Request, settings: Settings) -> bool:
    """Browsers name their Origin on every POST and send Sec-Fetch-* headers; curl, SDKs
    and server-side clients do neither and keep using the tokens in the body. A page of
    another site gets no session cookies (login CSRF: signing the victim's browser in to the
    attacker's account)."""
    if settings.auth_cookies is CookieMode.never:
        return False
    headers = request.headers
    browser = "origin" in headers or "sec-fetch-site" in headers
    if browser and not origin_trusted(request, settings):
        return False
    if browser or settings.auth_cookies is CookieMode.always:
        return True
    return read_cookies(request, settings).present


# CSRF tokens ---------------------------------------------------------------------------------


def _mac(secret: str, session_id: str, nonce: str) -> str:
    message = f"csrf:{session_id}:{nonce}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


def new_csrf_token(secret: str, session_id: str) -> str:
    """Signed double-submit (OWASP): a random nonce and its MAC over the session id, so a
    cookie planted by a sibling subdomain cannot be replayed against another session."""
    nonce = secrets.token_urlsafe(18)
    return f"{nonce}.{_mac(secret, session_id, nonce)}"


def csrf_token_valid(secret: str, session_id: str, token: str) -> bool:
    nonce, _, mac = token.partition(".")
    expected = _mac(secret, session_id, nonce).encode()
    return bool(nonce and mac) and hmac.compare_digest(mac.encode(), expected)


def origin_trusted(request: Request, settings: Settings) -> bool:
    """Origin, else Referer, is a trusted origin; or the browser says the request is
    same-origin (Sec-Fetch-Site is set by the browser and cannot be forged by a page)."""
    headers = request.headers
    if headers.get("sec-fetch-site") == "same-origin":
        return True
    source = headers.get("origin")
    if source is None or source == "null":
        source = headers.get("referer") if source is None else None
    origin = origin_of(source) if source else None
    return origin is not None and origin in settings.trusted_origins


def check_csrf(
    request: Request, settings: Settings, secret: str, cookies: BrowserCookies, session_id: str
) -> None:
    """Raise `CsrfFailed` for an unsafe cookie-authenticated request that proves nothing."""
    if request.method in SAFE_METHODS or origin_trusted(request, settings):
        return
    header = next((request.headers[h] for h in CSRF_HEADERS if h in request.headers), None)
    if (
        header
        and cookies.csrf
        and hmac.compare_digest(header.encode(), cookies.csrf.encode())
        and csrf_token_valid(secret, session_id, cookies.csrf)
    ):
        return
    raise CsrfFailed()


# Setting and clearing ------------------------------------------------------------------------


def _set(
    response: Response,
    settings: Settings,
    name: str,
    value: str,
    max_age: int,
    *,
    http_only: bool = True,
    same_site: Literal["lax", "strict", "none"] = "lax",
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        domain=settings.cookie_domain,
        secure=settings.secure_cookies,
        httponly=http_only,
        samesite=same_site,
    )


def set_access_cookie(response: Response, settings: Settings, token: str, max_age: int) -> None:
    _set(response, settings, settings.access_cookie_name, token, max_age)


def renew_access_cookie(request: Request, settings: Settings, token: str, max_age: int) -> None:
    """The renewed access cookie of a cookie session (refreshed while authenticating), sent
    with whatever answer the request ends with, however the endpoint builds it."""
    renewed = Response()
    set_access_cookie(renewed, settings, token, max_age)
    for name, value in renewed.raw_headers:
        if name == b"set-cookie":
            add_response_header(request.state, name, value)


def set_session_cookies(
    response: Response,
    settings: Settings,
    secret: str,
    *,
    access_token: str,
    access_max_age: int,
    refresh_token: str,
    session_id: str,
    session_max_age: int,
) -> None:
    set_access_cookie(response, settings, access_token, access_max_age)
    _set(response, settings, settings.refresh_cookie_name, refresh_token, session_max_age)
    csrf = new_csrf_token(secret, session_id)
    _set(response, settings, settings.csrf_cookie_name, csrf, session_max_age, http_only=False)


def clear_session_cookies(response: Response, settings: Settings) -> None:
    for name in (
        settings.access_cookie_name,
        settings.refresh_cookie_name,
        settings.csrf_cookie_name,
    ):
        response.delete_cookie(
            name,
            path="/",
            domain=settings.cookie_domain,
            secure=settings.secure_cookies,
            httponly=name != settings.csrf_cookie_name,
            samesite="lax",
        )
