"""OpenID Connect sign-in against a real provider process on a loopback port (and, for the
forged-token cases, a real proxy in front of it that rewrites its tokens)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from sqlalchemy import select

from tessera.core.identity.models import AuthSession, OAuthAccount, User
from tessera.core.identity.state import IdentityState
from tessera.core.modules import Hooks
from tests.core.identity.conftest import AppFactory, audit_rows, set_user_flags
from tests.helpers.identity import DEFAULT_PASSWORD, register_and_login
from tests.helpers.oidc import (
    CLIENT_ID,
    CLIENT_SECRET,
    ForgingProxy,
    OpenIdProvider,
    redirect_query,
    sign_in_through,
    with_param,
)

FRONTEND = "http://localhost:3000"
PUBLIC = "http://testserver"


def _settings(issuer: str, **overrides: Any) -> dict[str, Any]:
    return {
        "google_client_id": CLIENT_ID,
        "google_client_secret": CLIENT_SECRET,
        "oidc_google_issuer": issuer,
        "public_url": PUBLIC,
        "frontend_url": FRONTEND,
        "cors_origins": [FRONTEND],
        **overrides,
    }


@asynccontextmanager
async def _app(
    app_with: AppFactory, issuer: str, *, invited: set[str] | None = None, **overrides: Any
) -> AsyncIterator[tuple[Any, httpx2.AsyncClient]]:
    async with app_with(**_settings(issuer, **overrides)) as (app, client):
        if invited is not None:

            async def is_invited(_session: Any, email: str) -> bool:
                return email in invited

            # The hook a module declares (family answers it for invited members).
            app.state.runtime.get(IdentityState).hooks = Hooks(signups=(is_invited,))
        yield app, client


async def _sessions(app: Any, email: str) -> int:
    async with app.state.runtime.db.session(write=False) as session:
        user = await session.scalar(select(User).where(User.email == email))
        if user is None:
            return 0
        rows = await session.scalars(select(AuthSession).where(AuthSession.user_id == user.id))
        return len(rows.all())


def _assert_failed(response: httpx2.Response, code: str) -> None:
    assert response.status_code == 302
    assert response.headers["location"].startswith(FRONTEND + "/?")
    query = redirect_query(response)
    assert query["error"] == code, query
    assert query["message"]
    cookies = " ".join(response.headers.get_list("set-cookie"))
    assert "tessera_access=" not in cookies and "tessera_refresh=" not in cookies


async def test_an_invited_newcomer_signs_up_and_lands_on_the_frontend_signed_in(
    app_with: AppFactory, provider: OpenIdProvider
) -> None:
    provider.add_user("new-1", email="Invited@Example.com", email_verified=True, name="Ines")
    async with _app(app_with, provider.issuer, invited={"invited@example.com"}) as (app, client):
        response = await sign_in_through(client, "new-1", login_path="/api/auth/google")
        assert response.status_code == 302, response.text
        assert response.headers["location"] == FRONTEND + "/"
        me = await client.get("/api/auth/me", headers={"Origin": FRONTEND})
        assert me.status_code == 200, me.text
        body = me.json()
        assert body["email"] == "invited@example.com" and body["full_name"] == "Ines"
        assert body["email_verified"] is True
        async with app.state.runtime.db.session(write=False) as session:
            link = await session.scalar(select(OAuthAccount))
        assert link is not None and (link.issuer, link.subject) == (provider.issuer, "new-1")
        assert [row.action for row in await audit_rows(app.state.runtime, "auth.oidc_signup")]


async def test_the_seed_paths_use_the_seed_callback_and_next_is_kept(
    app_with: AppFactory, provider: OpenIdProvider
) -> None:
    provider.add_user("new-2", email="n2@example.com", email_verified=True)
    async with _app(app_with, provider.issuer, oidc_allow_signup=True) as (_, client):
        start = await client.get("/api/auth/google?next=/family/tasks")
        redirect_uri = dict(httpx2.URL(start.headers["location"]).params.multi_items())[
            "redirect_uri"
        ]
        assert redirect_uri == f"{PUBLIC}/api/auth/google/callback"
        canonical = await client.get("/auth/oidc/google/login")
        uri = httpx2.URL(canonical.headers["location"]).params["redirect_uri"]
        assert uri == f"{PUBLIC}/auth/oidc/google/callback"
        params = httpx2.URL(canonical.headers["location"]).params
        assert params["code_challenge_method"] == "S256" and params["nonce"] and params["state"]
        response = await sign_in_through(
            client, "new-2", login_path="/api/auth/google?next=/family/tasks"
        )
        assert response.headers["location"] == FRONTEND + "/family/tasks"
        hostile = await sign_in_through(
            client, "new-2", login_path="/auth/oidc/google/login?next=//evil.example/x"
        )
        assert hostile.headers["location"] == FRONTEND + "/"


async def test_a_linked_identity_signs_in_again_to_the_same_account(
    app_with: AppFactory, provider: OpenIdProvider
) -> None:
    provider.add_user("linked", email="linked@example.com", email_verified=True)
    async with _app(app_with, provider.issuer, oidc_allow_signup=True) as (app, client):
        first = await sign_in_through(client, "linked")
        me1 = (await client.get("/auth/me")).json()
        client.cookies.clear()
        # The provider's e-mail changes; the (issuer, subject) link still finds the account.
        provider.add_user("linked", email="renamed@example.com", email_verified=True)
        second = await sign_in_through(client, "linked")
        me2 = (await client.get("/auth/me")).json()
        assert first.status_code == second.status_code == 302
        assert me1["id"] == me2["id"] and me2["email"] == "linked@example.com"
        assert await _sessions(app, "linked@example.com") == 2


async def test_linking_by_email_only_to_a_verified_or_passwordless_account(
    app_with: AppFactory, provider: OpenIdProvider
) -> None:
    async with _app(app_with, provider.issuer) as (app, client):
        owner = await register_and_login(client, email="owner@example.com")
        provider.add_user("owner-google", email="owner@example.com", email_verified=True)
        refused = await sign_in_through(client, "owner-google")
        _assert_failed(refused, "account_exists")
        await set_user_flags(app.state.runtime, owner.id, email_verified=True)
        client.cookies.clear()
        linked = await sign_in_through(client, "owner-google")
        assert linked.headers["location"] == FRONTEND + "/"
        assert (await client.get("/auth/me")).json()["id"] == owner.id
        # The password still works beside the link.
        login = await client.post(
            "/auth/login", json={"email": "owner@example.com", "password": DEFAULT_PASSWORD}
        )
        assert login.status_code == 200


async def test_an_uninvited_email_gets_not_invited_and_no_account(
    app_with: AppFactory, provider: OpenIdProvider
) -> None:
    provider.add_user("stranger", email="stranger@example.com", email_verified=True)
    async with _app(app_with, provider.issuer, invited={"someone@example.com"}) as (app, client):
        response = await sign_in_through(client, "stranger")
        _assert_failed(response, "not_invited")
        assert await _sessions(app, "stranger@example.com") == 0
        async with app.state.runtime.db.session(write=False) as session:
            assert (
                await session.scalar(select(User).where(User.email == "stranger@example.com"))
                is None
            )
        failures = await audit_rows(app.state.runtime, "auth.oidc_failed")
        assert failures[-1].details["error"] == "not_invited"


async def test_an_unverified_email_is_refused(
    app_with: AppFactory, provider: OpenIdProvider
) -> None:
    provider.add_user("unverified", email="unverified@example.com", email_verified=False)
    async with _app(app_with, provider.issuer, oidc_allow_signup=True) as (app, client):
        _assert_failed(await sign_in_through(client, "unverified"), "email_not_verified")
        assert await _sessions(app, "unverified@example.com") == 0


async def test_no_email_is_refused(app_with: AppFactory, provider: OpenIdProvider) -> None:
    provider.add_user("mailless", name="No Mail")
    async with _app(app_with, provider.issuer, oidc_allow_signup=True) as (_, client):
        _assert_failed(await sign_in_through(client, "mailless"), "no_email")


async def test_state_mismatch_and_a_callback_without_the_flow_cookie(
    app_with: AppFactory, provider: OpenIdProvider
) -> None:
    provider.add_user("victim", email="victim@example.com", email_verified=True)
    async with _app(app_with, provider.issuer, oidc_allow_signup=True) as (app, client):
        tampered = await sign_in_through(
            client, "victim", tamper=lambda url: with_param(url, state="attacker-state")
        )
        _assert_failed(tampered, "state_mismatch")
        accented = await sign_in_through(
            client, "victim", tamper=lambda url: with_param(url, state="état-forgé")
        )
        _assert_failed(accented, "state_mismatch")
        # Login CSRF: an attacker's own callback URL opened in a browser that never started
        # a sign-in (no flow cookie) signs nobody in.
        start = await client.get("/auth/oidc/google/login")
        consent = httpx2.post(start.headers["location"], data={"sub": "victim"}, timeout=10)
        back = httpx2.URL(consent.headers["location"])
        client.cookies.clear()
        forced = await client.get(f"/auth/oidc/google/callback?{back.query.decode()}")
        _assert_failed(forced, "state_mismatch")
        assert await _sessions(app, "victim@example.com") == 0


async def test_nonce_mismatch_is_refused(app_with: AppFactory, provider: OpenIdProvider) -> None:
    provider.add_user("replayed", email="replayed@example.com", email_verified=True)
    async with _app(app_with, provider.issuer, oidc_allow_signup=True) as (app, client):
        response = await sign_in_through(
            client, "replayed", tamper=lambda url: with_param(url, nonce="another-nonce")
        )
        _assert_failed(response, "nonce_mismatch")
        assert await _sessions(app, "replayed@example.com") == 0


async def test_a_cancelled_sign_in_redirects_with_oauth_failed(
    app_with: AppFactory, provider: OpenIdProvider
) -> None:
    async with _app(app_with, provider.issuer, oidc_allow_signup=True) as (_, client):
        start = await client.get("/auth/oidc/google/login")
        denied = httpx2.post(start.headers["location"], data={"action": "deny"}, timeout=10)
        back = httpx2.URL(denied.headers["location"])
        response = await client.get(f"/auth/oidc/google/callback?{back.query.decode()}")
        _assert_failed(response, "oauth_failed")


async def test_an_expired_id_token_is_refused(app_with: AppFactory) -> None:
    with OpenIdProvider.start("--token-max-age", "-3600") as stale:
        stale.add_user("late", email="late@example.com", email_verified=True)
        async with _app(app_with, stale.issuer, oidc_allow_signup=True) as (app, client):
            _assert_failed(await sign_in_through(client, "late"), "invalid_id_token")
            assert await _sessions(app, "late@example.com") == 0


async def test_a_token_for_another_audience_is_refused(
    app_with: AppFactory, provider: OpenIdProvider
) -> None:
    proxy = ForgingProxy(provider.issuer, claims={"aud": "someone-else"}, publish_key=True)
    provider.add_user("aud", email="aud@example.com", email_verified=True)
    with proxy.running():
        async with _app(app_with, proxy.issuer, oidc_allow_signup=True) as (app, client):
            _assert_failed(await sign_in_through(client, "aud"), "invalid_id_token")
            assert await _sessions(app, "aud@example.com") == 0
            # The same forging proxy with honest claims passes: only the audience failed.
            proxy.claims = {}
            ok = await sign_in_through(client, "aud")
            assert ok.headers["location"] == FRONTEND + "/"


async def test_a_token_signed_by_a_key_the_provider_does_not_publish_is_refused(
    app_with: AppFactory, provider: OpenIdProvider
) -> None:
    proxy = ForgingProxy(provider.issuer, publish_key=False)
    provider.add_user("forged", email="forged@example.com", email_verified=True)
    with proxy.running():
        async with _app(app_with, proxy.issuer, oidc_allow_signup=True) as (app, client):
            _assert_failed(await sign_in_through(client, "forged"), "invalid_id_token")
            assert await _sessions(app, "forged@example.com") == 0


async def test_the_providers_key_rotation_is_picked_up(app_with: AppFactory) -> None:
    with OpenIdProvider.start() as rotating:
        rotating.add_user("rot", email="rot@example.com", email_verified=True)
        async with _app(app_with, rotating.issuer, oidc_allow_signup=True) as (app, client):
            assert (await sign_in_through(client, "rot")).headers["location"] == FRONTEND + "/"
            old_keys = rotating.key_ids()
            rotating.restart()  # a new process signs with a new key
            assert rotating.key_ids() != old_keys
            rotating.add_user("rot", email="rot@example.com", email_verified=True)
            client.cookies.clear()
            again = await sign_in_through(client, "rot")
            assert again.headers["location"] == FRONTEND + "/", redirect_query(again)
            assert await _sessions(app, "rot@example.com") == 2


async def test_an_unconfigured_provider_redirects_with_an_error(
    app_with: AppFactory,
) -> None:
    async with app_with(frontend_url=FRONTEND) as (_, client):
        response = await client.get("/api/auth/google")
        _assert_failed(response, "provider_not_configured")
