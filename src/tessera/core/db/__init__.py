"""Database access: metadata, engines for SQLite and PostgreSQL, sessions, repositories."""

from tessera.core.db.base import Base, TimestampMixin, UTCDateTime, UUIDPrimaryKey, new_uuid
from tessera.core.db.engine import Database, insert_for
from tessera.core.db.session import DbSession

__all__ = [
    "Base",
    "Database",
    "DbSession",
    "TimestampMixin",
    "UTCDateTime",
    "UUIDPrimaryKey",
    "insert_for",
    "new_uuid",
]
