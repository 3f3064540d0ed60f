"""The audit log's tables.

- `audit_logs`: one row per action, inserted by the action's own transaction with no log index
  (it reads and locks nothing). The sequencer later sets `log_index`, `leaf_hash` and
  `sequenced_at` once; a trigger refuses every other UPDATE and every DELETE.
- `audit_tree_nodes`: the Merkle tree's perfect subtrees above the leaves (RFC 9162 §2.1).
- `audit_tree_heads`: signed tree heads (size, root, timestamp, Ed25519 signature).
- `audit_signing_keys`: the tree-head keys; private halves sealed with the audit KEK.

Rows written before the log became a Merkle tree keep their hash chain (`seq`, `prev_hash`,
`row_hash`); the migration checked it once and sequenced them in chain order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, SmallInteger, String, text
from sqlalchemy.orm import Mapped, mapped_column

from tessera.core.db.base import Base, UUIDPrimaryKey, utcnow


class AuditLog(UUIDPrimaryKey, Base):
    __tablename__ = "audit_logs"
    __table_args__ = (
        Index("ix_audit_logs_actor_id_created_at", "actor_id", "created_at"),
        Index("ix_audit_logs_action_created_at", "action", "created_at"),
        # What the sequencer scans: only the rows still waiting, however large the log grows.
        Index(
            "ix_audit_logs_unsequenced",
            "created_at",
            postgresql_where=text("log_index IS NULL"),
            sqlite_where=text("log_index IS NULL"),
        ),
    )

    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_type: Mapped[str] = mapped_column(String(20))  # user | api_key | system | anonymous
    actor_id: Mapped[str | None] = mapped_column(String(36))
    user_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("users.id"), index=True
    )  # the account the action concerns (for per-user filters)
    action: Mapped[str] = mapped_column(String(100))  # noun.verb
    target_type: Mapped[str | None] = mapped_column(String(50))
    target_id: Mapped[str | None] = mapped_column(String(255))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ip_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    request_id: Mapped[str | None] = mapped_column(String(128))
    # Set once by the sequencer: the row's place in the log and SHA-256(0x00 ‖ leaf data).
    log_index: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    leaf_hash: Mapped[str | None] = mapped_column(String(64))
    sequenced_at: Mapped[datetime | None] = mapped_column()
    # The hash chain of rows written before the Merkle log (NULL for newer rows).
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    row_hash: Mapped[str | None] = mapped_column(String(64))


class AuditTreeNode(Base):
    """Node `(level, idx)` = MTH of leaves [idx·2^level, (idx+1)·2^level); level ≥ 1."""

    __tablename__ = "audit_tree_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))


class AuditTreeHead(Base):
    """A signed tree head: the signature covers RFC 9162's TreeHeadDataV2 encoding."""

    __tablename__ = "audit_tree_heads"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[str] = mapped_column(String(64))
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    key_id: Mapped[str] = mapped_column(String(64), ForeignKey("audit_signing_keys.key_id"))
    signature: Mapped[str] = mapped_column(String(128))  # hex Ed25519 signature
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditSigningKey(Base):
    """`key_id` = hex SHA-256 of the raw 32-byte public key."""

    __tablename__ = "audit_signing_keys"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_key: Mapped[str] = mapped_column(String(64))  # hex raw Ed25519 public key
    sealed_private_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column()
