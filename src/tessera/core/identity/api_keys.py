"""Service principals: API keys with a role (`kiosk`, `validator`, `staff` …), shown once and
stored as SHA-256. Callers send `Authorization: ApiKey <key>`.

Authentication is a read of its own (the API-key cache, else a short read session), not part
of the request's unit of work: a request that spends tokens through a shared group commit
must not hold a write transaction while it waits for it (on SQLite that would be a deadlock).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.audit import record
from tessera.core.db.base import utcnow
from tessera.core.db.engine import Database
from tessera.core.errors import NotFound, Unprocessable
from tessera.core.identity.api_key_cache import ApiKeyCache, ApiKeyIdentity
from tessera.core.identity.models import ApiKey
from tessera.core.identity.repository import IdentityRepository
from tessera.core.identity.secret_tokens import new_secret, sha256_hex

KEY_PREFIX = "tsk_"
DISPLAY_PREFIX_LENGTH = 12  # "tsk_" + 8 characters: enough to tell keys apart in a list
ROLE_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{1,31}$")
MAX_KEY_LENGTH = 128


def _actor(created_by: str | None) -> tuple[str, str | None]:
    """("user", id) for "user:<id>", else ("system", None)."""
    if created_by and created_by.startswith("user:"):
        return "user", created_by.removeprefix("user:")
    return "system", None


async def create_api_key(
    session: AsyncSession, *, name: str, role: str, created_by: str | None = None
) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the plaintext key, which is never stored or shown
    again. `created_by` is a principal string such as "user:<id>" or "cli"."""
    name = name.strip()
    if not name or len(name) > 100:
        raise Unprocessable("API key name must be 1-100 characters", code="invalid_name")
    if not ROLE_PATTERN.match(role):
        raise Unprocessable(
            "Role must be lower-case letters, digits, '-' or '_' (2-32 characters)",
            code="invalid_role",
        )
    plaintext = new_secret(KEY_PREFIX)
    key = await IdentityRepository(session).add_api_key(
        ApiKey(
            name=name,
            role=role,
            key_hash=sha256_hex(plaintext),
            prefix=plaintext[:DISPLAY_PREFIX_LENGTH],
            created_by=created_by,
        )
    )
    actor_type, actor_id = _actor(created_by)
    await record(
        session,
        "api_key.created",
        actor_type=actor_type,
        actor_id=actor_id,
        user_id=actor_id,
        target_type="api_key",
        target_id=key.id,
        details={"name": key.name, "role": key.role, "by": created_by},
    )
    return key, plaintext


async def authenticate_api_key(
    db: Database, cache: ApiKeyCache, plaintext: str
) -> ApiKeyIdentity | None:
    """The live key behind `plaintext`, or None (unknown or revoked)."""
    if not plaintext.startswith(KEY_PREFIX) or len(plaintext) > MAX_KEY_LENGTH:
        return None
    key_hash = sha256_hex(plaintext)
    cached = await cache.get(key_hash)
    if cached == "revoked":
        return None
    if cached is not None:
        return cached
    async with db.session(write=False) as session:
        key = await IdentityRepository(session).live_api_key_by_hash(key_hash)
    if key is None:
        return None
    identity = ApiKeyIdentity(id=key.id, name=key.name, role=key.role)
    await cache.remember(key_hash, identity)
    return identity


async def list_api_keys(
    session: AsyncSession, *, include_revoked: bool, limit: int, offset: int
) -> tuple[Sequence[ApiKey], int]:
    return await IdentityRepository(session).list_api_keys(
        include_revoked=include_revoked, limit=limit, offset=offset
    )


async def revoke_api_key(
    session: AsyncSession, cache: ApiKeyCache, key_id: str, *, revoked_by: str
) -> ApiKey:
    key = await IdentityRepository(session).get_api_key(key_id)
    if key is None:
        raise NotFound("API key not found", code="api_key_not_found")
    await cache.revoke(key.key_hash)  # before the commit, and again if already revoked
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        actor_type, actor_id = _actor(revoked_by)
        await record(
            session,
            "api_key.revoked",
            actor_type=actor_type,
            actor_id=actor_id,
            user_id=actor_id,
            target_type="api_key",
            target_id=key.id,
            details={"name": key.name, "role": key.role},
        )
    return key
