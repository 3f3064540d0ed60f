"""All SQL of the token issuer. Nothing here commits: the request or the job owns the transaction.

The statements that carry the module's guarantees are single conditional writes, so they hold
on PostgreSQL (READ COMMITTED, any number of replicas) and on SQLite alike:

- mint:    UPDATE receipts SET minted = minted + n WHERE minted + n <= allowed RETURNING …
- voucher: a ledger movement from the voucher's account (the ledger's guarded UPDATE)
- spend:   INSERT INTO spent VALUES … ON CONFLICT DO NOTHING RETURNING … (revoked keys left out)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    delete,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.db.base import new_uuid
from tessera.core.db.engine import insert_for
from tessera.modules.tokens.models import (
    BloomSnapshotRow,
    DoubleSpend,
    Issuance,
    OfflineSync,
    Receipt,
    RevokedToken,
    SpentToken,
    TokenKey,
    Voucher,
)


@dataclass(frozen=True)
class Spend:
    """One claimed spend of a token (a row of `tokens_spent` but for its insert time)."""

    spent_key: bytes
    key_id: str
    validator_id: str
    api_key_id: str | None
    channel: Literal["online", "offline"]
    redeemed_at: datetime


#: first: this call recorded the spend; spent: it was spent before; revoked: it is revoked.
SpendOutcome = Literal["first", "spent", "revoked"]


class TokensRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def _insert(self, table: Any) -> Any:
        return insert_for(self.dialect, table)

    # --- keys -----------------------------------------------------------------------------------

    async def all_keys(self) -> Sequence[TokenKey]:
        return (await self.session.scalars(select(TokenKey).order_by(TokenKey.not_before))).all()

    async def key_by_key_id(self, key_id_hex: str) -> TokenKey | None:
        return await self.session.scalar(select(TokenKey).where(TokenKey.key_id == key_id_hex))

    async def taken_slots(self) -> set[int]:
        rows = await self.session.scalars(
            select(TokenKey.live_slot).where(TokenKey.live_slot.is_not(None))
        )
        return {slot for slot in rows if slot is not None}

    async def release_expired_slots(self, now: datetime) -> int:
        """Free the truncated ids of keys past their expiry so new keys may take them."""
        result = await self.session.execute(
            update(TokenKey)
            .where(TokenKey.live_slot.is_not(None), TokenKey.expires_at <= now)
            .values(live_slot=None, retired_at=now)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def insert_key(self, **values: Any) -> str | None:
        """Insert a key; None if its key id or live slot is already taken (any unique clash)."""
        stmt = (
            self._insert(TokenKey)
            .values(id=new_uuid(), **values)
            .on_conflict_do_nothing()
            .returning(TokenKey.id)
        )
        inserted: str | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return inserted

    async def set_key_expiry(self, key_id_hex: str, expires_at: datetime) -> None:
        await self.session.execute(
            update(TokenKey).where(TokenKey.key_id == key_id_hex).values(expires_at=expires_at)
        )

    # --- receipts -------------------------------------------------------------------------------

    async def insert_receipt(self, **values: Any) -> str | None:
        """A new receipt; None when (provider, provider_receipt_id) was seen before."""
        receipt_id = new_uuid()
        stmt = (
            self._insert(Receipt)
            .values(id=receipt_id, tokens_minted=0, status="verified", **values)
            .on_conflict_do_nothing(index_elements=["provider", "provider_receipt_id"])
            .returning(Receipt.id)
        )
        inserted: str | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return inserted

    async def receipt_for_owner(self, receipt_id: str, owner: str) -> Receipt | None:
        return await self.session.scalar(
            select(Receipt).where(Receipt.id == receipt_id, Receipt.owner == owner)
        )

    async def consume_allowance(self, receipt_id: str, owner: str, count: int) -> int | None:
        """Atomically mint `count` more tokens from a receipt; the tokens left, or None."""
        stmt = (
            update(Receipt)
            .where(
                Receipt.id == receipt_id,
                Receipt.owner == owner,
                Receipt.status == "verified",
                Receipt.tokens_minted + count <= Receipt.tokens_allowed,
            )
            .values(tokens_minted=Receipt.tokens_minted + count)
            .returning(Receipt.tokens_allowed - Receipt.tokens_minted)
        )
        left: int | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return left

    async def add_issuance(self, **values: Any) -> None:
        self.session.add(Issuance(id=new_uuid(), **values))
        await self.session.flush()

    # --- vouchers -------------------------------------------------------------------------------

    async def insert_voucher(self, **values: Any) -> Voucher:
        voucher = Voucher(**({"id": new_uuid()} | values))
        self.session.add(voucher)
        await self.session.flush()
        return voucher

    async def voucher_by_hash(self, code_hash: str) -> Voucher | None:
        return await self.session.scalar(select(Voucher).where(Voucher.code_hash == code_hash))

    # --- spending -------------------------------------------------------------------------------

    async def spend(self, spends: Sequence[Spend], now: datetime) -> list[SpendOutcome]:
        """The redemption of one or many tokens: one outcome per item, in order.

        Revoked tokens are looked up first; every other key goes into one
        `INSERT … VALUES … ON CONFLICT DO NOTHING RETURNING`, whose returned keys are the
        first spends. Keys are inserted in sorted order, so concurrent batches on PostgreSQL
        wait for each other instead of deadlocking. Within one call, the first item of a key
        wins and its repeats are `spent`.
        """
        keys = {item.spent_key for item in spends}
        revoked = set(
            await self.session.scalars(
                select(RevokedToken.spent_key).where(RevokedToken.spent_key.in_(keys))
            )
        )
        firsts: dict[bytes, int] = {}
        for index, item in enumerate(spends):
            if item.spent_key not in revoked:
                firsts.setdefault(item.spent_key, index)
        rows = [{**vars(spends[firsts[key]]), "created_at": now} for key in sorted(firsts)]
        inserted: set[bytes] = set()
        if rows:
            table = SpentToken.__table__  # Core, not ORM: no per-row ORM bookkeeping
            statement = (
                self._insert(table)
                .on_conflict_do_nothing(index_elements=["spent_key"])
                .returning(table.c.spent_key)
            )
            inserted = set((await self.session.execute(statement, rows)).scalars())
        return [
            "revoked"
            if item.spent_key in revoked
            else "first"
            if item.spent_key in inserted and firsts[item.spent_key] == index
            else "spent"
            for index, item in enumerate(spends)
        ]

    async def spent(self, spent_key: bytes) -> SpentToken | None:
        return await self.session.scalar(
            select(SpentToken).where(SpentToken.spent_key == spent_key)
        )

    async def claim_earlier_spend(
        self, spent_key: bytes, validator_id: str, api_key_id: str | None, redeemed_at: datetime
    ) -> bool:
        """Make an earlier claimed spend the original (earliest redeemed_at wins)."""
        result = await self.session.execute(
            update(SpentToken)
            .where(SpentToken.spent_key == spent_key, SpentToken.redeemed_at > redeemed_at)
            .values(validator_id=validator_id, api_key_id=api_key_id, redeemed_at=redeemed_at)
        )
        return bool(getattr(result, "rowcount", 0))

    async def add_double_spend(self, **values: Any) -> DoubleSpend:
        row = DoubleSpend(id=new_uuid(), **values)
        self.session.add(row)
        await self.session.flush()
        return row

    async def double_spends(self, limit: int, offset: int) -> tuple[Sequence[DoubleSpend], int]:
        total = await self.session.scalar(select(func.count()).select_from(DoubleSpend))
        rows = await self.session.scalars(
            select(DoubleSpend).order_by(DoubleSpend.detected_at.desc()).limit(limit).offset(offset)
        )
        return rows.all(), int(total or 0)

    async def revoke(self, spent_key: bytes, reason: str, revoked_by: str) -> bool:
        stmt = (
            self._insert(RevokedToken)
            .values(spent_key=spent_key, reason=reason, revoked_by=revoked_by)
            .on_conflict_do_nothing(index_elements=["spent_key"])
            .returning(RevokedToken.spent_key)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none() is not None

    async def revocation(self, spent_key: bytes) -> RevokedToken | None:
        return await self.session.get(RevokedToken, spent_key)

    # --- offline sync ---------------------------------------------------------------------------

    async def claim_sync_item(
        self, api_key_id: str, validator_id: str, local_id: str, spent_key: bytes | None
    ) -> str | None:
        """Reserve (validator, local_id) for this call; None if an earlier call holds it."""
        stmt = (
            self._insert(OfflineSync)
            .values(
                id=new_uuid(),
                api_key_id=api_key_id,
                validator_id=validator_id,
                local_id=local_id,
                spent_key=spent_key,
                status="pending",
                detail={},
            )
            .on_conflict_do_nothing(index_elements=["api_key_id", "validator_id", "local_id"])
            .returning(OfflineSync.id)
        )
        claimed: str | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return claimed

    async def sync_item(
        self, api_key_id: str, validator_id: str, local_id: str
    ) -> OfflineSync | None:
        return await self.session.scalar(
            select(OfflineSync).where(
                OfflineSync.api_key_id == api_key_id,
                OfflineSync.validator_id == validator_id,
                OfflineSync.local_id == local_id,
            )
        )

    async def finish_sync_item(self, item_id: str, status: str, detail: dict[str, Any]) -> None:
        await self.session.execute(
            update(OfflineSync)
            .where(OfflineSync.id == item_id)
            .values(status=status, detail=detail)
        )

    # --- Bloom filter ---------------------------------------------------------------------------

    async def latest_snapshot_version(self) -> int | None:
        version: int | None = await self.session.scalar(select(func.max(BloomSnapshotRow.version)))
        return version

    async def snapshot(self, version: int) -> BloomSnapshotRow | None:
        return await self.session.get(BloomSnapshotRow, version)

    async def insert_snapshot(self, **values: Any) -> bool:
        stmt = (
            self._insert(BloomSnapshotRow)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["version"])
            .returning(BloomSnapshotRow.version)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none() is not None

    async def delete_snapshots_before(self, version: int) -> None:
        await self.session.execute(
            delete(BloomSnapshotRow).where(BloomSnapshotRow.version < version)
        )

    async def spent_keys_of_live_epochs(self, now: datetime) -> list[bytes]:
        """Spent keys whose token key has not expired: the elements of a full rebuild."""
        live = select(TokenKey.key_id).where(TokenKey.expires_at > now)
        rows = await self.session.scalars(
            select(SpentToken.spent_key).where(SpentToken.key_id.in_(live))
        )
        return list(rows)

    async def count_spent_since(self, since: datetime) -> int:
        total = await self.session.scalar(
            select(func.count()).select_from(SpentToken).where(SpentToken.created_at >= since)
        )
        return int(total or 0)

    async def spent_keys_since(self, since: datetime) -> list[bytes]:
        rows = await self.session.scalars(
            select(SpentToken.spent_key).where(SpentToken.created_at >= since)
        )
        return list(rows)

    async def prune_spent_of_keys_expired_before(self, cutoff: datetime) -> int:
        """Drop spent rows of keys expired before `cutoff`: their tokens are refused anyway."""
        dead = select(TokenKey.key_id).where(TokenKey.expires_at < cutoff)
        result = await self.session.execute(delete(SpentToken).where(SpentToken.key_id.in_(dead)))
        return int(getattr(result, "rowcount", 0) or 0)
