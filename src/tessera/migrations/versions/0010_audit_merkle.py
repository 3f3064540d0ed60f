"""audit log as a Merkle transparency log

Appends stop chaining: rows get a log index and a Merkle leaf from the sequencer instead.
The existing hash chain is checked once here (the upgrade stops, naming the row, if it is
broken) and its rows become the first leaves of the tree, in chain order. The sequencer signs
the first tree head once `tessera bootstrap` has created the signing key.

Revision ID: 0010_audit_merkle
Revises: 0009_identity_browser
Create Date: 2026-12-01 08:30:00.000000
"""

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

import orjson
import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import tessera.core.db.base

revision: str = "0010_audit_merkle"
down_revision: str | None = "0009_identity_browser"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("(CURRENT_TIMESTAMP)")
UTC_TYPE = tessera.core.db.base.UTCDateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")
MESSAGE = "audit_logs is append-only"
GENESIS_HASH = "0" * 64
# Frozen copies of the formats (a migration must not change meaning when the code does).
CHAIN_FIELDS = [
    "seq",
    "id",
    "created_at",
    "actor_type",
    "actor_id",
    "user_id",
    "action",
    "target_type",
    "target_id",
    "details",
    "ip_address",
    "user_agent",
    "request_id",
]
LEAF_FIELDS = [name for name in CHAIN_FIELDS if name != "seq"]
CONTENT_COLUMNS = [*LEAF_FIELDS, "seq", "prev_hash", "row_hash"]

audit_logs = sa.table(
    "audit_logs",
    *(sa.column(name) for name in CONTENT_COLUMNS if name not in ("created_at", "details")),
    sa.column("created_at", UTC_TYPE),
    sa.column("details", JSON),
    sa.column("log_index", sa.BigInteger()),
    sa.column("leaf_hash", sa.String()),
    sa.column("sequenced_at", UTC_TYPE),
)
tree_nodes = sa.table("audit_tree_nodes", sa.column("level"), sa.column("idx"), sa.column("hash"))


def upgrade() -> None:
    op.create_table(
        "audit_signing_keys",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("sealed_private_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTC_TYPE, nullable=False),
        sa.Column("retired_at", UTC_TYPE, nullable=True),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_audit_signing_keys")),
    )
    op.create_table(
        "audit_tree_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_audit_tree_nodes")),
    )
    op.create_table(
        "audit_tree_heads",
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("created_at", UTC_TYPE, nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["audit_signing_keys.key_id"],
            name=op.f("fk_audit_tree_heads_key_id_audit_signing_keys"),
        ),
        sa.PrimaryKeyConstraint("tree_size", name=op.f("pk_audit_tree_heads")),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    if not postgres:  # the table is rebuilt below; its triggers go with it
        op.execute("DROP TRIGGER IF EXISTS audit_logs_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_logs_no_delete")
    with op.batch_alter_table("audit_logs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("log_index", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("leaf_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("sequenced_at", UTC_TYPE, nullable=True))
        batch_op.alter_column("seq", existing_type=sa.BigInteger(), nullable=True)
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=True)
        batch_op.alter_column("row_hash", existing_type=sa.String(length=64), nullable=True)
        batch_op.create_unique_constraint(batch_op.f("uq_audit_logs_log_index"), ["log_index"])
    op.create_index(
        "ix_audit_logs_unsequenced",
        "audit_logs",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("log_index IS NULL"),
        sqlite_where=sa.text("log_index IS NULL"),
    )
    if postgres:
        op.execute("ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_append_only")
    _sequence_chain()
    if postgres:
        op.execute("ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_append_only")
        _postgresql_guards()
    else:
        _sqlite_guards()


def _chain_digest(row: sa.Row[tuple[object, ...]]) -> str:
    canonical = {name: getattr(row, name) for name in CHAIN_FIELDS}
    canonical["created_at"] = row.created_at.isoformat(timespec="microseconds")
    return hashlib.sha256(
        row.prev_hash.encode() + orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)
    ).hexdigest()


def _leaf(row: sa.Row[tuple[object, ...]]) -> bytes:
    canonical = {name: getattr(row, name) for name in LEAF_FIELDS}
    canonical["created_at"] = row.created_at.isoformat(timespec="microseconds")
    return hashlib.sha256(b"\x00" + orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).digest()


