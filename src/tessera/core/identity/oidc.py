"""OpenID Connect relying party, protocol only: discovery, the authorization request with PKCE
(S256), the code exchange, and ID-token verification with joserfc against the provider's JWKS.

No database and no FastAPI here. Discovery documents and key sets are cached per issuer; an ID
token signed with a key id the cached set does not hold makes us fetch the set again (the
provider rotated its keys) — so does a bad signature, as a provider that names no key id
rotates its only key — at most once a second.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import httpx2
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet

HTTP_TIMEOUT_SECONDS = 10.0
DISCOVERY_TTL_SECONDS = 3600.0
MIN_REFETCH_SECONDS = 1.0
LEEWAY_SECONDS = 60
# Asymmetric only: an HS256 ID token would be signed with our own client secret.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
MAX_TOKEN_LENGTH = 16_384


class OidcError(Exception):
    """A sign-in that failed; `code` goes to the frontend as `?error=`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Provider:
    name: str
    issuer: str
    client_id: str
    client_secret: str | None
    scopes: str = "openid email profile"


@dataclass(frozen=True)
class Flow:
    """What the browser carries from the login redirect to the callback (signed cookie)."""

    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str

    @classmethod
    def start(cls, redirect_uri: str) -> Flow:
        return cls(
            state=secrets.token_urlsafe(24),
            nonce=secrets.token_urlsafe(24),
            code_verifier=secrets.token_urlsafe(48),  # 64 characters, RFC 7636 §4.1
            redirect_uri=redirect_uri,
        )

    @property
    def code_challenge(self) -> str:
        digest = hashlib.sha256(self.code_verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Identity:
    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None
    picture: str | None
    claims: dict[str, Any]


@dataclass
class _IssuerCache:
    metadata: dict[str, Any] | None = None
    metadata_at: float = 0.0
    keys: KeySet | None = None
    keys_at: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class OidcClient:
    """One per process: caches each issuer's metadata and keys."""

    def __init__(self, timeout: float = HTTP_TIMEOUT_SECONDS) -> None:
        self.timeout = timeout
        self._issuers: dict[str, _IssuerCache] = {}

    def _http(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(timeout=self.timeout, follow_redirects=False)

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with self._http() as http:
                response = await http.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            body = response.json()
        except (httpx2.HTTPError, ValueError) as exc:
            raise OidcError("provider_unavailable", "The sign-in provider did not answer") from exc
        if not isinstance(body, dict):
            raise OidcError("provider_unavailable", "The sign-in provider answered nonsense")
        return body

    def _cache(self, issuer: str) -> _IssuerCache:
        return self._issuers.setdefault(issuer, _IssuerCache())

    async def metadata(self, provider: Provider) -> dict[str, Any]:
        cache = self._cache(provider.issuer)
        async with cache.lock:
            fresh = time.monotonic() - cache.metadata_at < DISCOVERY_TTL_SECONDS
            if cache.metadata is None or not fresh:
                url = provider.issuer.rstrip("/") + "/.well-known/openid-configuration"
                document = await self._get_json(url)
                if document.get("issuer") != provider.issuer:  # OpenID Discovery §4.3
                    raise OidcError("provider_unavailable", "The provider's issuer does not match")
                for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                    if not isinstance(document.get(key), str):
                        raise OidcError("provider_unavailable", f"The provider has no {key}")
                cache.metadata, cache.metadata_at = document, time.monotonic()
            return cache.metadata

    async def _keys(self, provider: Provider, *, refetch: bool) -> KeySet:
        cache = self._cache(provider.issuer)
        async with cache.lock:
            if refetch and cache.keys is not None:
                # At most one fetch a second, whatever a caller sends: a refetch asked for
                # sooner waits for its turn instead of failing against keys just replaced.
                wait = MIN_REFETCH_SECONDS - (time.monotonic() - cache.keys_at)
                if wait > 0:
                    await asyncio.sleep(wait)
            if cache.keys is None or refetch:
                metadata = cache.metadata or {}
                document = await self._get_json(str(metadata["jwks_uri"]))
                try:
                    cache.keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
                except (JoseError, ValueError, TypeError, KeyError) as exc:
                    raise OidcError(
                        "provider_unavailable", "The provider's keys are unusable"
                    ) from exc
                cache.keys_at = time.monotonic()
            return cache.keys

    async def authorization_url(self, provider: Provider, flow: Flow) -> str:
        metadata = await self.metadata(provider)
        query = urlencode(
            {
                "response_type": "code",
                "client_id": provider.client_id,
                "redirect_uri": flow.redirect_uri,
                "scope": provider.scopes,
                "state": flow.state,
                "nonce": flow.nonce,
                "code_challenge": flow.code_challenge,
                "code_challenge_method": "S256",
            }
        )
        endpoint = str(metadata["authorization_endpoint"])
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    async def exchange(self, provider: Provider, flow: Flow, code: str) -> Identity:
        """Trade the code for tokens and verify the ID token; the identity it names."""
        metadata = await self.metadata(provider)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": flow.redirect_uri,
            "code_verifier": flow.code_verifier,
        }
        headers = {"Accept": "application/json"}
        methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        if provider.client_secret and "client_secret_basic" in methods:
            pair = f"{quote(provider.client_id, safe='')}:{quote(provider.client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            form["client_id"] = provider.client_id
            if provider.client_secret:
                form["client_secret"] = provider.client_secret
        try:
            async with self._http() as http:
                response = await http.post(
                    str(metadata["token_endpoint"]), data=form, headers=headers
                )
            body = response.json()
        except (httpx2.HTTPError, ValueError) as exc:
            raise OidcError("oauth_failed", "The sign-in provider did not answer") from exc
        if response.status_code != 200 or not isinstance(body, dict):
            raise OidcError("oauth_failed", "The sign-in provider refused the code")
        id_token = body.get("id_token")
        if not isinstance(id_token, str) or not id_token or len(id_token) > MAX_TOKEN_LENGTH:
            raise OidcError("oauth_failed", "The sign-in provider sent no ID token")
        return await self.verify_id_token(provider, id_token, nonce=flow.nonce)

    async def verify_id_token(self, provider: Provider, id_token: str, *, nonce: str) -> Identity:
        """OpenID Connect Core §3.1.3.7: signature from the provider's keys, iss, aud (and
        azp), exp, iat, nonce."""
        try:
            token = await self._decode(provider, id_token)
        except _TryFreshKeys:
            token = await self._decode(provider, id_token, refetch=True)
        claims = token.claims
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY_SECONDS,
            iss={"essential": True, "value": provider.issuer},
            aud={"essential": True, "value": provider.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError as exc:
            raise OidcError("invalid_id_token", "The sign-in has expired; try again") from exc
        except (MissingClaimError, JoseError) as exc:
            raise OidcError(
                "invalid_id_token", "The sign-in provider's token is not valid"
            ) from exc
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != provider.client_id:
            raise OidcError("invalid_id_token", "The sign-in provider's token is not for us")
        token_nonce = claims.get("nonce")
        if not isinstance(token_nonce, str) or not secrets.compare_digest(
            token_nonce.encode(), nonce.encode()
        ):
            raise OidcError("nonce_mismatch", "The sign-in did not come from this browser")
        email = claims.get("email")
        verified = claims.get("email_verified")
        return Identity(
            issuer=provider.issuer,
            subject=str(claims["sub"]),
            email=email.strip().lower() if isinstance(email, str) and email.strip() else None,
            email_verified=verified is True or verified == "true",
            name=claims.get("name") if isinstance(claims.get("name"), str) else None,
            picture=claims.get("picture") if isinstance(claims.get("picture"), str) else None,
            claims=dict(claims),
        )

    async def _decode(self, provider: Provider, id_token: str, *, refetch: bool = False) -> Any:
        """Verify the signature with the cached keys; a key id we do not hold, or a bad
        signature (providers that name no `kid` rotate their only key), raises
        `_TryFreshKeys` once so that the caller fetches the set again."""
        keys = await self._keys(provider, refetch=refetch)
        try:
            return jwt.decode(id_token, keys, algorithms=ALGORITHMS)
        except (InvalidKeyIdError, BadSignatureError) as exc:
            if not refetch:
                raise _TryFreshKeys() from exc
            raise OidcError(
                "invalid_id_token", "The token is not signed by the provider's keys"
            ) from exc
        except (JoseError, ValueError) as exc:
            raise OidcError(
                "invalid_id_token", "The sign-in provider's token is not valid"
            ) from exc


class _TryFreshKeys(Exception):
    """The cached key set cannot verify the token; the provider may have rotated its keys."""
