"""RSA blind signatures (RFC 9474), all four RSABSSA-SHA384 variants.

Pure functions over `cryptography` key objects: no I/O, no database, no framework.

The protocol, one round:

    client:  input_msg = prepare(msg, variant)
             blinding = blind(public_key, input_msg, variant)      # send blinding.blinded_msg
    server:  blind_sig = blind_sign(private_key, blinded_msg)
    client:  sig = finalize(public_key, input_msg, blind_sig, blinding.inv, variant)
    anyone:  verify(public_key, input_msg, sig, variant)

Two deliberate readings of the RFC, both forced by its own test vectors:

* EMSA-PSS is encoded with emBits = bit_len(n) - 1, as RSASSA-PSS (RFC 8017) does; RFC 9474 §4.2
  literally writes bit_len(n), which breaks three of the four Appendix A vectors.
* The salt length is enforced exactly on verification (never "auto"), so a PSSZERO signature cannot
  be passed off with a salt, and signatures whose integer value is >= n are rejected: accepting
  `s + n` would give one token two encodings.

Randomness (msg_prefix, salt, blinding factor r) comes from `secrets`. The keyword arguments that
inject it exist for the published test vectors only; RFC 9474 §7.4 warns that caller-chosen
randomness is a covert channel, so production code must not pass them.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass, field
from typing import Final

import gmpy2
from cryptography.exceptions import InvalidSignature as _CryptographyInvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

HASH_LEN: Final = 48  # SHA-384
MSG_PREFIX_LEN: Final = 32  # PrepareRandomize (RFC 9474 §4.1)
_PSS_TRAILER: Final = b"\xbc"
_PSS_M_PRIME_PADDING: Final = b"\x00" * 8


class BlindRSAError(ValueError):
    """Base class of every error raised by the blind RSA protocol."""


class InvalidInput(BlindRSAError):
    """An input has the wrong size or is out of range ("unexpected input size", "invalid input")."""


class MessageTooLong(BlindRSAError):
    """The modulus is too small to PSS-encode the message with this salt ("encoding error")."""


class SigningFailure(BlindRSAError):
    """The private operation produced a wrong result (fault detected); nothing was returned."""


class InvalidSignature(BlindRSAError):
    """The signature does not verify for this key, message and variant."""


@dataclass(frozen=True, slots=True)
class Variant:
    """One RSABSSA-SHA384 variant of RFC 9474 §5 (hash and MGF are SHA-384 in all of them)."""

    name: str
    salt_len: int
    randomized: bool


PSS_RANDOMIZED: Final = Variant("RSABSSA-SHA384-PSS-Randomized", HASH_LEN, randomized=True)
PSSZERO_RANDOMIZED: Final = Variant("RSABSSA-SHA384-PSSZERO-Randomized", 0, randomized=True)
PSS_DETERMINISTIC: Final = Variant("RSABSSA-SHA384-PSS-Deterministic", HASH_LEN, randomized=False)
PSSZERO_DETERMINISTIC: Final = Variant("RSABSSA-SHA384-PSSZERO-Deterministic", 0, randomized=False)
VARIANTS: Final = {
    v.name: v
    for v in (PSS_RANDOMIZED, PSSZERO_RANDOMIZED, PSS_DETERMINISTIC, PSSZERO_DETERMINISTIC)
}


@dataclass(frozen=True, slots=True)
class Blinding:
    """What `blind` returns: the message to send, and the secret inverse the client keeps."""

    blinded_msg: bytes
    inv: int = field(repr=False)  # r^-1 mod n; revealing it links the token to this request


# --- integer/octet-string conversions (RFC 8017 §4) -------------------------------------------


def modulus_len(public_key: rsa.RSAPublicKey) -> int:
    """Length in bytes of the modulus: the size of every blinded message and signature."""
    return (public_key.key_size + 7) // 8


def _os2ip(octets: bytes) -> int:
    return int.from_bytes(octets, "big")


def _i2osp(value: int, length: int) -> bytes:
    return value.to_bytes(length, "big")


# --- EMSA-PSS encoding (RFC 8017 §9.1.1) -------------------------------------------------------


def _mgf1_sha384(seed: bytes, mask_len: int) -> bytes:
    blocks = (
        hashlib.sha384(seed + counter.to_bytes(4, "big")).digest()
        for counter in range(math.ceil(mask_len / HASH_LEN))
    )
    return b"".join(blocks)[:mask_len]


def emsa_pss_encode(message: bytes, em_bits: int, salt: bytes) -> bytes:
    """EMSA-PSS-ENCODE with SHA-384 and MGF1-SHA-384; `em_bits` is bit_len(n) - 1 for RSA keys."""
    em_len = math.ceil(em_bits / 8)
    if em_len < HASH_LEN + len(salt) + 2:
        raise MessageTooLong("modulus too small for a SHA-384 PSS encoding with this salt")
    m_hash = hashlib.sha384(message).digest()
    h = hashlib.sha384(_PSS_M_PRIME_PADDING + m_hash + salt).digest()
    padding_string = b"\x00" * (em_len - len(salt) - HASH_LEN - 2)
    db = padding_string + b"\x01" + salt
    masked_db = bytearray(a ^ b for a, b in zip(db, _mgf1_sha384(h, len(db)), strict=True))
    masked_db[0] &= 0xFF >> (8 * em_len - em_bits)  # so the encoded integer stays below n
    return bytes(masked_db) + h + _PSS_TRAILER


# --- the protocol ------------------------------------------------------------------------------


def prepare(msg: bytes, variant: Variant, *, msg_prefix: bytes | None = None) -> bytes:
    """Prepare (RFC 9474 §4.1): identity, or a random 32-byte prefix for Randomized variants.

    The result (`input_msg`) is what gets blinded, finalized and verified.
    """
    if not variant.randomized:
        return msg
    if msg_prefix is None:
        msg_prefix = secrets.token_bytes(MSG_PREFIX_LEN)
    if len(msg_prefix) != MSG_PREFIX_LEN:
        raise InvalidInput(f"msg_prefix must be {MSG_PREFIX_LEN} bytes")
    return msg_prefix + msg


def blind(
    public_key: rsa.RSAPublicKey,
    input_msg: bytes,
    variant: Variant,
    *,
    salt: bytes | None = None,
    blinding_factor: int | None = None,
) -> Blinding:
    """Blind (RFC 9474 §4.2): PSS-encode `input_msg` and multiply it by r^e mod n.

    `salt` and `blinding_factor` (r) are for reproducing test vectors only; see the module doc.
    """
    n, e = _public_numbers(public_key)
    if salt is None:
        salt = secrets.token_bytes(variant.salt_len)
    if len(salt) != variant.salt_len:
        raise InvalidInput(f"{variant.name} needs a salt of {variant.salt_len} bytes")
    encoded_msg = emsa_pss_encode(input_msg, public_key.key_size - 1, salt)
    m = _os2ip(encoded_msg)
    if math.gcd(m, n) != 1:
        raise InvalidInput("encoded message shares a factor with the modulus")
    r, inv = _blinding_pair(n, blinding_factor)
    z = m * pow(r, e, n) % n
    return Blinding(_i2osp(z, modulus_len(public_key)), inv)


def blind_sign(private_key: rsa.RSAPrivateKey, blinded_msg: bytes) -> bytes:
    """BlindSign (RFC 9474 §4.3): the raw RSA private operation on a client-chosen value.

    This is a private-key oracle, so it (1) accepts only modulus_len bytes encoding 0 < m < n,
    (2) runs the exponentiation blinded and with gmpy2's constant-time powmod, and (3) checks
    s^e mod n == m before answering, so a faulty computation (Bellcore attack on CRT) never leaks.
    """
    numbers = private_key.private_numbers()
    n, e = numbers.public_numbers.n, numbers.public_numbers.e
    if len(blinded_msg) != modulus_len(private_key.public_key()):
        raise InvalidInput("blinded message must be exactly modulus_len bytes")
    m = _os2ip(blinded_msg)
    if not 0 < m < n:
        raise InvalidInput("blinded message representative out of range")
    s = _blinded_private_op(numbers, m)
    if pow(s, e, n) != m:
        raise SigningFailure("RSA private operation failed its self-check")
    return _i2osp(s, len(blinded_msg))


def finalize(
    public_key: rsa.RSAPublicKey,
    input_msg: bytes,
    blind_sig: bytes,
    inv: int,
    variant: Variant,
) -> bytes:
    """Finalize (RFC 9474 §4.4): unblind with `inv`, then verify the result before returning it."""
    n, _ = _public_numbers(public_key)
    if len(blind_sig) != modulus_len(public_key):
        raise InvalidInput("blind signature must be exactly modulus_len bytes")
    z = _os2ip(blind_sig)
    if z >= n:
        raise InvalidSignature("blind signature representative out of range")
    sig = _i2osp(z * inv % n, len(blind_sig))
    verify(public_key, input_msg, sig, variant)
    return sig


def verify(public_key: rsa.RSAPublicKey, input_msg: bytes, sig: bytes, variant: Variant) -> None:
    """Verify (RFC 9474 §4.5): strict RSASSA-PSS-VERIFY; raises `InvalidSignature` on failure.

    For Randomized variants `input_msg` is the prepared message (msg_prefix || msg).
    """
    n, _ = _public_numbers(public_key)
    if len(sig) != modulus_len(public_key) or _os2ip(sig) >= n:
        raise InvalidSignature("signature has the wrong size or is not canonical (>= n)")
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=variant.salt_len)
    try:
        public_key.verify(sig, input_msg, pss, hashes.SHA384())
    except _CryptographyInvalidSignature:
        raise InvalidSignature("signature does not verify") from None


def is_valid(public_key: rsa.RSAPublicKey, input_msg: bytes, sig: bytes, variant: Variant) -> bool:
    """`verify` as a predicate."""
    try:
        verify(public_key, input_msg, sig, variant)
    except InvalidSignature:
        return False
    return True


# --- helpers -----------------------------------------------------------------------------------


def _public_numbers(public_key: rsa.RSAPublicKey) -> tuple[int, int]:
    numbers = public_key.public_numbers()
    return numbers.n, numbers.e


def _random_unit(n: int) -> tuple[int, int]:
    """A uniform r in [1, n) together with r^-1 mod n (retrying the negligible non-units)."""
    while True:
        r = secrets.randbelow(n - 1) + 1
        if math.gcd(r, n) == 1:
            return r, pow(r, -1, n)


def _blinding_pair(n: int, blinding_factor: int | None) -> tuple[int, int]:
    if blinding_factor is None:
        return _random_unit(n)
    if not 0 < blinding_factor < n or math.gcd(blinding_factor, n) != 1:
        raise InvalidInput("blinding factor must be a unit modulo n")
    return blinding_factor, pow(blinding_factor, -1, n)


def _blinded_private_op(numbers: rsa.RSAPrivateNumbers, m: int) -> int:
    """m^d mod n with RSA base blinding: the exponentiation only ever sees m * u^e, u random.

    Blinding hides m from timing of the CRT recombination (plain Python ints); the two half-size
    exponentiations additionally run in gmpy2's constant-time `powmod_sec`.
    """
    n, e = numbers.public_numbers.n, numbers.public_numbers.e
    u, u_inv = _random_unit(n)
    s_blinded = _rsasp1_crt(numbers, m * pow(u, e, n) % n)
    return s_blinded * u_inv % n


def _rsasp1_crt(numbers: rsa.RSAPrivateNumbers, c: int) -> int:
    """RSASP1 via the Chinese remainder theorem (RFC 8017 §5.2.1, case 2.b)."""
    s_p = int(gmpy2.powmod_sec(c % numbers.p, numbers.dmp1, numbers.p))
    s_q = int(gmpy2.powmod_sec(c % numbers.q, numbers.dmq1, numbers.q))
    h = (s_p - s_q) * numbers.iqmp % numbers.p
    return s_q + numbers.q * h
