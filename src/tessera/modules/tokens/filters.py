"""The served spent-token Bloom filter: a base filter plus the spends made since.

- The job `tokens.bloom_rebuild` builds a full filter over the spent keys of every unexpired
  token key, sized for twice the current count at the configured false-positive rate, and
  stores it as a new `version` in `tokens_bloom_snapshots`. A process that finds no stored
  snapshot, or one that has grown past its capacity, builds the same thing in memory
  (reading only: a GET never writes) and uses it until the job stores a newer version.
- Each request then adds the spends inserted since `watermark - OVERLAP`. A spend's
  `created_at` is taken when its row is inserted, so any row the base could not yet see
  (its transaction committed later) has `created_at > watermark - OVERLAP` as long as no
  write transaction lasts longer than OVERLAP: the served filter never misses a spend
  committed before it was generated. Adding an element twice is harmless.
- The finished document is cached per process and reused while the number of spends in the
  window is unchanged (an indexed COUNT per request) and it is younger than a quarter of
  its validity. Its ETag is the SHA-256 of the body.
- Everything reads through the request's session: no second connection per request.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.db.base import utcnow
from tessera.modules.tokens.config import TokensConfig
from tessera.modules.tokens.repository import TokensRepository
from tessera.protocols.tokens.bloom import BloomFilter, BloomSnapshot

log = structlog.get_logger("tessera.tokens.bloom")

OVERLAP = timedelta(minutes=5)
MIN_CAPACITY = 10_000  # 36 KB at p = 1e-6: small enough to download, room to grow
HEADROOM = 2  # size for twice the current spends so increments keep p until the next rebuild


@dataclass(frozen=True)
class ServedFilter:
    body: bytes
    etag: str
    version: int
    window_count: int
    built: float  # monotonic time


@dataclass(frozen=True)
class _Base:
    version: int  # the stored snapshot version this base is, or stands in for
    filter: BloomFilter
    capacity: int
    p: float
    watermark: datetime


class BloomService:
    def __init__(self, config: TokensConfig) -> None:
        self._config = config
        self._base: _Base | None = None
        self._served: ServedFilter | None = None
        self._lock = asyncio.Lock()

    async def current(self, session: AsyncSession) -> ServedFilter:
        async with self._lock:
            return await self._current(TokensRepository(session))

    async def _current(self, repo: TokensRepository) -> ServedFilter:
        generated_at = utcnow()
        version = await repo.latest_snapshot_version() or 0
        base = self._base
        if base is None or base.version != version:
            base = await self._load_stored(repo, version) if version else None
            base = base or await self._build_in_memory(repo, version)
        window_start = base.watermark - OVERLAP
        window_count = await repo.count_spent_since(window_start)
        if base.filter.count + window_count > base.capacity:  # p would exceed the target
            base = await self._build_in_memory(repo, version)
            window_start = base.watermark - OVERLAP
            window_count = await repo.count_spent_since(window_start)
        self._base = base
        served = self._served
        max_age = self._config.bloom_ttl.total_seconds() / 4
        if (
            served is not None
            and served.version == version
            and served.window_count == window_count
            and time.monotonic() - served.built < max_age
        ):
            return served
        delta = await repo.spent_keys_since(window_start)
        bloom = await asyncio.to_thread(_with_delta, base.filter, delta)
        snapshot = BloomSnapshot(
            bloom, version, generated_at, generated_at + self._config.bloom_ttl, base.p
        )
        body = orjson.dumps(snapshot.to_json())
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        self._served = ServedFilter(body, etag, version, window_count, time.monotonic())
        return self._served

    async def _load_stored(self, repo: TokensRepository, version: int) -> _Base | None:
        row = await repo.snapshot(version)
        if row is None:
            return None
        bloom = BloomFilter(row.m, row.k, row.salt, row.bits, row.n)
        return _Base(version, bloom, row.capacity, row.p, row.watermark)

    async def _build_in_memory(self, repo: TokensRepository, version: int) -> _Base:
        now = utcnow()
        elements = await repo.spent_keys_of_live_epochs(now)
        capacity = max(MIN_CAPACITY, HEADROOM * len(elements))
        p = self._config.bloom_fp_rate
        bloom = await asyncio.to_thread(_build, capacity, p, elements)
        return _Base(version, bloom, capacity, p, now)


def _with_delta(base: BloomFilter, delta: list[bytes]) -> BloomFilter:
    """A copy of `base` with the delta added; `count` grows only for elements not yet present
    (so the overlap window is not counted twice, up to false positives)."""
    bloom = BloomFilter(base.m, base.k, base.salt, base.to_bytes(), base.count)
    for element in delta:
        if element not in bloom:
            bloom.add(element)
    return bloom


async def rebuild_snapshot(
    session: AsyncSession, config: TokensConfig, *, now: datetime | None = None
) -> int:
    """Build and store a full filter over the live epochs' spent keys; returns its version."""
    now = now or utcnow()
    repo = TokensRepository(session)
    elements = await repo.spent_keys_of_live_epochs(now)
    capacity = max(MIN_CAPACITY, HEADROOM * len(elements))
    bloom = await asyncio.to_thread(_build, capacity, config.bloom_fp_rate, elements)
    version = (await repo.latest_snapshot_version() or 0) + 1
    stored = await repo.insert_snapshot(
        version=version,
        salt=bloom.salt,
        m=bloom.m,
        k=bloom.k,
        p=config.bloom_fp_rate,
        capacity=capacity,
        n=bloom.count,
        bits=bloom.to_bytes(),
        watermark=now,
        generated_at=utcnow(),
    )
    if not stored:  # another replica stored this version first; theirs is as good
        return version
    await repo.delete_snapshots_before(version - 1)  # keep the previous one for readers in flight
    log.info("bloom_rebuilt", version=version, n=bloom.count, m=bloom.m, k=bloom.k)
    return version


def _build(capacity: int, p: float, elements: list[bytes]) -> BloomFilter:
    bloom = BloomFilter.sized_for(capacity, p)
    bloom.update(elements)
    return bloom
