"""riskscan: scans per user and the documents of queued scans

Revision ID: 0007_riskscan
Revises: 0006_family
Create Date: 2026-12-01 08:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import tessera.core.db.base

revision: str = "0007_riskscan"
down_revision: str | None = "0006_family"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("(CURRENT_TIMESTAMP)")
UTC = tessera.core.db.base.UTCDateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "riskscan_scans",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("file_type", sa.String(length=16), nullable=False),
        sa.Column("file_size", sa.BigInteger(), nullable=True),
        sa.Column("input_source", sa.String(length=16), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("force_llm", sa.Boolean(), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("partial", sa.Boolean(), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=True),
        sa.Column("pipeline_version", sa.String(length=64), nullable=True),
        sa.Column("progress_done", sa.Integer(), nullable=False),
        sa.Column("progress_total", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("lease_until", UTC, nullable=True),
        sa.Column("completed_at", UTC, nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTC, server_default=NOW, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_riskscan_scans_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_riskscan_scans")),
    )
    with op.batch_alter_table("riskscan_scans", schema=None) as batch_op:
        batch_op.create_index("ix_riskscan_scans_queue", ["status", "lease_until"], unique=False)
        batch_op.create_index(
            "ix_riskscan_scans_user_created", ["user_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_riskscan_scans_user_hash", ["user_id", "content_hash"], unique=False
        )

    op.create_table(
        "riskscan_uploads",
        sa.Column("scan_id", sa.String(length=36), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["scan_id"],
            ["riskscan_scans.id"],
            name=op.f("fk_riskscan_uploads_scan_id_riskscan_scans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("scan_id", name=op.f("pk_riskscan_uploads")),
    )


def downgrade() -> None:
    op.drop_table("riskscan_uploads")
    with op.batch_alter_table("riskscan_scans", schema=None) as batch_op:
        batch_op.drop_index("ix_riskscan_scans_user_hash")
        batch_op.drop_index("ix_riskscan_scans_user_created")
        batch_op.drop_index("ix_riskscan_scans_queue")
    op.drop_table("riskscan_scans")
