"""Issuer key helpers: generation, the RSASSA-PSS SPKI encoding, and private-key storage.

Public keys are published as a SubjectPublicKeyInfo carrying the id-RSASSA-PSS OID with
SHA-384/MGF1-SHA-384/salt 48 parameters (RFC 9578 §6.5, RFC 9474 §6.2: a blind-signing key must
not masquerade as a general rsaEncryption key). `cryptography` only *exports* rsaEncryption SPKIs,
so the DER is assembled here; it *loads* the PSS form natively.

Private keys at rest:

* database rows: PKCS#8 DER sealed with AES-256-GCM under a key-encryption key (KEK) derived by
  HKDF-SHA256 from the configured secret. Blob = version byte 0x01 || nonce(12) || ciphertext+tag.
  Callers should pass the key id as `associated_data`, so a sealed key cannot be moved to
  another row without decryption failing.
* PEM files (the `keygen` flow): PKCS#8 PEM, encrypted with `BestAvailableEncryption` when a
  password is given.
"""

from __future__ import annotations

import base64
import secrets
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

TOKEN_KEY_BITS: Final = 2048  # token type 0x0002 is "Blind RSA (2048-bit)"
PUBLIC_EXPONENT: Final = 65537

# AlgorithmIdentifier { id-RSASSA-PSS, RSASSA-PSS-params { [0] sha384, [1] mgf1(sha384), [2] 48 } }
# with all three parameters explicit, as RFC 9578 §6.5 requires. Fixed bytes: the parameters
# never vary for this token type.
_PSS_SHA384_ALGORITHM_ID: Final = bytes.fromhex(
    "303d06092a864886f70d01010a3030a00d300b0609608648016503040202"
    "a11a301806092a864886f70d010108300b0609608648016503040202a203020130"
)
_DER_SEQUENCE: Final = 0x30
_DER_BIT_STRING: Final = 0x03

_SEALED_KEY_VERSION: Final = b"\x01"
_GCM_NONCE_LEN: Final = 12
_KEK_LEN: Final = 32
_KEK_HKDF_INFO: Final = b"tessera/tokens/private-key-kek/v1"


class TokenKeyError(ValueError):
    """A key could not be loaded, unsealed, or is not acceptable for this token type."""


# --- generation --------------------------------------------------------------------------------


def generate_private_key(key_size: int = TOKEN_KEY_BITS) -> rsa.RSAPrivateKey:
    """A fresh RSA key with e = 65537 (OpenSSL's generator, FIPS 186-style primes)."""
    key = rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=key_size)
    if key.key_size != key_size:  # cf. blindrsa-ts #56: never trust the requested size blindly
        raise TokenKeyError(f"generated a {key.key_size}-bit key, wanted {key_size}")
    return key


def require_token_key(public_key: rsa.RSAPublicKey) -> None:
    """Refuse keys that are not 2048-bit with e = 65537 (what token type 0x0002 allows)."""
    numbers = public_key.public_numbers()
    if public_key.key_size != TOKEN_KEY_BITS or numbers.e != PUBLIC_EXPONENT:
        raise TokenKeyError("token keys must be 2048-bit RSA with e = 65537")


# --- public key encodings ----------------------------------------------------------------------


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


def _der(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(content)) + content


def public_key_spki_der(public_key: rsa.RSAPublicKey) -> bytes:
    """DER SPKI with the id-RSASSA-PSS OID: the `token-key` of the RFC 9578 issuer directory."""
    pkcs1 = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    bit_string = _der(_DER_BIT_STRING, b"\x00" + pkcs1)  # 0x00: no unused bits
    return _der(_DER_SEQUENCE, _PSS_SHA384_ALGORITHM_ID + bit_string)


def public_key_spki_pem(public_key: rsa.RSAPublicKey) -> str:
    """The PSS SPKI as a PEM "PUBLIC KEY" block."""
    body = base64.encodebytes(public_key_spki_der(public_key)).decode("ascii")
    return f"-----BEGIN PUBLIC KEY-----\n{body}-----END PUBLIC KEY-----\n"


