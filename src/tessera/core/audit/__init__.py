"""Append-only audit log: one row per security- or money-relevant action, written in the same
transaction as the action, then sequenced into a signed Merkle log (RFC 9162)."""

from tessera.core.audit.repository import append_statement
from tessera.core.audit.service import AuditTrail, audit_values, record

__all__ = ["AuditTrail", "append_statement", "audit_values", "record"]
