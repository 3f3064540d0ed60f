"""copytrading: masters, subscriptions, licenses, events, trust, signals, fees, results

Revision ID: 0008_copytrading
Revises: 0007_riskscan
Create Date: 2026-12-01 08:18:39.166526
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tessera.core.db.base

revision: str = "0008_copytrading"
down_revision: str | None = "0007_riskscan"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("(CURRENT_TIMESTAMP)")
UTC = tessera.core.db.base.UTCDateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "copytrading_masters",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("strategy_name", sa.String(length=100), nullable=False),
        sa.Column("bio", sa.String(length=1000), nullable=True),
        sa.Column("monthly_fee", sa.BigInteger(), nullable=False),
        sa.Column("performance_fee_bps", sa.Integer(), nullable=False),
        sa.Column("verified", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("created_at", UTC, server_default=NOW, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_copytrading_masters_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_copytrading_masters")),
    )
    op.create_table(
        "copytrading_signals",
        sa.Column("master_id", sa.String(length=36), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("symbol", sa.String(length=20), nullable=False),
        sa.Column("order_type", sa.String(length=10), nullable=False),
        sa.Column("volume", sa.String(length=40), nullable=False),
        sa.Column("price", sa.String(length=40), nullable=False),
        sa.Column("stop_loss", sa.String(length=40), nullable=True),
        sa.Column("take_profit", sa.String(length=40), nullable=True),
        sa.Column("generated_at", UTC, nullable=False),
        sa.Column("received_at", UTC, nullable=False),
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["master_id"],
            ["copytrading_masters.user_id"],
            name=op.f("fk_copytrading_signals_master_id_copytrading_masters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_copytrading_signals")),
        sa.UniqueConstraint(
            "master_id", "sequence", name=op.f("uq_copytrading_signals_master_id_sequence")
        ),
    )
    op.create_index(
        op.f("ix_copytrading_signals_received_at"),
        "copytrading_signals",
        ["received_at"],
        unique=False,
    )
    op.create_table(
        "copytrading_subscriptions",
        sa.Column("subscriber_id", sa.String(length=36), nullable=False),
        sa.Column("master_id", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("trust_score", sa.Integer(), nullable=False),
        sa.Column("paused_at", UTC, nullable=True),
        sa.Column("paused_reason", sa.String(length=200), nullable=True),
        sa.Column("cancelled_at", UTC, nullable=True),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("paid_until", UTC, nullable=True),
        sa.Column("total_fees_paid", sa.BigInteger(), nullable=False),
        sa.Column("high_water_mark", sa.BigInteger(), nullable=False),
        sa.Column("last_profit", sa.BigInteger(), nullable=False),
        sa.Column("policy", JSON, nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("stop_out_action", sa.String(length=20), nullable=True),
        sa.Column("stop_out_reason", sa.String(length=200), nullable=True),
        sa.Column("last_heartbeat_at", UTC, nullable=True),
        sa.Column("last_equity", sa.BigInteger(), nullable=True),
        sa.Column("last_balance", sa.BigInteger(), nullable=True),
        sa.Column("day_anchor_date", sa.String(length=10), nullable=True),
        sa.Column("day_anchor_equity", sa.BigInteger(), nullable=True),
        sa.Column("last_incident_at", UTC, nullable=True),
        sa.Column("last_recovery_at", UTC, nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTC, server_default=NOW, nullable=False),
        sa.CheckConstraint(
            "subscriber_id <> master_id", name=op.f("ck_copytrading_subscriptions_not_self")
        ),
        sa.CheckConstraint(
            "trust_score >= 0 AND trust_score <= 100",
            name=op.f("ck_copytrading_subscriptions_trust_range"),
        ),
        sa.ForeignKeyConstraint(
            ["master_id"],
            ["copytrading_masters.user_id"],
            name=op.f("fk_copytrading_subscriptions_master_id_copytrading_masters"),
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["users.id"],
            name=op.f("fk_copytrading_subscriptions_subscriber_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_copytrading_subscriptions")),
    )
    op.create_index(
        op.f("ix_copytrading_subscriptions_master_id"),
        "copytrading_subscriptions",
        ["master_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_copytrading_subscriptions_paid_until"),
        "copytrading_subscriptions",
        ["paid_until"],
        unique=False,
    )
    op.create_index(
        op.f("ix_copytrading_subscriptions_state"),
        "copytrading_subscriptions",
        ["state"],
        unique=False,
    )
    op.create_index(
        op.f("ix_copytrading_subscriptions_subscriber_id"),
        "copytrading_subscriptions",
        ["subscriber_id"],
        unique=False,
    )
    op.create_index(
        "uq_copytrading_subscriptions_active_pair",
        "copytrading_subscriptions",
        ["subscriber_id", "master_id"],
        unique=True,
        sqlite_where=sa.text("is_active"),
        postgresql_where=sa.text("is_active"),
    )
    op.create_table(
        "copytrading_events",
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("event_time", UTC, nullable=False),
        sa.Column("signal_sequence", sa.BigInteger(), nullable=False),
        sa.Column("signal_generated_at", UTC, nullable=False),
        sa.Column("server_arrival_time", UTC, nullable=False),
        sa.Column("reason", sa.String(length=30), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("price_deviation", sa.Float(), nullable=True),
        sa.Column("current_state", sa.String(length=20), nullable=False),
        sa.Column("penalty", sa.Integer(), nullable=False),
        sa.Column("trust_after", sa.Integer(), nullable=False),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["copytrading_subscriptions.id"],
            name=op.f("fk_copytrading_events_subscription_id_copytrading_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_copytrading_events_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_copytrading_events")),
    )
    op.create_index(
        op.f("ix_copytrading_events_event_time"), "copytrading_events", ["event_time"], unique=False
    )
    op.create_index(
        "ix_copytrading_events_sub_time",
        "copytrading_events",
        ["subscription_id", "event_time"],
        unique=False,
    )
    op.create_index(
        op.f("ix_copytrading_events_user_id"), "copytrading_events", ["user_id"], unique=False
    )
    op.create_table(
        "copytrading_fee_charges",
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("period", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("master_share", sa.BigInteger(), nullable=False),
        sa.Column("ledger_transaction_id", sa.String(length=36), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTC, server_default=NOW, nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["copytrading_subscriptions.id"],
            name=op.f("fk_copytrading_fee_charges_subscription_id_copytrading_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_copytrading_fee_charges")),
        sa.UniqueConstraint(
            "subscription_id",
            "kind",
            "period",
            name=op.f("uq_copytrading_fee_charges_subscription_id_kind_period"),
        ),
    )
    op.create_table(
        "copytrading_licenses",
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("subscription_id", sa.String(length=36), nullable=True),
        sa.Column("master_id", sa.String(length=36), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("expires_at", UTC, nullable=True),
        sa.Column("revoked_at", UTC, nullable=True),
        sa.Column("revoked_reason", sa.String(length=100), nullable=True),
        sa.Column("last_used_at", UTC, nullable=True),
        sa.Column("ip_address", sa.String(length=45), nullable=True),
        sa.Column("ea_instance_id", sa.String(length=100), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTC, server_default=NOW, nullable=False),
        sa.CheckConstraint(
            "(kind = 'follower' AND subscription_id IS NOT NULL) OR (kind = 'master' AND master_id IS NOT NULL)",
            name=op.f("ck_copytrading_licenses_owner"),
        ),
        sa.CheckConstraint(
            "(is_active AND revoked_at IS NULL) OR (NOT is_active AND revoked_at IS NOT NULL)",
            name=op.f("ck_copytrading_licenses_revocation"),
        ),
        sa.ForeignKeyConstraint(
            ["master_id"],
            ["copytrading_masters.user_id"],
            name=op.f("fk_copytrading_licenses_master_id_copytrading_masters"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["copytrading_subscriptions.id"],
            name=op.f("fk_copytrading_licenses_subscription_id_copytrading_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_copytrading_licenses")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_copytrading_licenses_token_hash")),
    )
    op.create_index(
        op.f("ix_copytrading_licenses_master_id"),
        "copytrading_licenses",
        ["master_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_copytrading_licenses_subscription_id"),
        "copytrading_licenses",
        ["subscription_id"],
        unique=False,
    )
    op.create_table(
        "copytrading_results",
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("subscriber_id", sa.String(length=36), nullable=False),
        sa.Column("master_id", sa.String(length=36), nullable=False),
        sa.Column("period", sa.String(length=40), nullable=False),
        sa.Column("profit", sa.BigInteger(), nullable=False),
        sa.Column("change", sa.BigInteger(), nullable=False),
        sa.Column("hwm_before", sa.BigInteger(), nullable=False),
        sa.Column("hwm_after", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("fee_bps", sa.Integer(), nullable=False),
        sa.Column("reported_by", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTC, server_default=NOW, nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"], ["users.id"], name=op.f("fk_copytrading_results_subscriber_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["copytrading_subscriptions.id"],
            name=op.f("fk_copytrading_results_subscription_id_copytrading_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_copytrading_results")),
        sa.UniqueConstraint(
            "subscriber_id",
            "master_id",
            "period",
            name=op.f("uq_copytrading_results_subscriber_id_master_id_period"),
        ),
    )
    op.create_index(
        op.f("ix_copytrading_results_master_id"), "copytrading_results", ["master_id"], unique=False
    )
    op.create_index(
        op.f("ix_copytrading_results_subscription_id"),
        "copytrading_results",
        ["subscription_id"],
        unique=False,
    )
    op.create_table(
        "copytrading_trust_changes",
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("cause", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=30), nullable=True),
        sa.Column("event_id", sa.String(length=36), nullable=True),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("score_after", sa.Integer(), nullable=False),
        sa.Column("state_after", sa.String(length=20), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTC, server_default=NOW, nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["copytrading_subscriptions.id"],
            name=op.f("fk_copytrading_trust_changes_subscription_id_copytrading_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_copytrading_trust_changes")),
    )
    op.create_index(
        "ix_copytrading_trust_changes_sub_time",
        "copytrading_trust_changes",
        ["subscription_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_copytrading_trust_changes_sub_time", table_name="copytrading_trust_changes")
    op.drop_table("copytrading_trust_changes")
    op.drop_index(op.f("ix_copytrading_results_subscription_id"), table_name="copytrading_results")
    op.drop_index(op.f("ix_copytrading_results_master_id"), table_name="copytrading_results")
    op.drop_table("copytrading_results")
    op.drop_index(
        op.f("ix_copytrading_licenses_subscription_id"), table_name="copytrading_licenses"
    )
    op.drop_index(op.f("ix_copytrading_licenses_master_id"), table_name="copytrading_licenses")
    op.drop_table("copytrading_licenses")
    op.drop_table("copytrading_fee_charges")
    op.drop_index(op.f("ix_copytrading_events_user_id"), table_name="copytrading_events")
    op.drop_index("ix_copytrading_events_sub_time", table_name="copytrading_events")
    op.drop_index(op.f("ix_copytrading_events_event_time"), table_name="copytrading_events")
    op.drop_table("copytrading_events")
    op.drop_index(
        "uq_copytrading_subscriptions_active_pair",
        table_name="copytrading_subscriptions",
        sqlite_where=sa.text("is_active"),
        postgresql_where=sa.text("is_active"),
    )
    op.drop_index(
        op.f("ix_copytrading_subscriptions_subscriber_id"), table_name="copytrading_subscriptions"
    )
    op.drop_index(
        op.f("ix_copytrading_subscriptions_state"), table_name="copytrading_subscriptions"
    )
    op.drop_index(
        op.f("ix_copytrading_subscriptions_paid_until"), table_name="copytrading_subscriptions"
    )
    op.drop_index(
        op.f("ix_copytrading_subscriptions_master_id"), table_name="copytrading_subscriptions"
    )
    op.drop_table("copytrading_subscriptions")
    op.drop_index(op.f("ix_copytrading_signals_received_at"), table_name="copytrading_signals")
    op.drop_table("copytrading_signals")
    op.drop_table("copytrading_masters")
