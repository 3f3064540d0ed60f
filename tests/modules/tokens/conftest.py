"""Shared fixtures for the tokens protocol tests: the published test vectors and RSA keys.

The vectors live outside the repository, in `<repo>/../shared/vectors` (override with
TESSERA_VECTORS_DIR). Keys are expensive, so each is built once per session.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tessera.modules.tokens import keys

REPO_ROOT = Path(__file__).resolve().parents[3]


def vectors_dir() -> Path:
    override = os.environ.get("TESSERA_VECTORS_DIR")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "vectors"


def load_vectors(name: str) -> Any:
    path = vectors_dir() / name
    if not path.is_file():
        pytest.skip(f"test vectors not found at {path} (set TESSERA_VECTORS_DIR)")
    return json.loads(path.read_text(encoding="utf-8"))


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
