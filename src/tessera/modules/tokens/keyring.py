"""Issuer keys at run time: the in-process key ring, and creating keys in the database.

The ring caches every key row (public parts parsed, private parts unsealed on first use) and
reloads them every `REFRESH` — or at once when asked for a key id it does not know, so a key
made by `tessera tokens rotate` in another process is picked up on its first use.

Key states, by the clock: *upcoming* (now < not_before: published, not used), *live*
(not_before <= now < expires_at: signs and verifies), *expired* (tokens answer `expired`).
The signing key is the live key with the latest not_before.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.db.base import utcnow
from tessera.core.db.engine import Database
from tessera.core.errors import AppError
from tessera.modules.tokens.models import TokenKey
from tessera.modules.tokens.repository import TokensRepository
from tessera.protocols.tokens import formats, keys

log = structlog.get_logger("tessera.tokens.keys")

REFRESH_SECONDS = 30.0
MISS_RELOAD_SECONDS = 2.0  # unknown key ids reload the ring at most this often
MAX_GENERATION_ATTEMPTS = 64
TRUNCATED_ID_SPACE = 256


class NoSigningKey(AppError):
    status_code = 503
    code = "no_signing_key"
    detail = "The token issuer has no live key; run `tessera tokens keygen`"


class KeyCollision(AppError):
    status_code = 409
    code = "key_collision"
    detail = "Another live key already uses this truncated key id"


@dataclass(frozen=True)
class IssuerKey:
    """One issuer key as the service uses it (the private half stays sealed until needed)."""

    key_id: bytes
    public_key: rsa.RSAPublicKey
    spki: bytes
    not_before: datetime
    expires_at: datetime
    sealed: bytes | None = field(repr=False)

    @property
    def key_id_hex(self) -> str:
        return self.key_id.hex()

    @property
    def truncated_id(self) -> int:
        return formats.truncated_token_key_id(self.key_id)

    def is_live(self, now: datetime) -> bool:
        return self.not_before <= now < self.expires_at

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    @classmethod
    def from_row(cls, row: TokenKey) -> IssuerKey:
        public_key = keys.load_public_key(row.public_spki)
        keys.require_token_key(public_key)
        if formats.token_key_id(public_key).hex() != row.key_id:
            raise keys.TokenKeyError("stored key id does not match the stored public key")
        return cls(
            key_id=bytes.fromhex(row.key_id),
            public_key=public_key,
            spki=row.public_spki,
            not_before=row.not_before,
            expires_at=row.expires_at,
            sealed=row.sealed_private_key,
        )


#: Where a reload reads: the caller's session, or (for a caller that has none, such as an
#: online redemption) the database, through a short read session of the ring's own.
KeySource = AsyncSession | Database


class KeyRing:
    """Per-process cache of the key rows. Reloads read through the caller's session, so a
    request never needs a second connection (on SQLite a second connection while holding the
    write lock can starve the pool)."""

    def __init__(self, kek: bytes) -> None:
        self._kek = kek
        self._keys: dict[bytes, IssuerKey] = {}
        self._private: dict[bytes, rsa.RSAPrivateKey] = {}
        self._loaded_at = float("-inf")

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")

    async def _reload(self, session: KeySource) -> None:
        # No lock on purpose: two concurrent reloads are harmless (each swaps in a whole new
        # dict), while a lock held across a query could make a request that already holds
        # SQLite's write lock wait for one that is queueing for it.
        if isinstance(session, Database):  # a caller without a session: a short read of ours
            async with session.session(write=False) as own:
                return await self._reload(own)
        ring: dict[bytes, IssuerKey] = {}
        for row in await TokensRepository(session).all_keys():
            try:
                ring[bytes.fromhex(row.key_id)] = IssuerKey.from_row(row)
            except (ValueError, keys.TokenKeyError):  # one bad row must not stop the issuer
                log.error("token_key_row_unreadable", key_id=row.key_id)
        self._keys = ring
        self._loaded_at = time.monotonic()

    async def _fresh(self, session: KeySource) -> dict[bytes, IssuerKey]:
        if time.monotonic() - self._loaded_at > REFRESH_SECONDS:
            await self._reload(session)
        return self._keys

    async def all(self, session: AsyncSession) -> list[IssuerKey]:
        return list((await self._fresh(session)).values())

    async def by_key_id(self, session: KeySource, key_id: bytes) -> IssuerKey | None:
        ring = await self._fresh(session)
        key = ring.get(key_id)
        if key is None and time.monotonic() - self._loaded_at > MISS_RELOAD_SECONDS:
            await self._reload(session)
            key = self._keys.get(key_id)
        return key

    async def published(self, session: AsyncSession, now: datetime) -> list[IssuerKey]:
        """Live and upcoming keys, preferred first: the signing key, other live, upcoming."""
        keys_ = [key for key in await self.all(session) if not key.is_expired(now)]
        live = sorted(
            (k for k in keys_ if k.is_live(now)), key=lambda k: k.not_before, reverse=True
        )
        upcoming = sorted((k for k in keys_ if not k.is_live(now)), key=lambda k: k.not_before)
        return live + upcoming

    async def signing_key(self, session: AsyncSession, now: datetime) -> IssuerKey:
        for attempt in range(2):
            candidates = [
                k for k in await self.all(session) if k.is_live(now) and k.sealed is not None
            ]
            if candidates:
                return max(candidates, key=lambda k: k.not_before)
            if attempt == 0 and time.monotonic() - self._loaded_at > MISS_RELOAD_SECONDS:
                self.invalidate()
        raise NoSigningKey()

    async def live_by_truncated_id(
        self, session: AsyncSession, truncated_id: int, now: datetime
    ) -> IssuerKey | None:
        """The live signing-capable key a TokenRequest names by its last key-id byte."""
        for attempt in range(2):
            for key in await self.all(session):
                if key.truncated_id == truncated_id and key.is_live(now) and key.sealed:
                    return key
            if attempt == 0 and time.monotonic() - self._loaded_at > MISS_RELOAD_SECONDS:
                self.invalidate()
        return None

    def private_key(self, key: IssuerKey) -> rsa.RSAPrivateKey:
        private = self._private.get(key.key_id)
        if private is None:
            if key.sealed is None:
                raise NoSigningKey("This key has no private half in the database")
            try:
                private = keys.unseal_private_key(key.sealed, self._kek, associated_data=key.key_id)
            except keys.TokenKeyError:
                log.error("token_key_unseal_failed", key_id=key.key_id_hex)
                raise NoSigningKey(
                    "The issuer key cannot be unsealed; check TESSERA_TOKENS_KEK"
                ) from None
            self._private[key.key_id] = private
        return private


# --- creating keys -------------------------------------------------------------------------------


async def store_key(
    session: AsyncSession,
    kek: bytes,
    private_key: rsa.RSAPrivateKey,
    *,
    not_before: datetime,
    expires_at: datetime,
) -> IssuerKey | None:
    """Seal and insert a key; None if its truncated id is taken by a live key (or it exists)."""
    keys.require_token_key(private_key.public_key())
    repo = TokensRepository(session)
    await repo.release_expired_slots(utcnow())
    key_id = formats.token_key_id(private_key.public_key())
    truncated = formats.truncated_token_key_id(key_id)
    spki = keys.public_key_spki_der(private_key.public_key())
    inserted = await repo.insert_key(
        key_id=key_id.hex(),
        truncated_id=truncated,
        live_slot=truncated,
        public_spki=spki,
        sealed_private_key=keys.seal_private_key(private_key, kek, associated_data=key_id),
        not_before=not_before,
        expires_at=expires_at,
    )
    if inserted is None:
        return None
    return IssuerKey(key_id, private_key.public_key(), spki, not_before, expires_at, None)


async def generate_key(
    session: AsyncSession,
    kek: bytes,
    *,
    not_before: datetime,
    lifetime: timedelta,
) -> IssuerKey:
    """A fresh key whose truncated id no live key holds (RFC 9578 §6.5: regenerate on clash)."""
    repo = TokensRepository(session)
    await repo.release_expired_slots(utcnow())
    for _ in range(MAX_GENERATION_ATTEMPTS):
        taken = await repo.taken_slots()
        if len(taken) >= TRUNCATED_ID_SPACE:
            raise KeyCollision("All 256 truncated key ids are held by live keys")
        private_key = await asyncio.to_thread(keys.generate_private_key)
        key_id = formats.token_key_id(private_key.public_key())
        if formats.truncated_token_key_id(key_id) in taken:
            continue
        stored = await store_key(
            session, kek, private_key, not_before=not_before, expires_at=not_before + lifetime
        )
        if stored is not None:  # else another process took the slot between our read and insert
            log.info("token_key_generated", key_id=stored.key_id_hex, not_before=not_before)
            return stored
    raise KeyCollision("Could not find a free truncated key id")


def _opens(row: TokenKey, kek: bytes) -> bool:
    if row.sealed_private_key is None:
        return False
    try:
        keys.unseal_private_key(
            row.sealed_private_key, kek, associated_data=bytes.fromhex(row.key_id)
        )
    except keys.TokenKeyError:
        return False
    return True


async def ensure_live_key(db: Database, kek: bytes, lifetime: timedelta) -> IssuerKey | None:
    """Generate a key if no live key can sign (first start, `tessera bootstrap`, or a dev data
    directory whose secret changed). Returns the new key, or None if one was already there."""
    now = utcnow()
    async with db.session(write=True) as session:
        rows = await TokensRepository(session).all_keys()
        if any(row.not_before <= now < row.expires_at and _opens(row, kek) for row in rows):
            return None
        return await generate_key(session, kek, not_before=now, lifetime=lifetime)
