"""Cookie sessions for browsers and their CSRF defence, through HTTP like a browser sends it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx2
import pytest
from fastapi import APIRouter, Depends

from tessera.core.identity import Caller, OptionalCaller, Principal
from tests.core.identity.conftest import AppFactory
from tests.helpers.identity import DEFAULT_PASSWORD, register_and_login

FRONTEND = "http://localhost:3000"
EVIL = "https://evil.example"
ACCESS, REFRESH, CSRF = "tessera_access", "tessera_refresh", "XSRF-TOKEN"


@pytest.fixture
async def browser(app_with: AppFactory) -> AsyncIterator[tuple[Any, httpx2.AsyncClient]]:
    """An app that trusts the frontend origin, and a client that keeps cookies and names
    its Origin on every request, as a page on that origin does."""
    async with app_with(cors_origins=[FRONTEND], frontend_url=FRONTEND) as (app, client):
        client.headers["Origin"] = FRONTEND
        yield app, client


async def _sign_in(client: httpx2.AsyncClient) -> tuple[Any, httpx2.Response]:
    user = await register_and_login(client)
    client.cookies.clear()  # the helper's login set cookies too; sign in afresh
    response = await client.post(
        "/api/auth/login", json={"email": user.email, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 200, response.text
    return user, response


def _jar(client: httpx2.AsyncClient, values: dict[str, str]) -> None:
    """Make the client hold exactly these cookies (a thief's copy, a tossed cookie …)."""
    client.cookies.clear()
    for name, value in values.items():
        client.cookies.set(name, value)


def _set_cookies(response: httpx2.Response) -> dict[str, str]:
    return {header.split("=", 1)[0]: header for header in response.headers.get_list("set-cookie")}


async def test_login_sets_http_only_lax_cookies_and_answers_the_user(
    browser: tuple[Any, httpx2.AsyncClient],
) -> None:
    _, client = browser
    user, response = await _sign_in(client)
    cookies = _set_cookies(response)
    assert set(cookies) == {ACCESS, REFRESH, CSRF}
    for name in (ACCESS, REFRESH):
        assert "HttpOnly" in cookies[name] and "SameSite=lax" in cookies[name]
        assert "Secure" not in cookies[name]  # the public URL is http here
    assert "HttpOnly" not in cookies[CSRF]  # the page reads it to echo it back
    body = response.json()
    assert body["user"]["id"] == user.id and body["user"]["email"] == user.email
    assert body["requires_2fa"] is False and body["access_token"] and body["refresh_token"]


async def test_a_client_that_is_no_browser_gets_no_cookies(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    response = await client.post(
        "/auth/login", json={"email": user.email, "password": DEFAULT_PASSWORD}
    )
    assert response.headers.get_list("set-cookie") == []
    assert response.json()["user"]["id"] == user.id


async def test_a_page_of_another_site_gets_no_session_cookies(
    browser: tuple[Any, httpx2.AsyncClient],
) -> None:
    """Login CSRF: a form on another site posting the attacker's credentials must not sign
    the victim's browser in to the attacker's account."""
    _, client = browser
    user = await register_and_login(client)
    client.cookies.clear()
    response = await client.post(
        "/auth/login",
        data={"username": user.email, "password": DEFAULT_PASSWORD},
        headers={"Origin": EVIL},
    )
    assert response.status_code == 200
    assert response.headers.get_list("set-cookie") == []


async def test_me_and_logout_work_by_cookie_and_logout_clears_them(
    browser: tuple[Any, httpx2.AsyncClient],
) -> None:
    _, client = browser
    user, _ = await _sign_in(client)
    me = await client.get("/api/auth/me")
    assert me.status_code == 200 and me.json()["id"] == user.id
    old = dict(client.cookies)
    logout = await client.post("/api/auth/logout")
    assert logout.status_code == 200 and logout.json()["success"] is True
    assert not client.cookies.get(ACCESS) and not client.cookies.get(REFRESH)
    # Cookies kept by a thief from before the logout are dead too.
    _jar(client, old)
    replay = await client.get("/auth/me")
    assert replay.status_code == 401


async def test_refresh_by_cookie_rotates_and_the_old_refresh_cookie_dies(
    browser: tuple[Any, httpx2.AsyncClient],
) -> None:
    _, client = browser
    await _sign_in(client)
    old_refresh = client.cookies[REFRESH]
    response = await client.post("/auth/refresh")
    assert response.status_code == 200, response.text
    assert client.cookies[REFRESH] != old_refresh
    assert (await client.get("/auth/me")).status_code == 200
    _jar(client, {**dict(client.cookies), REFRESH: old_refresh})
    reuse = await client.post("/auth/refresh")
    assert reuse.status_code == 401


async def test_a_stale_access_cookie_is_renewed_from_the_refresh_cookie(
    browser: tuple[Any, httpx2.AsyncClient],
) -> None:
    _, client = browser
    user, _ = await _sign_in(client)
    first_access = client.cookies[ACCESS]
    client.cookies.delete(ACCESS)  # the browser dropped it when it expired
    me = await client.get("/auth/me")
    assert me.status_code == 200 and me.json()["id"] == user.id
    assert client.cookies[ACCESS] != first_access
    # The old access token is superseded: presented again it is renewed once more.
    _jar(client, {**dict(client.cookies), ACCESS: first_access})
    again = await client.get("/auth/me")
    assert again.status_code == 200


async def test_the_renewed_access_cookie_rides_on_any_answer(app_with: AppFactory) -> None:
    """An endpoint that builds its own answer (an idempotent deposit's stored reply) still
    hands the browser the access cookie renewed while authenticating it."""
    settings = {"cors_origins": [FRONTEND], "frontend_url": FRONTEND}
    async with app_with(**settings, wallet_direct_deposits=True) as (_, client):
        client.headers["Origin"] = FRONTEND
        await _sign_in(client)
        stale = client.cookies[ACCESS]
        client.cookies.delete(ACCESS)
        deposit = await client.post(
            "/api/v1/wallet/deposit",
            json={"amount_usd": "5.00"},
            headers={"X-XSRF-TOKEN": client.cookies[CSRF], "Idempotency-Key": "cookie-1"},
        )
        assert deposit.status_code == 200, deposit.text
        assert ACCESS in _set_cookies(deposit) and client.cookies[ACCESS] != stale
        assert (await client.get("/auth/me")).status_code == 200  # with the renewed cookie
        assert ACCESS not in _set_cookies(await client.get("/auth/me"))  # nothing to renew


async def test_cross_site_origin_is_refused_and_allowed_origin_passes(
    browser: tuple[Any, httpx2.AsyncClient],
) -> None:
    _, client = browser
    await _sign_in(client)
    forged = await client.post("/auth/logout-all", headers={"Origin": EVIL})
    assert forged.status_code == 403 and forged.json()["error"] == "csrf_failed"
    assert (await client.get("/auth/me")).status_code == 200  # nothing was ended
    allowed = await client.post("/auth/2fa/setup")
    assert allowed.status_code == 200


async def test_forged_multipart_form_post_from_another_site_is_refused(
    browser: tuple[Any, httpx2.AsyncClient],
) -> None:
    """A multipart POST is a CORS "simple" request: the browser sends it cross-site without
    asking, with the victim's Lax cookies when it is a top-level form submission."""
    _, client = browser
    await _sign_in(client)
    files = {"file": ("a.txt", b"hello", "text/plain")}
    forged = await client.post(
        "/api/auth/2fa/setup",
        files=files,
        headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"},
    )
    assert forged.status_code == 403 and forged.json()["error"] == "csrf_failed"
    same_site_page = await client.post("/api/auth/2fa/setup", files=files)
    assert same_site_page.status_code == 200


async def test_without_origin_the_double_submit_header_decides(
    browser: tuple[Any, httpx2.AsyncClient],
) -> None:
    _, client = browser
    await _sign_in(client)
    del client.headers["Origin"]
    token = client.cookies[CSRF]
    assert (await client.post("/auth/2fa/setup")).status_code == 403
    wrong = await client.post("/auth/2fa/setup", headers={"X-CSRF-Token": token + "x"})
    assert wrong.status_code == 403
    assert (
        await client.post("/auth/2fa/setup", headers={"X-CSRF-Token": token})
    ).status_code == 200
    axios = await client.post("/auth/2fa/setup", headers={"X-XSRF-TOKEN": token})
    assert axios.status_code == 200
    referer = await client.post("/auth/2fa/setup", headers={"Referer": f"{FRONTEND}/settings"})
    assert referer.status_code == 200
    same_origin = await client.post("/auth/2fa/setup", headers={"Sec-Fetch-Site": "same-origin"})
    assert same_origin.status_code == 200


async def test_a_csrf_cookie_of_another_session_does_not_pass(
    browser: tuple[Any, httpx2.AsyncClient],
) -> None:
    """Signed double-submit: a token planted from a sibling subdomain (cookie tossing) is
    bound to the attacker's own session and fails for the victim's."""
    _, client = browser
    await _sign_in(client)
    attacker_token = client.cookies[CSRF]
    await _sign_in(client)  # the victim's session
    del client.headers["Origin"]
    _jar(client, {**dict(client.cookies), CSRF: attacker_token})
    response = await client.post("/auth/2fa/setup", headers={"X-CSRF-Token": attacker_token})
    assert response.status_code == 403


async def test_bearer_is_unaffected_and_an_authorization_header_ignores_cookies(
    browser: tuple[Any, httpx2.AsyncClient],
) -> None:
    _, client = browser
    user, response = await _sign_in(client)
    bearer = {"Authorization": f"Bearer {response.json()['access_token']}", "Origin": EVIL}
    assert (await client.post("/auth/2fa/setup", headers=bearer)).status_code == 200
    broken = await client.get("/auth/me", headers={"Authorization": "Bearer nonsense"})
    assert broken.status_code == 401  # the valid cookies beside it are not consulted
    assert (await client.get("/auth/me")).json()["id"] == user.id


async def test_register_from_a_browser_signs_in(browser: tuple[Any, httpx2.AsyncClient]) -> None:
    _, client = browser
    response = await client.post(
        "/api/auth/register", json={"email": "new@example.com", "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["user"]["email"] == "new@example.com" and body["id"] == body["user"]["id"]
    assert set(_set_cookies(response)) == {ACCESS, REFRESH, CSRF}
    assert (await client.get("/api/auth/me")).json()["email"] == "new@example.com"


async def test_cors_allows_credentials_and_the_csrf_headers_even_on_errors(
    browser: tuple[Any, httpx2.AsyncClient],
) -> None:
    _, client = browser
    preflight = await client.options(
        "/api/auth/logout",
        headers={
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-csrf-token,x-xsrf-token,content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == FRONTEND
    assert preflight.headers["access-control-allow-credentials"] == "true"
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert "x-csrf-token" in allowed and "x-xsrf-token" in allowed
    error = await client.get("/api/auth/me")
    assert error.status_code == 401
    assert error.headers["access-control-allow-origin"] == FRONTEND
    assert error.headers["access-control-allow-credentials"] == "true"


async def test_modules_dependencies_accept_the_cookie(
    browser: tuple[Any, httpx2.AsyncClient],
) -> None:
    """`Caller` and `OptionalCaller` as a module uses them: the cookie is a user; stale or
    cross-site cookies make `OptionalCaller` anonymous rather than failing."""
    app, client = browser
    router = APIRouter()

    @router.post("/_probe/caller")
    async def caller(who: Annotated[Principal, Depends(Caller("kiosk"))]) -> dict[str, Any]:
        return {"kind": who.kind, "id": who.id}

    @router.post("/_probe/optional")
    async def optional(
        who: Annotated[Principal | None, Depends(OptionalCaller("kiosk"))],
    ) -> dict[str, Any]:
        return {"id": who.id if who else None}

    app.include_router(router)
    user, _ = await _sign_in(client)
    assert (await client.post("/_probe/caller")).json() == {"kind": "user", "id": user.id}
    forged = await client.post("/_probe/caller", headers={"Origin": EVIL})
    assert forged.status_code == 403 and forged.json()["error"] == "csrf_failed"
    assert (await client.post("/_probe/optional")).json() == {"id": user.id}
    cross_site = await client.post("/_probe/optional", headers={"Origin": EVIL})
    assert cross_site.json() == {"id": None}
    _jar(client, {ACCESS: "stale", REFRESH: "gone"})
    assert (await client.post("/_probe/optional")).json() == {"id": None}
    assert (await client.post("/_probe/caller")).status_code == 401


async def test_cookies_are_secure_when_the_public_url_is_https(app_with: AppFactory) -> None:
    async with app_with(
        cors_origins=[FRONTEND], frontend_url=FRONTEND, public_url="https://api.example.com"
    ) as (_, client):
        client.headers["Origin"] = FRONTEND
        _, response = await _sign_in(client)
        cookies = _set_cookies(response)
        assert all("Secure" in header for header in cookies.values()), cookies


async def test_a_forged_refresh_is_refused_and_the_session_survives(
    browser: tuple[Any, httpx2.AsyncClient],
) -> None:
    _, client = browser
    await _sign_in(client)
    refresh = client.cookies[REFRESH]
    forged = await client.post("/auth/refresh", headers={"Origin": EVIL})
    assert forged.status_code == 403 and forged.json()["error"] == "csrf_failed"
    assert client.cookies[REFRESH] == refresh  # not rotated behind the owner's back
    assert (await client.post("/auth/refresh")).status_code == 200


async def test_a_write_with_a_stale_access_cookie_renews_it_in_its_own_transaction(
    browser: tuple[Any, httpx2.AsyncClient],
) -> None:
    _, client = browser
    await _sign_in(client)
    client.cookies.delete(ACCESS)
    response = await client.post("/auth/2fa/setup")
    assert response.status_code == 200, response.text
    assert ACCESS in _set_cookies(response)
    assert (await client.get("/auth/me")).status_code == 200
