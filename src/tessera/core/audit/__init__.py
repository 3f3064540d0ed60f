"""Append-only, hash-chained audit log: one row per security- or money-relevant action,
written in the same transaction as the action."""

from tessera.core.audit.service import AuditTrail, record

__all__ = ["AuditTrail", "record"]
