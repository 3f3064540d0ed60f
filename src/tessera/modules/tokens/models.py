"""Tables of the token issuer. Nothing here links a ticket to the rider who bought it.

- `tokens_keys`: issuer keys; private halves sealed with the KEK. `live_slot` holds the
  truncated key id while the key is live and is cleared when it retires, so a unique index
  guarantees that no two live keys answer to the same TokenRequest byte.
- `tokens_receipts`: proofs of payment, unique per (provider, provider receipt id); the CHECK
  keeps `tokens_minted <= tokens_allowed` even if a bug slipped past the conditional UPDATE.
- `tokens_issuances`: how many tokens were signed, from which receipt or voucher, under which
  key. Deliberately no token value: the issuer never sees one.
- `tokens_spent`: one row per redeemed token, keyed by the spent key (formats.spent_key).
- `tokens_double_spends`: offline conflicts for review (both validators, both times).
- `tokens_revoked`, `tokens_vouchers` (code stored as SHA-256 only), `tokens_offline_syncs`
  (per-item replay record of /v1/sync_offline) and `tokens_bloom_snapshots`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tessera.core.db.base import Base, TimestampMixin, UUIDPrimaryKey, utcnow


class TokenKey(UUIDPrimaryKey, TimestampMixin, Base):
    __tablename__ = "tokens_keys"

    key_id: Mapped[str] = mapped_column(String(64), unique=True)  # hex SHA-256 of the PSS SPKI
    truncated_id: Mapped[int] = mapped_column(Integer)
    live_slot: Mapped[int | None] = mapped_column(Integer, unique=True)
    public_spki: Mapped[bytes] = mapped_column(LargeBinary)
    sealed_private_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    not_before: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column(index=True)
    retired_at: Mapped[datetime | None] = mapped_column()


class Receipt(UUIDPrimaryKey, TimestampMixin, Base):
    __tablename__ = "tokens_receipts"
    __table_args__ = (
        UniqueConstraint("provider", "provider_receipt_id"),
        CheckConstraint("tokens_minted >= 0 AND tokens_minted <= tokens_allowed", name="allowance"),
    )

    provider: Mapped[str] = mapped_column(String(20))
    provider_receipt_id: Mapped[str] = mapped_column(String(300))
    owner: Mapped[str] = mapped_column(String(80), index=True)  # "api_key:<id>" or "user:<id>"
    user_id: Mapped[str | None] = mapped_column(String(36), ForeignKey("users.id"), index=True)
    amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    tokens_allowed: Mapped[int] = mapped_column(Integer)
    tokens_minted: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    status: Mapped[str] = mapped_column(String(20), default="verified")


class Voucher(UUIDPrimaryKey, TimestampMixin, Base):
    """A prepaid voucher. Its balance is the ledger account `ledger_account_id` (never
    negative, covered by `tessera ledger check`); spending it is a ledger movement."""

    __tablename__ = "tokens_vouchers"

    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    original_cents: Mapped[int] = mapped_column(BigInteger)
    ledger_account_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("ledger_accounts.id"), unique=True
    )
    expires_at: Mapped[datetime | None] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(80))


class Issuance(UUIDPrimaryKey, TimestampMixin, Base):
    __tablename__ = "tokens_issuances"

    key_id: Mapped[str] = mapped_column(String(64), index=True)
    receipt_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("tokens_receipts.id"), index=True
    )
    voucher_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("tokens_vouchers.id"), index=True
    )
    token_count: Mapped[int] = mapped_column(Integer)
    amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    issued_by: Mapped[str | None] = mapped_column(String(80))  # the caller, when there is one


class SpentToken(Base):
    __tablename__ = "tokens_spent"

    spent_key: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(64), index=True)
    validator_id: Mapped[str] = mapped_column(String(100))
    api_key_id: Mapped[str | None] = mapped_column(String(36))
    channel: Mapped[str] = mapped_column(String(10))  # "online" | "offline"
    redeemed_at: Mapped[datetime] = mapped_column()  # the earliest claimed spend wins
    # Server clock at insert: the Bloom filter's incremental window reads by this column.
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class DoubleSpend(UUIDPrimaryKey, Base):
    __tablename__ = "tokens_double_spends"

    spent_key: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    key_id: Mapped[str] = mapped_column(String(64))
    original_validator_id: Mapped[str] = mapped_column(String(100))
    original_redeemed_at: Mapped[datetime] = mapped_column()
    duplicate_validator_id: Mapped[str] = mapped_column(String(100))
    duplicate_redeemed_at: Mapped[datetime] = mapped_column()
    duplicate_channel: Mapped[str] = mapped_column(String(10))
    detected_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class RevokedToken(TimestampMixin, Base):
    __tablename__ = "tokens_revoked"

    spent_key: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    reason: Mapped[str] = mapped_column(String(500))
    revoked_by: Mapped[str] = mapped_column(String(80))


class OfflineSync(UUIDPrimaryKey, TimestampMixin, Base):
    __tablename__ = "tokens_offline_syncs"
    __table_args__ = (UniqueConstraint("api_key_id", "validator_id", "local_id"),)

    api_key_id: Mapped[str] = mapped_column(String(36))
    validator_id: Mapped[str] = mapped_column(String(100))
    local_id: Mapped[str] = mapped_column(String(100))
    spent_key: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    status: Mapped[str] = mapped_column(String(20))  # accepted | duplicate | invalid | expired
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)  # conflict or error, replayed


class BloomSnapshotRow(Base):
    __tablename__ = "tokens_bloom_snapshots"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    salt: Mapped[bytes] = mapped_column(LargeBinary(16))
    m: Mapped[int] = mapped_column(BigInteger)
    k: Mapped[int] = mapped_column(Integer)
    p: Mapped[float] = mapped_column(Float)
    capacity: Mapped[int] = mapped_column(Integer)  # the n it was sized for
    n: Mapped[int] = mapped_column(Integer)
    bits: Mapped[bytes] = mapped_column(LargeBinary)
    # Every spend inserted before `watermark - OVERLAP` is in `bits` (see filters.py).
    watermark: Mapped[datetime] = mapped_column()
    generated_at: Mapped[datetime] = mapped_column(default=utcnow)
