"""ledger: two-phase movements (holds) and each wallet's reserved amount

Revision ID: 0012_ledger_holds
Revises: 0011_ledger_shards
Create Date: 2026-12-01 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tessera.core.db.base

revision: str = "0012_ledger_holds"
down_revision: str | None = "0011_ledger_shards"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = tessera.core.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reserved", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.create_check_constraint(
            "reserved_covered", "reserved >= 0 AND reserved <= balance"
        )
    op.create_table(
        "ledger_holds",
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("target_account_id", sa.String(length=36), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("reference", sa.String(length=255), nullable=True),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("captured", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("transaction_id", sa.String(length=36), nullable=True),
        sa.Column("expires_at", UTC, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("resolved_at", UTC, nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_ledger_holds_positive_amount")),
        sa.CheckConstraint(
            "captured >= 0 AND captured <= amount", name=op.f("ck_ledger_holds_captured_within")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'captured', 'voided', 'expired')",
            name=op.f("ck_ledger_holds_known_status"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_holds_account_id_ledger_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["target_account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_holds_target_account_id_ledger_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_ledger_holds_transaction_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_holds")),
    )
    with op.batch_alter_table("ledger_holds", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_holds_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            "ix_ledger_holds_pending_expiry", ["status", "expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ledger_holds", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_holds_pending_expiry")
        batch_op.drop_index(batch_op.f("ix_ledger_holds_account_id"))
    op.drop_table("ledger_holds")
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.drop_constraint("reserved_covered", type_="check")
        batch_op.drop_column("reserved")
