"""The tree-head signing key: Ed25519, its private half sealed at rest like the token keys.

Sealed blob = version 0x01 ‖ nonce(12) ‖ AES-256-GCM(raw 32-byte private key), the key id as
associated data, under a KEK derived by HKDF-SHA256 from TESSERA_AUDIT_KEK (required in
production; development and tests derive one from the JWT secret so a fresh checkout works).

The signature covers RFC 9162 §4.10's TreeHeadDataV2 in TLS encoding, so an outside auditor
checks it with nothing but an Ed25519 library:

    uint64 timestamp (ms) ‖ uint64 tree_size ‖ uint8 len(root) ‖ root ‖ uint16 0 (no extensions)
"""

from __future__ import annotations

import hashlib
import secrets
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tessera.core.config import InsecureSettings, Settings

_VERSION = b"\x01"
_NONCE_LEN = 12
_KEK_INFO = b"tessera/audit/tree-head-key-kek/v1"
_DEV_PREFIX = "tessera-dev-audit-kek:"
MIN_KEK_BYTES = 32


class AuditKeyError(ValueError):
    """The signing key cannot be unsealed (wrong KEK, moved row, tampering)."""


def kek_of(settings: Settings) -> bytes:
    configured = settings.audit_kek.get_secret_value() if settings.audit_kek else ""
    if not configured:
        if settings.is_production:
            raise InsecureSettings("TESSERA_AUDIT_KEK is required in production")
        configured = _DEV_PREFIX + settings.jwt_secret()
    elif settings.is_production and len(configured.encode()) < MIN_KEK_BYTES:
        raise InsecureSettings(f"TESSERA_AUDIT_KEK must be at least {MIN_KEK_BYTES} bytes")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEK_INFO)
    return hkdf.derive(configured.encode())


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_of(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()


@dataclass(frozen=True)
class NewKey:
    key_id: str
    public_key: str  # hex
    sealed: bytes


def generate(kek: bytes) -> NewKey:
    private = Ed25519PrivateKey.generate()
    public_raw = raw_public(private.public_key())
    key_id = key_id_of(public_raw)
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    nonce = secrets.token_bytes(_NONCE_LEN)
    sealed = AESGCM(kek).encrypt(nonce, raw, _VERSION + key_id.encode())
    return NewKey(key_id, public_raw.hex(), _VERSION + nonce + sealed)


def unseal(sealed: bytes, kek: bytes, key_id: str) -> Ed25519PrivateKey:
    version, nonce = sealed[:1], sealed[1 : 1 + _NONCE_LEN]
    if version != _VERSION or len(nonce) != _NONCE_LEN:
        raise AuditKeyError("unknown sealed-key format")
    try:
        raw = AESGCM(kek).decrypt(nonce, sealed[1 + _NONCE_LEN :], version + key_id.encode())
    except InvalidTag:
        raise AuditKeyError(
            "cannot unseal the audit signing key (wrong TESSERA_AUDIT_KEK, or tampered)"
        ) from None
    private = Ed25519PrivateKey.from_private_bytes(raw)
    if key_id_of(raw_public(private.public_key())) != key_id:
        raise AuditKeyError("the sealed key does not match its key id")
    return private


def tree_head_data(tree_size: int, timestamp_ms: int, root: bytes) -> bytes:
    """TreeHeadDataV2 (RFC 9162 §4.10), TLS presentation: what the signature covers."""
    return struct.pack(">QQB", timestamp_ms, tree_size, len(root)) + root + b"\x00\x00"


def verify_signature(public_hex: str, signature_hex: str, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex)).verify(
            bytes.fromhex(signature_hex), message
        )
    except (InvalidSignature, ValueError):
        return False
    return True
