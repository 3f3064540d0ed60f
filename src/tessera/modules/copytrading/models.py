"""Tables of the copy-trading module (seed 001), all prefixed `copytrading_`.

- `copytrading_masters`: a master profile per user (its presence is the `master` role) and the
  sequence of the last signal it published.
- `copytrading_subscriptions`: follower → master, its state, trust score, risk policy,
  billing (`paid_until`) and high-water mark. At most one *active* row per pair (a partial
  unique index), so a cancelled pair may subscribe again.
- `copytrading_licenses`: the bots' credentials, follower (`subscription_id`) or master
  (`master_id`); only the SHA-256 of a token is stored.
- `copytrading_events` (protection events), `copytrading_trust_changes` (why a score moved),
  `copytrading_signals` (the archive), `copytrading_fee_charges` (one row per charged period:
  the exactly-once guard) and `copytrading_results` (reported profit per period, HWM).

Money is integer cents (USD); decimals that are not money (volumes, prices) are kept as the
exact decimal text the master sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tessera.core.db.base import Base, TimestampMixin, UUIDPrimaryKey, utcnow


class Master(TimestampMixin, Base):
    __tablename__ = "copytrading_masters"

    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    display_name: Mapped[str] = mapped_column(String(100))
    strategy_name: Mapped[str] = mapped_column(String(100))
    bio: Mapped[str | None] = mapped_column(String(1000))
    monthly_fee: Mapped[int] = mapped_column(BigInteger, default=0)  # cents
    performance_fee_bps: Mapped[int] = mapped_column(Integer, default=2000)  # 2000 = 20 %
    verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    last_sequence: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Subscription(UUIDPrimaryKey, TimestampMixin, Base):
    __tablename__ = "copytrading_subscriptions"
    __table_args__ = (
        CheckConstraint("subscriber_id <> master_id", name="not_self"),
        CheckConstraint("trust_score >= 0 AND trust_score <= 100", name="trust_range"),
        Index(
            "uq_copytrading_subscriptions_active_pair",
            "subscriber_id",
            "master_id",
            unique=True,
            sqlite_where=text("is_active"),
            postgresql_where=text("is_active"),
        ),
    )

    subscriber_id: Mapped[str] = mapped_column(String(36), ForeignKey("users.id"), index=True)
    master_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("copytrading_masters.user_id"), index=True
    )
    state: Mapped[str] = mapped_column(String(20), index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    trust_score: Mapped[int] = mapped_column(Integer, default=100)
    paused_at: Mapped[datetime | None] = mapped_column()
    paused_reason: Mapped[str | None] = mapped_column(String(200))
    cancelled_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Billing: the monthly fee has been paid up to this instant.
    paid_until: Mapped[datetime | None] = mapped_column(index=True)
    total_fees_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    # Performance fee: the best cumulative profit level already billed, and the last level.
    high_water_mark: Mapped[int] = mapped_column(BigInteger, default=0)
    last_profit: Mapped[int] = mapped_column(BigInteger, default=0)
    # Risk policy, versioned; the bot must heartbeat with the current version.
    policy: Mapped[dict[str, Any]] = mapped_column(default=dict)
    policy_version: Mapped[int] = mapped_column(Integer, default=1)
    stop_out_action: Mapped[str | None] = mapped_column(String(20))
    stop_out_reason: Mapped[str | None] = mapped_column(String(200))
    # Heartbeats: equity in cents; the day's first equity anchors the daily loss cap.
    last_heartbeat_at: Mapped[datetime | None] = mapped_column()
    last_equity: Mapped[int | None] = mapped_column(BigInteger)
    last_balance: Mapped[int | None] = mapped_column(BigInteger)
    day_anchor_date: Mapped[str | None] = mapped_column(String(10))
    day_anchor_equity: Mapped[int | None] = mapped_column(BigInteger)
    # Trust: the last penalised event and the last recovery step.
    last_incident_at: Mapped[datetime | None] = mapped_column()
    last_recovery_at: Mapped[datetime | None] = mapped_column()


class License(UUIDPrimaryKey, TimestampMixin, Base):
    __tablename__ = "copytrading_licenses"
    __table_args__ = (
        CheckConstraint(
            "(is_active AND revoked_at IS NULL) OR (NOT is_active AND revoked_at IS NOT NULL)",
            name="revocation",
        ),
        CheckConstraint(
            "(kind = 'follower' AND subscription_id IS NOT NULL)"
            " OR (kind = 'master' AND master_id IS NOT NULL)",
            name="owner",
        ),
    )

    kind: Mapped[str] = mapped_column(String(10))  # follower | master
    subscription_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("copytrading_subscriptions.id", ondelete="CASCADE"), index=True
    )
    master_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("copytrading_masters.user_id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    expires_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoked_reason: Mapped[str | None] = mapped_column(String(100))
    last_used_at: Mapped[datetime | None] = mapped_column()
    ip_address: Mapped[str | None] = mapped_column(String(45))
    ea_instance_id: Mapped[str | None] = mapped_column(String(100))


class ProtectionEvent(UUIDPrimaryKey, Base):
    __tablename__ = "copytrading_events"
    __table_args__ = (Index("ix_copytrading_events_sub_time", "subscription_id", "event_time"),)

    subscription_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("copytrading_subscriptions.id", ondelete="CASCADE")
    )
    user_id: Mapped[str] = mapped_column(String(36), ForeignKey("users.id"), index=True)
    event_time: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    signal_sequence: Mapped[int] = mapped_column(BigInteger)
    signal_generated_at: Mapped[datetime] = mapped_column()
    server_arrival_time: Mapped[datetime] = mapped_column()
    reason: Mapped[str] = mapped_column(String(30))
    latency_ms: Mapped[int] = mapped_column(Integer)
    price_deviation: Mapped[float | None] = mapped_column(Float)
    current_state: Mapped[str] = mapped_column(String(20))
    penalty: Mapped[int] = mapped_column(Integer)
    trust_after: Mapped[int] = mapped_column(Integer)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)


class TrustChange(UUIDPrimaryKey, TimestampMixin, Base):
    __tablename__ = "copytrading_trust_changes"
    __table_args__ = (
        Index("ix_copytrading_trust_changes_sub_time", "subscription_id", "created_at"),
    )

    subscription_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("copytrading_subscriptions.id", ondelete="CASCADE")
    )
    cause: Mapped[str] = mapped_column(String(20))  # event | recovery
    reason: Mapped[str | None] = mapped_column(String(30))
    event_id: Mapped[str | None] = mapped_column(String(36))
    delta: Mapped[int] = mapped_column(Integer)
    score_after: Mapped[int] = mapped_column(Integer)
    state_after: Mapped[str] = mapped_column(String(20))


class Signal(UUIDPrimaryKey, Base):
    __tablename__ = "copytrading_signals"
    __table_args__ = (UniqueConstraint("master_id", "sequence"),)

    master_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("copytrading_masters.user_id", ondelete="CASCADE")
    )
    sequence: Mapped[int] = mapped_column(BigInteger)
    symbol: Mapped[str] = mapped_column(String(20))
    order_type: Mapped[str] = mapped_column(String(10))
    volume: Mapped[str] = mapped_column(String(40))
    price: Mapped[str] = mapped_column(String(40))
    stop_loss: Mapped[str | None] = mapped_column(String(40))
    take_profit: Mapped[str | None] = mapped_column(String(40))
    generated_at: Mapped[datetime] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    signature: Mapped[str] = mapped_column(String(64))


class FeeCharge(UUIDPrimaryKey, TimestampMixin, Base):
    """One charged fee period: the unique row is what makes a charge exactly-once."""

    __tablename__ = "copytrading_fee_charges"
    __table_args__ = (UniqueConstraint("subscription_id", "kind", "period"),)

    subscription_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("copytrading_subscriptions.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(20))  # FEE_SUBSCRIPTION | FEE_PERFORMANCE
    period: Mapped[str] = mapped_column(String(40))
    amount: Mapped[int] = mapped_column(BigInteger)
    master_share: Mapped[int] = mapped_column(BigInteger)
    ledger_transaction_id: Mapped[str | None] = mapped_column(String(36))


class PeriodResult(UUIDPrimaryKey, TimestampMixin, Base):
    """A reported closed period of a (follower, master) pair: survives re-subscription."""

    __tablename__ = "copytrading_results"
    __table_args__ = (UniqueConstraint("subscriber_id", "master_id", "period"),)

    subscription_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("copytrading_subscriptions.id", ondelete="CASCADE"), index=True
    )
    subscriber_id: Mapped[str] = mapped_column(String(36), ForeignKey("users.id"))
    master_id: Mapped[str] = mapped_column(String(36), index=True)
    period: Mapped[str] = mapped_column(String(40))
    profit: Mapped[int] = mapped_column(BigInteger)  # cumulative level, cents, signed
    change: Mapped[int] = mapped_column(BigInteger)  # against the previous level
    hwm_before: Mapped[int] = mapped_column(BigInteger)
    hwm_after: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger)
    fee_bps: Mapped[int] = mapped_column(Integer)
    reported_by: Mapped[str] = mapped_column(String(36))
