"""Append-only, hash-chained audit log: one row per security- or money-relevant action,
written in the same transaction as the action."""

from tessera.core.audit.service import AuditTrail, lock_chain, record

__all__ = ["AuditTrail", "lock_chain", "record"]
