"""Server-issued secrets: random, ≥ 256 bits, and stored only as their SHA-256."""

from __future__ import annotations

import hashlib
import secrets

SECRET_BYTES = 32


def new_secret(prefix: str = "") -> str:
    """A URL-safe random secret of 256 bits, with an optional readable prefix."""
    return prefix + secrets.token_urlsafe(SECRET_BYTES)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
