"""Spent-token Bloom filter, scheme `sha256-km-v1` (tests/vectors/bloom_proposal.json).

Elements are 32-byte spent keys (`formats.spent_key`). For an element x, with the filter's
16-byte random salt:

    d       = SHA-256("token-issuer/bloom/v1" || salt || x)
    h1      = uint64_be(d[0:8]);  h2 = uint64_be(d[8:16]) | 1
    index_i = ((h1 mod m) + i * (h2 mod m)) mod m        for i in 0 .. k-1

(Kirsch-Mitzenmacher double hashing; reducing h1, h2 first keeps every intermediate below 2^64
for m <= 2^32, k <= 64, which spares other-language clients big integers.) Bit j lives in bit
(j & 7) of byte (j >> 3), LSB first, as in BIP 37.

Sizing for n elements at false-positive rate p: m = ceil(-n ln p / (ln 2)^2) rounded up to a
multiple of 8, k = round((m / n) ln 2). A Bloom filter has no false negatives; a false positive
only makes an offline validator refuse an unspent token, never accept a spent one.

JSON (GET /v1/bloom): {version, generated_at, valid_until, n, m, k, p, hash, salt, bits} with
salt in hex, bits in standard padded base64, times as ISO 8601 UTC ("...Z"), n = elements added
and p = the false-positive rate the filter was sized for.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Self, TypeVar

BLOOM_HASH: Final = "sha256-km-v1"
DIGEST_TAG: Final = b"token-issuer/bloom/v1"
SALT_LEN: Final = 16
ELEMENT_LEN: Final = 32
MAX_M: Final = 2**32
MAX_K: Final = 64
_U64: Final = slice(0, 8), slice(8, 16)
_T = TypeVar("_T")


class BloomFormatError(ValueError):
    """Parameters or a JSON document that do not describe a valid `sha256-km-v1` filter."""


def bloom_parameters(n: int, p: float) -> tuple[int, int]:
    """(m, k) for n elements at false-positive rate p; n < 1 is sized as 1."""
    if not 0.0 < p < 1.0:
        raise BloomFormatError("false-positive rate p must be in (0, 1)")
    n = max(n, 1)
    m_exact = math.ceil(-n * math.log(p) / math.log(2) ** 2)
    m = max(8, -(-m_exact // 8) * 8)
    # floor(x + 0.5), not round(): Python's round() is half-to-even; other languages differ.
    k = math.floor(m / n * math.log(2) + 0.5)
    if m > MAX_M:
        raise BloomFormatError("filter would exceed 2^32 bits; split it (e.g. per key epoch)")
    return m, min(max(k, 1), MAX_K)


class BloomFilter:
    """A mutable `sha256-km-v1` Bloom filter over 32-byte elements."""

    __slots__ = ("_bits", "count", "k", "m", "salt")

    def __init__(self, m: int, k: int, salt: bytes, bits: bytes | None = None, count: int = 0):
        if m % 8 or not 8 <= m <= MAX_M:
            raise BloomFormatError("m must be a multiple of 8 in [8, 2^32]")
        if not 1 <= k <= MAX_K:
            raise BloomFormatError("k must be in [1, 64]")
        if len(salt) != SALT_LEN:
            raise BloomFormatError(f"salt must be {SALT_LEN} bytes")
        if bits is not None and len(bits) != m // 8:
            raise BloomFormatError(f"bit array must be m/8 = {m // 8} bytes")
        self.m, self.k, self.salt, self.count = m, k, salt, count
        self._bits = bytearray(bits) if bits is not None else bytearray(m // 8)

    @classmethod
    def sized_for(cls, n: int, p: float, *, salt: bytes | None = None) -> Self:
        """An empty filter for n elements at rate p, with a fresh random salt unless given."""
        m, k = bloom_parameters(n, p)
        return cls(m, k, secrets.token_bytes(SALT_LEN) if salt is None else salt)

    def indices(self, element: bytes) -> list[int]:
        """The k bit positions of `element`."""
        if len(element) != ELEMENT_LEN:
            raise BloomFormatError(f"elements are {ELEMENT_LEN}-byte spent keys")
        digest = hashlib.sha256(DIGEST_TAG + self.salt + element).digest()
        h1, h2 = (int.from_bytes(digest[part], "big") for part in _U64)
        h1, h2 = h1 % self.m, (h2 | 1) % self.m
        return [(h1 + i * h2) % self.m for i in range(self.k)]

    def add(self, element: bytes) -> None:
        for j in self.indices(element):
            self._bits[j >> 3] |= 1 << (j & 7)
        self.count += 1

    def update(self, elements: Iterable[bytes]) -> None:
        for element in elements:
            self.add(element)

    def __contains__(self, element: object) -> bool:
        if not isinstance(element, bytes):
            return False
        return all(self._bits[j >> 3] >> (j & 7) & 1 for j in self.indices(element))

    def union(self, other: BloomFilter) -> BloomFilter:
        """Bitwise OR of two filters with the same m, k and salt; `count` becomes an upper bound."""
        if (self.m, self.k, self.salt) != (other.m, other.k, other.salt):
            raise BloomFormatError("only filters with the same m, k and salt can be merged")
        merged = bytes(a | b for a, b in zip(self._bits, other._bits, strict=True))
        return BloomFilter(self.m, self.k, self.salt, merged, self.count + other.count)

    def to_bytes(self) -> bytes:
        """The raw bit array, m/8 bytes."""
        return bytes(self._bits)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BloomFilter):
            return NotImplemented
        return (self.m, self.k, self.salt, self._bits) == (
            other.m,
            other.k,
            other.salt,
            other._bits,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"BloomFilter(m={self.m}, k={self.k}, count={self.count})"


@dataclass(frozen=True, slots=True)
class BloomSnapshot:
    """A published filter with its envelope: the JSON document of GET /v1/bloom."""

    filter: BloomFilter
    version: int  # the issuer's snapshot counter, increases with every rebuild
    generated_at: datetime
    valid_until: datetime  # offline validators stop trusting the filter after this
    p: float  # the false-positive rate the filter was sized for

    def is_current(self, now: datetime) -> bool:
        return now < self.valid_until

    def to_json(self) -> dict[str, object]:
        return {
            "version": self.version,
            "generated_at": _iso_utc(self.generated_at),
            "valid_until": _iso_utc(self.valid_until),
            "n": self.filter.count,
            "m": self.filter.m,
            "k": self.filter.k,
            "p": self.p,
            "hash": BLOOM_HASH,
            "salt": self.filter.salt.hex(),
            "bits": base64.b64encode(self.filter.to_bytes()).decode("ascii"),
        }

    @classmethod
    def from_json(cls, document: Mapping[str, object]) -> Self:
        """Parse and validate a downloaded filter; raises `BloomFormatError` on anything odd."""
        if document.get("hash") != BLOOM_HASH:
            raise BloomFormatError(f"unsupported filter hash {document.get('hash')!r}")
        try:
            salt = bytes.fromhex(_field(document, "salt", str))
            bits = base64.b64decode(_field(document, "bits", str), validate=True)
            generated_at = datetime.fromisoformat(_field(document, "generated_at", str))
            valid_until = datetime.fromisoformat(_field(document, "valid_until", str))
            if generated_at.tzinfo is None or valid_until.tzinfo is None:
                raise ValueError("timestamps must carry a UTC offset")
        except (ValueError, binascii.Error) as exc:
            raise BloomFormatError(f"malformed filter document: {exc}") from None
        bloom = BloomFilter(
            _field(document, "m", int),
            _field(document, "k", int),
            salt,
            bits,
            _field(document, "n", int),
        )
        p = _field(document, "p", float)
        return cls(bloom, _field(document, "version", int), generated_at, valid_until, p)


def _field(document: Mapping[str, object], name: str, kind: type[_T]) -> _T:
    value = document.get(name)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BloomFormatError(f"filter field {name!r} must be {kind.__name__}")
    return value


def _iso_utc(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise BloomFormatError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
