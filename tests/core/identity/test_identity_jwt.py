"""Access-token attacks: each forged or misused token is a 401, never a 5xx."""

from __future__ import annotations

import base64
import json
import secrets
import time
import warnings
from typing import Any

import httpx2
import jwt
import pytest

from tests.helpers.identity import AuthedUser, register_and_login


def b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims_of(user: AuthedUser) -> dict[str, Any]:
    return dict(jwt.decode(user.access_token, options={"verify_signature": False}))


def sign(runtime: Any, claims: dict[str, Any], **kwargs: Any) -> str:
    return jwt.encode(claims, runtime.settings.jwt_secret(), algorithm="HS256", **kwargs)


async def status_with(client: httpx2.AsyncClient, token: str) -> int:
    response = await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    return response.status_code


async def test_a_correctly_forged_token_would_pass(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    """Control: the forgeries below differ from a valid token only in what they test."""
    user = await register_and_login(client)
    assert await status_with(client, sign(runtime, claims_of(user))) == 200


async def test_alg_none_is_refused(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    for alg in ("none", "None", "NONE"):
        token = f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(claims_of(user))}."
        assert await status_with(client, token) == 401


async def test_a_token_signed_with_another_key_is_refused(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    token = jwt.encode(claims_of(user), secrets.token_urlsafe(48), algorithm="HS256")
    assert await status_with(client, token) == 401


async def test_other_algorithms_are_refused(client: httpx2.AsyncClient, runtime: Any) -> None:
    user = await register_and_login(client)
    for alg in ("HS384", "HS512"):
        with warnings.catch_warnings():  # PyJWT warns that the test key is short for these
            warnings.simplefilter("ignore")
            token = jwt.encode(claims_of(user), runtime.settings.jwt_secret(), algorithm=alg)
        assert await status_with(client, token) == 401


async def test_expired_token_is_refused(client: httpx2.AsyncClient, runtime: Any) -> None:
    user = await register_and_login(client)
    now = int(time.time())
    claims = claims_of(user) | {"iat": now - 3600, "exp": now - 60}
    assert await status_with(client, sign(runtime, claims)) == 401


@pytest.mark.parametrize("claim", ["aud", "iss"])
async def test_wrong_audience_or_issuer_is_refused(
    client: httpx2.AsyncClient, runtime: Any, claim: str
) -> None:
    user = await register_and_login(client)
    assert (
        await status_with(client, sign(runtime, claims_of(user) | {claim: "someone-else"})) == 401
    )


@pytest.mark.parametrize("claim", ["sub", "sid", "jti", "typ", "iat", "exp", "iss", "aud"])
async def test_every_claim_is_required(
    client: httpx2.AsyncClient, runtime: Any, claim: str
) -> None:
    user = await register_and_login(client)
    claims = claims_of(user)
    del claims[claim]
    assert await status_with(client, sign(runtime, claims)) == 401


async def test_refresh_and_other_token_types_are_not_access_tokens(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    user = await register_and_login(client)
    assert await status_with(client, user.refresh_token) == 401
    for typ in ("refresh", "reset", "id", "license"):
        assert await status_with(client, sign(runtime, claims_of(user) | {"typ": typ})) == 401


async def test_tampered_payload_is_refused(client: httpx2.AsyncClient) -> None:
    user = await register_and_login(client)
    victim = await register_and_login(client)
    header, _, signature = user.access_token.split(".")
    for change in ({"sub": victim.id}, {"role": "admin", "is_admin": True}):
        payload = b64(claims_of(user) | change)
        assert await status_with(client, f"{header}.{payload}.{signature}") == 401


async def test_unknown_crit_header_is_refused(client: httpx2.AsyncClient, runtime: Any) -> None:
    user = await register_and_login(client)
    token = sign(runtime, claims_of(user), headers={"crit": ["x-unknown"], "x-unknown": 1})
    assert await status_with(client, token) == 401


async def test_a_token_for_a_session_that_never_existed_is_refused(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    user = await register_and_login(client)
    forged = claims_of(user) | {"sid": "00000000-0000-4000-8000-000000000000"}
    assert await status_with(client, sign(runtime, forged)) == 401


async def test_garbage_and_oversized_tokens_are_401_not_5xx(client: httpx2.AsyncClient) -> None:
    garbage = ["", "a", "a.b.c", "eyJ.eyJ.", "Bearer", "....", "x" * 300_000, "é.ü.ß"]
    garbage += [secrets.token_urlsafe(n) for n in (8, 64, 512)]
    for token in garbage:
        response = await client.get(
            "/auth/me", headers={"Authorization": f"Bearer {token}".encode()}
        )
        assert response.status_code == 401, token[:20]


async def test_another_users_sub_on_my_live_session_is_refused(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    """With Redis the session is cached alive after its first use; the cached entry names its
    user, so a token pairing someone else's `sub` with the caller's own `sid` is refused."""
    attacker = await register_and_login(client)
    victim = await register_and_login(client)
    assert await status_with(client, attacker.access_token) == 200  # now cached, if Redis
    forged = sign(runtime, {**claims_of(attacker), "sub": victim.id})
    response = await client.get("/auth/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401, response.text
    assert await status_with(client, attacker.access_token) == 200  # the real token still works


async def test_an_expiry_beyond_the_token_lifetime_is_refused(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    user = await register_and_login(client)
    claims = claims_of(user)
    assert await status_with(client, sign(runtime, {**claims, "exp": claims["exp"] + 5})) == 200
    lifetime = runtime.settings.access_token_expire_minutes * 60
    beyond = int(time.time()) + lifetime + 120
    assert await status_with(client, sign(runtime, {**claims, "exp": beyond})) == 401
    decade = int(time.time()) + 10 * 365 * 86400
    assert await status_with(client, sign(runtime, {**claims, "exp": decade})) == 401
