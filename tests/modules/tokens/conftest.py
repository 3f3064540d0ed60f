"""Shared fixtures for the tokens protocol tests: the published test vectors and RSA keys.

The vectors live in `tests/vectors/` (their sources are named in its README). Keys are
expensive, so each is built once per session.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tessera.protocols.tokens import keys

VECTORS_DIR = Path(__file__).resolve().parents[2] / "vectors"


def load_vectors(name: str) -> Any:
    return json.loads((VECTORS_DIR / name).read_text(encoding="utf-8"))


def rsa_private_key_from_pqd(p: int, q: int, d: int, e: int) -> rsa.RSAPrivateKey:
    public = rsa.RSAPublicNumbers(e, p * q)
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q), public
    )
    return numbers.private_key()


@pytest.fixture(scope="session")
def rfc9474_vectors() -> list[dict[str, str]]:
    vectors: list[dict[str, str]] = load_vectors("rfc9474.json")
    return vectors


@pytest.fixture(scope="session")
def rfc9578_vectors() -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = load_vectors("rfc9578.json")
    return vectors


@pytest.fixture(scope="session")
def rfc9577_vectors() -> dict[str, Any]:
    vectors: dict[str, Any] = load_vectors("rfc9577.json")
    return vectors


@pytest.fixture(scope="session")
def bloom_proposal() -> dict[str, Any]:
    vectors: dict[str, Any] = load_vectors("bloom_proposal.json")
    return vectors


@pytest.fixture(scope="session")
def rfc9474_key(rfc9474_vectors: list[dict[str, str]]) -> rsa.RSAPrivateKey:
    """The 4096-bit key of RFC 9474 Appendix A (the same in all four vectors)."""
    first = rfc9474_vectors[0]
    return rsa_private_key_from_pqd(*(int(first[f], 16) for f in ("p", "q", "d", "e")))


@pytest.fixture(scope="session")
def rfc9578_key(rfc9578_vectors: list[dict[str, Any]]) -> rsa.RSAPrivateKey:
    """The 2048-bit issuer key of the RFC 9578 type-2 vectors."""
    return keys.load_private_key_pem(bytes.fromhex(rfc9578_vectors[0]["skS"]))


@pytest.fixture(scope="session")
def issuer_key() -> rsa.RSAPrivateKey:
    """A freshly generated 2048-bit issuer key, as `tessera tokens keygen` would make."""
    return keys.generate_private_key()


# --- the service over HTTP -----------------------------------------------------------------------
# (imported here, below the protocol fixtures, so the pure tests above stay import-light)

from datetime import timedelta  # noqa: E402

from tests.helpers.identity import make_api_key  # noqa: E402

from tessera.client import tokens as client_sdk  # noqa: E402
from tessera.client.tokens_http import TokensApi  # noqa: E402
from tessera.core.db.base import utcnow  # noqa: E402
from tessera.modules.tokens.keyring import generate_key, store_key  # noqa: E402
from tessera.modules.tokens.state import TokensState  # noqa: E402

CHALLENGE = client_sdk.TokenChallenge("tickets.tessera.test")


async def install_key(
    runtime: Any,
    private_key: rsa.RSAPrivateKey,
    *,
    not_before: Any = None,
    lifetime: timedelta = timedelta(days=30),
) -> client_sdk.IssuerKey:
    """Store `private_key` as an issuer key of the running app (sealed with its KEK)."""
    tokens: TokensState = runtime.get(TokensState)
    start = not_before or utcnow() - timedelta(minutes=1)
    async with runtime.db.session() as session:
        stored = await store_key(
            session, tokens.config.kek, private_key, not_before=start, expires_at=start + lifetime
        )
    assert stored is not None, "the key (or its truncated id) is already installed"
    tokens.keyring.invalidate()
    return client_sdk.IssuerKey(private_key.public_key())


async def install_new_key(
    runtime: Any, *, not_before: Any = None, lifetime: timedelta = timedelta(days=30)
) -> client_sdk.IssuerKey:
    """A freshly generated issuer key whose truncated id no installed key uses."""
    tokens: TokensState = runtime.get(TokensState)
    async with runtime.db.session() as session:
        stored = await generate_key(
            session,
            tokens.config.kek,
            not_before=not_before or utcnow() - timedelta(minutes=1),
            lifetime=lifetime,
        )
    tokens.keyring.invalidate()
    return client_sdk.IssuerKey(stored.public_key)


@pytest.fixture
def tokens_state(runtime: Any) -> TokensState:
    state: TokensState = runtime.get(TokensState)
    return state


@pytest.fixture
async def issuer(runtime: Any, issuer_key: rsa.RSAPrivateKey) -> client_sdk.IssuerKey:
    """The session's generated key, installed as the app's live signing key."""
    return await install_key(runtime, issuer_key)


@pytest.fixture
async def kiosk(runtime: Any) -> dict[str, str]:
    return await make_api_key(runtime, "kiosk")


@pytest.fixture
async def validator(runtime: Any) -> dict[str, str]:
    return await make_api_key(runtime, "validator")


@pytest.fixture
async def staff(runtime: Any) -> dict[str, str]:
    return await make_api_key(runtime, "staff")


@pytest.fixture
def api(client: Any) -> TokensApi:
    return TokensApi(client)