def _sequence_chain() -> None:
    """Check the old chain once, then make its rows leaves 0, 1, 2 … in chain order."""
    bind = op.get_bind()
    rows = bind.execute(sa.select(audit_logs).order_by(audit_logs.c.seq)).all()
    expected_prev, expected_seq = GENESIS_HASH, 1
    stack: list[tuple[int, bytes]] = []
    now = datetime.now(UTC)
    marks, nodes = [], []
    for index, row in enumerate(rows):
        where = f"audit row seq={row.seq} id={row.id}"
        if row.seq != expected_seq:
            raise RuntimeError(f"audit chain BROKEN at {where}: row {expected_seq} is missing")
        if row.prev_hash != expected_prev or _chain_digest(row) != row.row_hash:
            raise RuntimeError(f"audit chain BROKEN at {where}: it was edited; not migrating")
        expected_prev, expected_seq = row.row_hash, row.seq + 1
        leaf = _leaf(row)
        marks.append({"row_id": row.id, "index": index, "leaf": leaf.hex(), "at": now})
        level, current = 0, leaf
        while stack and stack[-1][0] == level:
            current = hashlib.sha256(b"\x01" + stack.pop()[1] + current).digest()
            level += 1
            nodes.append({"level": level, "idx": index >> level, "hash": current.hex()})
        stack.append((level, current))
    if marks:
        bind.execute(
            sa.update(audit_logs)
            .where(audit_logs.c.id == sa.bindparam("row_id"))
            .values(
                log_index=sa.bindparam("index"),
                leaf_hash=sa.bindparam("leaf"),
                sequenced_at=sa.bindparam("at"),
            ),
            marks,
        )
    if nodes:
        bind.execute(sa.insert(tree_nodes), nodes)


def _unchanged(old: str, new: str) -> str:
    """SQL that is true when every content column of the two row versions is equal."""
    return " AND ".join(f"{new}.{name} IS {old}.{name}" for name in CONTENT_COLUMNS)


def _postgresql_guards() -> None:
    same = " AND ".join(f"NEW.{name} IS NOT DISTINCT FROM OLD.{name}" for name in CONTENT_COLUMNS)
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION audit_logs_append_only() RETURNS trigger AS $$
        BEGIN
            -- The sequencer's one write: a log index (and its leaf) for a row that had none.
            IF TG_OP = 'UPDATE' AND OLD.log_index IS NULL AND NEW.log_index IS NOT NULL
               AND {same} THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'insufficient_privilege';
        END
        $$ LANGUAGE plpgsql
        """
    )
    op.execute(
        """
        CREATE FUNCTION audit_tree_append_only() RETURNS trigger AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only', TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege';
        END
        $$ LANGUAGE plpgsql
        """
    )
    for table in ("audit_tree_nodes", "audit_tree_heads"):
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_tree_append_only()"
        )


def _sqlite_guards() -> None:
    op.execute(
        "CREATE TRIGGER audit_logs_no_update BEFORE UPDATE ON audit_logs "
        "WHEN NOT (OLD.log_index IS NULL AND NEW.log_index IS NOT NULL AND "
        f"{_unchanged('OLD', 'NEW')}) "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
    )
    op.execute(
        "CREATE TRIGGER audit_logs_no_delete BEFORE DELETE ON audit_logs "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
    )
    for table in ("audit_tree_nodes", "audit_tree_heads"):
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )


def downgrade() -> None:
    bind = op.get_bind()
    unchained = bind.scalar(
        sa.select(sa.func.count()).select_from(audit_logs).where(audit_logs.c.seq.is_(None))
    )
    if unchained:
        raise RuntimeError(
            f"{unchained} audit rows were written after the Merkle log and have no hash chain;"
            " downgrading would have to drop them"
        )
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        for table in ("audit_tree_nodes", "audit_tree_heads"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS audit_tree_append_only()")
        op.execute(
            f"""
            CREATE OR REPLACE FUNCTION audit_logs_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'insufficient_privilege';
            END
            $$ LANGUAGE plpgsql
            """
        )
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_logs_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_logs_no_delete")
    op.drop_index("ix_audit_logs_unsequenced", table_name="audit_logs")
    with op.batch_alter_table("audit_logs", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_logs_log_index"), type_="unique")
        batch_op.drop_column("sequenced_at")
        batch_op.drop_column("leaf_hash")
        batch_op.drop_column("log_index")
        batch_op.alter_column("seq", existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("row_hash", existing_type=sa.String(length=64), nullable=False)
    if not postgres:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_logs_no_{event.lower()} BEFORE {event} ON audit_logs "
                f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
            )
    op.drop_table("audit_tree_heads")
    op.drop_table("audit_tree_nodes")
    op.drop_table("audit_signing_keys")
