"""ledger: system accounts keep their balance in shard rows

Each system account gets SYSTEM_SHARDS shard rows; its balance and entry count move to shard
0 (its existing entries are shard 0's), and its own row keeps 0 from now on. Entries are
numbered per (account, shard).

Revision ID: 0011_ledger_shards
Revises: 0010_audit_merkle
Create Date: 2026-12-01 08:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_ledger_shards"
down_revision: str | None = "0010_audit_merkle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SYSTEM_SHARDS = 64  # frozen: the code's constant may change, this migration may not
SHARDED_CHECK = "NOT allow_negative OR (balance = 0 AND entry_count = 0)"


def upgrade() -> None:
    op.create_table(
        "ledger_account_shards",
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("shard", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("balance", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("entry_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_account_shards_account_id_ledger_accounts"),
        ),
        sa.PrimaryKeyConstraint("account_id", "shard", name=op.f("pk_ledger_account_shards")),
    )
    op.execute(
        "INSERT INTO ledger_account_shards (account_id, shard, balance, entry_count) "
        "SELECT id, 0, balance, entry_count FROM ledger_accounts WHERE allow_negative"
    )
    for shard in range(1, SYSTEM_SHARDS):
        op.execute(
            sa.text(
                "INSERT INTO ledger_account_shards (account_id, shard, balance, entry_count) "
                "SELECT id, :shard, 0, 0 FROM ledger_accounts WHERE allow_negative"
            ).bindparams(shard=shard)
        )
    op.execute("UPDATE ledger_accounts SET balance = 0, entry_count = 0 WHERE allow_negative")
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.create_check_constraint("sharded", SHARDED_CHECK)
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("shard", sa.SmallInteger(), server_default="0", nullable=False)
        )
        batch_op.drop_constraint("uq_ledger_entries_account_id_seq", type_="unique")
        batch_op.create_unique_constraint(
            "uq_ledger_entries_account_id_shard_seq", ["account_id", "shard", "seq"]
        )
    if not postgres:
        _sqlite_entry_guards()  # the batch rebuilt the table without its triggers


def _sqlite_entry_guards() -> None:
    for event in ("UPDATE", "DELETE"):
        op.execute(f"DROP TRIGGER IF EXISTS ledger_entries_no_{event.lower()}")
        op.execute(
            f"CREATE TRIGGER ledger_entries_no_{event.lower()} BEFORE {event} ON ledger_entries "
            "BEGIN SELECT RAISE(ABORT, 'ledger_entries is append-only'); END"
        )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    # Fold the shards back onto their accounts; entries of shards other than 0 cannot be
    # renumbered into one sequence, so the downgrade refuses if there are any.
    if op.get_bind().scalar(sa.text("SELECT COUNT(*) FROM ledger_entries WHERE shard <> 0")):
        raise RuntimeError("entries on system-account shards other than 0; cannot downgrade")
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.drop_constraint("sharded", type_="check")
    op.execute(
        "UPDATE ledger_accounts SET "
        "balance = (SELECT COALESCE(SUM(balance), 0) FROM ledger_account_shards s"
        " WHERE s.account_id = ledger_accounts.id), "
        "entry_count = (SELECT COALESCE(SUM(entry_count), 0) FROM ledger_account_shards s"
        " WHERE s.account_id = ledger_accounts.id) WHERE allow_negative"
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_constraint("uq_ledger_entries_account_id_shard_seq", type_="unique")
        batch_op.create_unique_constraint("uq_ledger_entries_account_id_seq", ["account_id", "seq"])
        batch_op.drop_column("shard")
    if not postgres:
        _sqlite_entry_guards()
    op.drop_table("ledger_account_shards")
