"""The sequencer: gives committed audit rows their place in the log and signs tree heads.

One loop per process (API replicas with the in-process scheduler, and `tessera worker`), but
exactly one runner at a time: each run is one transaction that first tries the sequencer's own
advisory lock on PostgreSQL and skips its turn if another replica holds it; on SQLite the
write transaction excludes every other writer anyway. No request ever takes that lock.

A run reads the rows that have committed but have no log index yet, in the order it observes
them (`created_at`, then id), and for each one:

1. computes the leaf hash, SHA-256(0x00 ‖ leaf data) (RFC 9162 §2.1.1), from the stored row;
2. gives it the next log index;
3. extends the Merkle tree, storing each perfect subtree the new leaf completes;

then signs a tree head (size, root, timestamp) with the Ed25519 key and stores it, all in the
same transaction: a run that fails leaves nothing, and the next one starts again. Rows of a
transaction that rolled back were never visible, so they are never sequenced.

`tessera_audit_merge_delay_seconds` measures, per row, the time from its append to its signed
tree head; `TESSERA_AUDIT_MAX_MERGE_DELAY_SECONDS` is the promise `audit verify` checks.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import Counter, Gauge, Histogram

from tessera.core.audit import keys
from tessera.core.audit.merkle import Frontier, frontier_nodes, leaf_hash
from tessera.core.audit.models import AuditSigningKey, AuditTreeHead
from tessera.core.audit.repository import AuditRepository
from tessera.core.audit.service import leaf_data
from tessera.core.config import Settings
from tessera.core.db.base import utcnow
from tessera.core.db.engine import Database

log = structlog.get_logger("tessera.audit")

MERGE_DELAY = Histogram(
    "tessera_audit_merge_delay_seconds",
    "Time from an audit row's append to the signed tree head that includes it",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60),
)
OLDEST_WAITING = Gauge(
    "tessera_audit_unsequenced_oldest_seconds",
    "Age of the oldest committed audit row without a log index (0 when none waits)",
)
TREE_SIZE = Gauge("tessera_audit_tree_size", "Rows in the latest signed audit tree head")
SEQUENCED = Counter("tessera_audit_rows_sequenced_total", "Audit rows given a log index")

BATCH = 2000


async def create_signing_key(db: Database, settings: Settings) -> tuple[str, bool]:
    """(key id, created): the newest live key, or a new one sealed into the database."""
    async with db.session(write=True) as session:
        repo = AuditRepository(session)
        existing = await repo.signing_key()
        if existing is not None:
            return existing.key_id, False
        new = keys.generate(keys.kek_of(settings))
        await repo.add_key(
            AuditSigningKey(
                key_id=new.key_id, public_key=new.public_key, sealed_private_key=new.sealed
            )
        )
        return new.key_id, True


class Sequencer:
    def __init__(self, db: Database, settings: Settings, *, batch: int = BATCH) -> None:
        self.db = db
        self.settings = settings
        self.batch = batch
        self._key: tuple[str, Ed25519PrivateKey] | None = None
        self._warned_no_key = False

    async def _signer(self, repo: AuditRepository) -> tuple[str, Ed25519PrivateKey] | None:
        row = await repo.signing_key()
        if row is None:
            if not self._warned_no_key:
                log.warning("audit_no_signing_key", hint="run `tessera bootstrap`")
                self._warned_no_key = True
            return None
        if self._key is None or self._key[0] != row.key_id:
            private = keys.unseal(row.sealed_private_key, keys.kek_of(self.settings), row.key_id)
            self._key = (row.key_id, private)
        return self._key

    async def run_once(self) -> int:
        """Sequence everything waiting (in batches) and sign; returns how many rows got an
        index. Returns at once when nothing waits, without taking any write lock."""
        async with self.db.session(write=False) as session:
            if not await AuditRepository(session).has_pending():
                OLDEST_WAITING.set(0)
                return 0
        total = 0
        while True:
            sequenced = await self._run_batch()
            if sequenced is None:  # another replica is sequencing
                return total
            total += sequenced
            if sequenced < self.batch:
                return total

    async def _run_batch(self) -> int | None:
        async with self.db.session(write=True) as session:
            repo = AuditRepository(session)
            if not await repo.try_sequencer_lock():
                return None
            size = await repo.tree_size()
            hashes = []
            for level, idx in frontier_nodes(size):
                stored = await repo.node(level, idx)
                assert stored is not None, f"audit tree node ({level}, {idx}) is missing"
                hashes.append(bytes.fromhex(stored))
            frontier = Frontier(size, hashes)
            rows = await repo.unsequenced(self.batch)
            now = utcnow()
            marks: list[dict[str, Any]] = []
            nodes: list[tuple[int, int, str]] = []
            for row in rows:
                leaf = leaf_hash(leaf_data(row))
                marks.append(
                    {"row_id": row.id, "index": frontier.size, "leaf": leaf.hex(), "at": now}
                )
                nodes.extend((level, idx, h.hex()) for level, idx, h in frontier.append(leaf))
            await repo.mark_sequenced(marks)
            await repo.add_nodes(nodes)
            signed = await self._sign(repo, frontier, now)
            created = [row.created_at for row in rows]
        SEQUENCED.inc(len(rows))
        if signed:
            TREE_SIZE.set(frontier.size)
            for at in created:
                MERGE_DELAY.observe(max(0.0, (utcnow() - at).total_seconds()))
        return len(rows)

    async def _sign(self, repo: AuditRepository, frontier: Frontier, now: datetime) -> bool:
        latest = await repo.latest_head()
        if latest is not None and latest.tree_size >= frontier.size:
            return False
        signer = await self._signer(repo)
        if signer is None:
            return False
        key_id, private = signer
        timestamp_ms = int(now.timestamp() * 1000)
        if latest is not None:
            timestamp_ms = max(timestamp_ms, latest.timestamp_ms)
        root = frontier.root()
        signature = private.sign(keys.tree_head_data(frontier.size, timestamp_ms, root))
        await repo.add_head(
            AuditTreeHead(
                tree_size=frontier.size,
                root_hash=root.hex(),
                timestamp_ms=timestamp_ms,
                key_id=key_id,
                signature=signature.hex(),
                created_at=now,
            )
        )
        return True

    async def observe_backlog(self) -> None:
        async with self.db.session(write=False) as session:
            oldest = await AuditRepository(session).oldest_unsequenced()
        age = (utcnow() - oldest.created_at).total_seconds() if oldest else 0.0
        OLDEST_WAITING.set(max(0.0, age))

    async def run_forever(self) -> None:
        interval = self.settings.audit_sequencer_interval_seconds
        while True:
            try:
                await self.run_once()
                await self.observe_backlog()
            except Exception:  # a broken database must not kill the loop
                log.exception("audit_sequencer_failed")
            await asyncio.sleep(interval)