def load_public_key(data: bytes) -> rsa.RSAPublicKey:
    """Load an RSA public key from a DER or PEM SPKI (PSS or rsaEncryption OID)."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(data)
        else:
            key = serialization.load_der_public_key(data)
    except ValueError as exc:
        raise TokenKeyError("not a valid public key") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise TokenKeyError("not an RSA public key")
    return key


def b64url_uint(value: int) -> str:
    """Unpadded base64url of a big-endian unsigned integer (the JWK convention, RFC 7518 §2)."""
    raw = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def public_key_n_b64url(public_key: rsa.RSAPublicKey) -> str:
    """The modulus n for `/keys/public`, unpadded base64url."""
    return b64url_uint(public_key.public_numbers().n)


def public_key_from_n_e(n_b64url: str, e: int = PUBLIC_EXPONENT) -> rsa.RSAPublicKey:
    """Rebuild a public key from `/keys/public` fields (padding in `n` is optional)."""
    raw = base64.urlsafe_b64decode(n_b64url + "=" * (-len(n_b64url) % 4))
    return rsa.RSAPublicNumbers(e, int.from_bytes(raw, "big")).public_key()


# --- private keys at rest ----------------------------------------------------------------------


def kek_from_secret(secret: str | bytes) -> bytes:
    """Derive the 32-byte AES key-encryption key from a configured high-entropy secret."""
    material = secret.encode("utf-8") if isinstance(secret, str) else secret
    if len(material) < 16:
        raise TokenKeyError("the key-encryption secret must be at least 16 bytes")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=_KEK_LEN, salt=None, info=_KEK_HKDF_INFO)
    return hkdf.derive(material)


def seal_private_key(
    private_key: rsa.RSAPrivateKey, kek: bytes, *, associated_data: bytes = b""
) -> bytes:
    """Encrypt a private key for storage: 0x01 || nonce || AES-256-GCM(PKCS#8 DER)."""
    der = private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    nonce = secrets.token_bytes(_GCM_NONCE_LEN)
    sealed = AESGCM(_check_kek(kek)).encrypt(nonce, der, _SEALED_KEY_VERSION + associated_data)
    return _SEALED_KEY_VERSION + nonce + sealed


def unseal_private_key(
    sealed: bytes, kek: bytes, *, associated_data: bytes = b""
) -> rsa.RSAPrivateKey:
    """Inverse of `seal_private_key`; `TokenKeyError` on a wrong KEK or context, or tampering."""
    version, nonce = sealed[:1], sealed[1 : 1 + _GCM_NONCE_LEN]
    if version != _SEALED_KEY_VERSION or len(nonce) != _GCM_NONCE_LEN:
        raise TokenKeyError("unknown sealed-key format")
    try:
        der = AESGCM(_check_kek(kek)).decrypt(
            nonce, sealed[1 + _GCM_NONCE_LEN :], version + associated_data
        )
    except InvalidTag:
        raise TokenKeyError(
            "cannot unseal private key (wrong KEK, wrong key id, or tampered)"
        ) from None
    return _as_rsa_private_key(serialization.load_der_private_key(der, password=None))


def private_key_to_pem(private_key: rsa.RSAPrivateKey, password: bytes | None = None) -> bytes:
    """PKCS#8 PEM for key files; encrypted with the best available scheme when `password` is set."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def load_private_key_pem(pem: bytes, password: bytes | None = None) -> rsa.RSAPrivateKey:
    """Load a PEM private key file written by `private_key_to_pem` (or any RSA PKCS#8/PKCS#1)."""
    try:
        key = serialization.load_pem_private_key(pem, password=password)
    except (ValueError, TypeError) as exc:  # TypeError: password missing or superfluous
        raise TokenKeyError("cannot load private key PEM") from exc
    return _as_rsa_private_key(key)


def _check_kek(kek: bytes) -> bytes:
    if len(kek) != _KEK_LEN:
        raise TokenKeyError("the key-encryption key must be 32 bytes (see kek_from_secret)")
    return kek


def _as_rsa_private_key(key: object) -> rsa.RSAPrivateKey:
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TokenKeyError("not an RSA private key")
    return key
