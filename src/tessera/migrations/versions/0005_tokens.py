"""tokens

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 03:11:30.967158
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import tessera.core.db.base

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("(CURRENT_TIMESTAMP)")
UTC = tessera.core.db.base.UTCDateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "tokens_keys",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("truncated_id", sa.Integer(), nullable=False),
        sa.Column("live_slot", sa.Integer(), nullable=True),
        sa.Column("public_spki", sa.LargeBinary(), nullable=False),
        sa.Column("sealed_private_key", sa.LargeBinary(), nullable=True),
        sa.Column("not_before", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=False),
        sa.Column("retired_at", UTC, nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTC, server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tokens_keys")),
        sa.UniqueConstraint("key_id", name=op.f("uq_tokens_keys_key_id")),
        sa.UniqueConstraint("live_slot", name=op.f("uq_tokens_keys_live_slot")),
    )
    with op.batch_alter_table("tokens_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tokens_keys_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "tokens_receipts",
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("provider_receipt_id", sa.String(length=300), nullable=False),
        sa.Column("owner", sa.String(length=80), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("amount_cents", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("tokens_allowed", sa.Integer(), nullable=False),
        sa.Column("tokens_minted", sa.Integer(), server_default="0", nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTC, server_default=NOW, nullable=False),
        sa.CheckConstraint(
            "tokens_minted >= 0 AND tokens_minted <= tokens_allowed",
            name=op.f("ck_tokens_receipts_allowance"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_tokens_receipts_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tokens_receipts")),
        sa.UniqueConstraint(
            "provider",
            "provider_receipt_id",
            name=op.f("uq_tokens_receipts_provider_provider_receipt_id"),
        ),
    )
    with op.batch_alter_table("tokens_receipts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tokens_receipts_owner"), ["owner"], unique=False)
        batch_op.create_index(batch_op.f("ix_tokens_receipts_user_id"), ["user_id"], unique=False)

    op.create_table(
        "tokens_vouchers",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("original_cents", sa.BigInteger(), nullable=False),
        sa.Column("balance_cents", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", UTC, nullable=True),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTC, server_default=NOW, nullable=False),
        sa.CheckConstraint(
            "balance_cents >= 0 AND balance_cents <= original_cents",
            name=op.f("ck_tokens_vouchers_balance"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tokens_vouchers")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_tokens_vouchers_code_hash")),
    )

    op.create_table(
        "tokens_issuances",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("receipt_id", sa.String(length=36), nullable=True),
        sa.Column("voucher_id", sa.String(length=36), nullable=True),
        sa.Column("token_count", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=True),
        sa.Column("issued_by", sa.String(length=80), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTC, server_default=NOW, nullable=False),
        sa.ForeignKeyConstraint(
            ["receipt_id"],
            ["tokens_receipts.id"],
            name=op.f("fk_tokens_issuances_receipt_id_tokens_receipts"),
        ),
        sa.ForeignKeyConstraint(
            ["voucher_id"],
            ["tokens_vouchers.id"],
            name=op.f("fk_tokens_issuances_voucher_id_tokens_vouchers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tokens_issuances")),
    )
    with op.batch_alter_table("tokens_issuances", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tokens_issuances_key_id"), ["key_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_tokens_issuances_receipt_id"), ["receipt_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_tokens_issuances_voucher_id"), ["voucher_id"], unique=False
        )

    op.create_table(
        "tokens_spent",
        sa.Column("spent_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("validator_id", sa.String(length=100), nullable=False),
        sa.Column("api_key_id", sa.String(length=36), nullable=True),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("redeemed_at", UTC, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("spent_key", name=op.f("pk_tokens_spent")),
    )
    with op.batch_alter_table("tokens_spent", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tokens_spent_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_tokens_spent_key_id"), ["key_id"], unique=False)

    op.create_table(
        "tokens_double_spends",
        sa.Column("spent_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("original_validator_id", sa.String(length=100), nullable=False),
        sa.Column("original_redeemed_at", UTC, nullable=False),
        sa.Column("duplicate_validator_id", sa.String(length=100), nullable=False),
        sa.Column("duplicate_redeemed_at", UTC, nullable=False),
        sa.Column("duplicate_channel", sa.String(length=10), nullable=False),
        sa.Column("detected_at", UTC, nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tokens_double_spends")),
    )
    with op.batch_alter_table("tokens_double_spends", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tokens_double_spends_detected_at"), ["detected_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_tokens_double_spends_spent_key"), ["spent_key"], unique=False
        )

    op.create_table(
        "tokens_revoked",
        sa.Column("spent_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("revoked_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", UTC, server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("spent_key", name=op.f("pk_tokens_revoked")),
    )

    op.create_table(
        "tokens_offline_syncs",
        sa.Column("api_key_id", sa.String(length=36), nullable=False),
        sa.Column("validator_id", sa.String(length=100), nullable=False),
        sa.Column("local_id", sa.String(length=100), nullable=False),
        sa.Column("spent_key", sa.LargeBinary(length=32), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("detail", JSON, nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTC, server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tokens_offline_syncs")),
        sa.UniqueConstraint(
            "api_key_id",
            "validator_id",
            "local_id",
            name=op.f("uq_tokens_offline_syncs_api_key_id_validator_id_local_id"),
        ),
    )

    op.create_table(
        "tokens_bloom_snapshots",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("salt", sa.LargeBinary(length=16), nullable=False),
        sa.Column("m", sa.BigInteger(), nullable=False),
        sa.Column("k", sa.Integer(), nullable=False),
        sa.Column("p", sa.Float(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("bits", sa.LargeBinary(), nullable=False),
        sa.Column("watermark", UTC, nullable=False),
        sa.Column("generated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_tokens_bloom_snapshots")),
    )


def downgrade() -> None:
    op.drop_table("tokens_bloom_snapshots")
    op.drop_table("tokens_offline_syncs")
    op.drop_table("tokens_revoked")
    with op.batch_alter_table("tokens_double_spends", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tokens_double_spends_spent_key"))
        batch_op.drop_index(batch_op.f("ix_tokens_double_spends_detected_at"))
    op.drop_table("tokens_double_spends")
    with op.batch_alter_table("tokens_spent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tokens_spent_key_id"))
        batch_op.drop_index(batch_op.f("ix_tokens_spent_created_at"))
    op.drop_table("tokens_spent")
    with op.batch_alter_table("tokens_issuances", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tokens_issuances_voucher_id"))
        batch_op.drop_index(batch_op.f("ix_tokens_issuances_receipt_id"))
        batch_op.drop_index(batch_op.f("ix_tokens_issuances_key_id"))
    op.drop_table("tokens_issuances")
    op.drop_table("tokens_vouchers")
    with op.batch_alter_table("tokens_receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tokens_receipts_user_id"))
        batch_op.drop_index(batch_op.f("ix_tokens_receipts_owner"))
    op.drop_table("tokens_receipts")
    with op.batch_alter_table("tokens_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tokens_keys_expires_at"))
    op.drop_table("tokens_keys")
