"""family: households, members, invitations, tasks, privileges, rules, violations,
contracts, reward days, excused days and calendar feeds

Revision ID: 0006_family
Revises: 0005
Create Date: 2026-12-01 08:18:15
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import tessera.core.db.base

revision: str = "0006_family"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "family_families",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column(
            "created_at",
            tessera.core.db.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_family_families_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_family_families")),
    )
    op.create_table(
        "family_calendar_feeds",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("family_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", tessera.core.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column(
            "created_at",
            tessera.core.db.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["family_families.id"],
            name=op.f("fk_family_calendar_feeds_family_id_family_families"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_family_calendar_feeds_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_family_calendar_feeds")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_family_calendar_feeds_token_hash")),
    )
    with op.batch_alter_table("family_calendar_feeds", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_family_calendar_feeds_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "family_contracts",
        sa.Column("family_id", sa.String(length=36), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("child_id", sa.String(length=36), nullable=False),
        sa.Column("parent_id", sa.String(length=36), nullable=True),
        sa.Column("daily_reward_cents", sa.BigInteger(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column(
            "created_at",
            tessera.core.db.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "daily_reward_cents > 0", name=op.f("ck_family_contracts_reward_positive")
        ),
        sa.CheckConstraint(
            "start_date <= end_date", name=op.f("ck_family_contracts_dates_ordered")
        ),
        sa.ForeignKeyConstraint(
            ["child_id"],
            ["users.id"],
            name=op.f("fk_family_contracts_child_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["family_families.id"],
            name=op.f("fk_family_contracts_family_id_family_families"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["users.id"],
            name=op.f("fk_family_contracts_parent_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_family_contracts")),
    )
    with op.batch_alter_table("family_contracts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_family_contracts_child_id"), ["child_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_family_contracts_family_id"), ["family_id"], unique=False
        )

    op.create_table(
        "family_excused_days",
        sa.Column("family_id", sa.String(length=36), nullable=False),
        sa.Column("child_id", sa.String(length=36), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column(
            "created_at",
            tessera.core.db.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["child_id"],
            ["users.id"],
            name=op.f("fk_family_excused_days_child_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_family_excused_days_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["family_families.id"],
            name=op.f("fk_family_excused_days_family_id_family_families"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_family_excused_days")),
        sa.UniqueConstraint("child_id", "day", name=op.f("uq_family_excused_days_child_id_day")),
    )
    with op.batch_alter_table("family_excused_days", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_family_excused_days_family_id"), ["family_id"], unique=False
        )

    op.create_table(
        "family_invitations",
        sa.Column("family_id", sa.String(length=36), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("invited_by", sa.String(length=36), nullable=True),
        sa.Column("expires_at", tessera.core.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", tessera.core.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("accepted_by", sa.String(length=36), nullable=True),
        sa.Column("revoked_at", tessera.core.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column(
            "created_at",
            tessera.core.db.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["accepted_by"],
            ["users.id"],
            name=op.f("fk_family_invitations_accepted_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["family_families.id"],
            name=op.f("fk_family_invitations_family_id_family_families"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invited_by"],
            ["users.id"],
            name=op.f("fk_family_invitations_invited_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_family_invitations")),
    )
    with op.batch_alter_table("family_invitations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_family_invitations_email"), ["email"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_family_invitations_family_id"), ["family_id"], unique=False
        )

    op.create_table(
        "family_members",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("family_id", sa.String(length=36), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("profile_picture", sa.String(length=1000), nullable=True),
        sa.Column(
            "created_at",
            tessera.core.db.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint("role IN ('parent', 'child')", name=op.f("ck_family_members_role")),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["family_families.id"],
            name=op.f("fk_family_members_family_id_family_families"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_family_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_family_members")),
    )
    with op.batch_alter_table("family_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_family_members_family_id"), ["family_id"], unique=False
        )

    op.create_table(
        "family_privileges",
        sa.Column("family_id", sa.String(length=36), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("assigned_to", sa.String(length=36), nullable=False),
        sa.Column("earned", sa.Boolean(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column(
            "created_at",
            tessera.core.db.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["assigned_to"],
            ["users.id"],
            name=op.f("fk_family_privileges_assigned_to_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["family_families.id"],
            name=op.f("fk_family_privileges_family_id_family_families"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_family_privileges")),
    )
    with op.batch_alter_table("family_privileges", schema=None) as batch_op:
        batch_op.create_index(
            "ix_family_privileges_child_day", ["assigned_to", "date"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_family_privileges_family_id"), ["family_id"], unique=False
        )

    op.create_table(
        "family_rules",
        sa.Column("family_id", sa.String(length=36), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("is_task", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column(
            "created_at",
            tessera.core.db.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["family_families.id"],
            name=op.f("fk_family_rules_family_id_family_families"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_family_rules")),
    )
    with op.batch_alter_table("family_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_family_rules_family_id"), ["family_id"], unique=False)

    op.create_table(
        "family_tasks",
        sa.Column("family_id", sa.String(length=36), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("assigned_to", sa.String(length=36), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("completed", sa.Boolean(), nullable=False),
        sa.Column("completed_at", tessera.core.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("is_recurring", sa.Boolean(), nullable=False),
        sa.Column("weekdays", sa.JSON(), nullable=True),
        sa.Column("rrule", sa.String(length=500), nullable=True),
        sa.Column("exdates", sa.JSON(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("generated_until", sa.Date(), nullable=True),
        sa.Column("parent_task_id", sa.String(length=36), nullable=True),
        sa.Column("requires_approval", sa.Boolean(), nullable=False),
        sa.Column("approval_status", sa.String(length=10), nullable=True),
        sa.Column("rejection_reason", sa.String(length=500), nullable=True),
        sa.Column("reviewed_by", sa.String(length=36), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column(
            "created_at",
            tessera.core.db.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["assigned_to"],
            ["users.id"],
            name=op.f("fk_family_tasks_assigned_to_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_family_tasks_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["family_families.id"],
            name=op.f("fk_family_tasks_family_id_family_families"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_task_id"],
            ["family_tasks.id"],
            name=op.f("fk_family_tasks_parent_task_id_family_tasks"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by"],
            ["users.id"],
            name=op.f("fk_family_tasks_reviewed_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_family_tasks")),
        sa.UniqueConstraint(
            "parent_task_id", "due_date", name=op.f("uq_family_tasks_parent_task_id_due_date")
        ),
    )
    with op.batch_alter_table("family_tasks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_family_tasks_child_day", ["assigned_to", "due_date"], unique=False
        )
        batch_op.create_index("ix_family_tasks_family_day", ["family_id", "due_date"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_family_tasks_parent_task_id"), ["parent_task_id"], unique=False
        )

    op.create_table(
        "family_contract_rules",
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("rule_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["family_contracts.id"],
            name=op.f("fk_family_contract_rules_contract_id_family_contracts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["family_rules.id"],
            name=op.f("fk_family_contract_rules_rule_id_family_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contract_id", "rule_id", name=op.f("pk_family_contract_rules")),
    )
    op.create_table(
        "family_reward_days",
        sa.Column("contract_id", sa.String(length=36), nullable=True),
        sa.Column("family_id", sa.String(length=36), nullable=False),
        sa.Column("child_id", sa.String(length=36), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("ledger_transaction_id", sa.String(length=36), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", tessera.core.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column(
            "created_at",
            tessera.core.db.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "outcome IN ('paid', 'skipped', 'excused')", name=op.f("ck_family_reward_days_outcome")
        ),
        sa.ForeignKeyConstraint(
            ["child_id"],
            ["users.id"],
            name=op.f("fk_family_reward_days_child_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["family_contracts.id"],
            name=op.f("fk_family_reward_days_contract_id_family_contracts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["family_families.id"],
            name=op.f("fk_family_reward_days_family_id_family_families"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ledger_transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_family_reward_days_ledger_transaction_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_family_reward_days")),
        sa.UniqueConstraint(
            "contract_id", "day", name=op.f("uq_family_reward_days_contract_id_day")
        ),
    )
    with op.batch_alter_table("family_reward_days", schema=None) as batch_op:
        batch_op.create_index("ix_family_reward_days_child_day", ["child_id", "day"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_family_reward_days_family_id"), ["family_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_family_reward_days_ledger_transaction_id"),
            ["ledger_transaction_id"],
            unique=False,
        )

    op.create_table(
        "family_rule_violations",
        sa.Column("family_id", sa.String(length=36), nullable=False),
        sa.Column("rule_id", sa.String(length=36), nullable=False),
        sa.Column("child_id", sa.String(length=36), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("reported_by", sa.String(length=36), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column(
            "created_at",
            tessera.core.db.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["child_id"],
            ["users.id"],
            name=op.f("fk_family_rule_violations_child_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["family_families.id"],
            name=op.f("fk_family_rule_violations_family_id_family_families"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reported_by"],
            ["users.id"],
            name=op.f("fk_family_rule_violations_reported_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["family_rules.id"],
            name=op.f("fk_family_rule_violations_rule_id_family_rules"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_family_rule_violations")),
    )
    with op.batch_alter_table("family_rule_violations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_family_rule_violations_child_day", ["child_id", "date"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_family_rule_violations_family_id"), ["family_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_family_rule_violations_rule_id"), ["rule_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("family_rule_violations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_family_rule_violations_rule_id"))
        batch_op.drop_index(batch_op.f("ix_family_rule_violations_family_id"))
        batch_op.drop_index("ix_family_rule_violations_child_day")

    op.drop_table("family_rule_violations")
    with op.batch_alter_table("family_reward_days", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_family_reward_days_ledger_transaction_id"))
        batch_op.drop_index(batch_op.f("ix_family_reward_days_family_id"))
        batch_op.drop_index("ix_family_reward_days_child_day")

    op.drop_table("family_reward_days")
    op.drop_table("family_contract_rules")
    with op.batch_alter_table("family_tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_family_tasks_parent_task_id"))
        batch_op.drop_index("ix_family_tasks_family_day")
        batch_op.drop_index("ix_family_tasks_child_day")

    op.drop_table("family_tasks")
    with op.batch_alter_table("family_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_family_rules_family_id"))

    op.drop_table("family_rules")
    with op.batch_alter_table("family_privileges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_family_privileges_family_id"))
        batch_op.drop_index("ix_family_privileges_child_day")

    op.drop_table("family_privileges")
    with op.batch_alter_table("family_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_family_members_family_id"))

    op.drop_table("family_members")
    with op.batch_alter_table("family_invitations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_family_invitations_family_id"))
        batch_op.drop_index(batch_op.f("ix_family_invitations_email"))

    op.drop_table("family_invitations")
    with op.batch_alter_table("family_excused_days", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_family_excused_days_family_id"))

    op.drop_table("family_excused_days")
    with op.batch_alter_table("family_contracts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_family_contracts_family_id"))
        batch_op.drop_index(batch_op.f("ix_family_contracts_child_id"))

    op.drop_table("family_contracts")
    with op.batch_alter_table("family_calendar_feeds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_family_calendar_feeds_user_id"))

    op.drop_table("family_calendar_feeds")
    op.drop_table("family_families")
