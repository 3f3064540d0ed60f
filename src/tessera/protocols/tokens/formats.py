"""Privacy Pass wire formats for token type 0x0002 (RFC 9578 §6, RFC 9577 §2.1), and the spent key.

    TokenChallenge = token_type(2) || u16-len issuer_name || u8-len redemption_context(0|32)
                     || u16-len origin_info
    token_input    = token_type(2) || nonce(32) || SHA-256(TokenChallenge)(32) || token_key_id(32)
    TokenRequest   = token_type(2) || truncated_token_key_id(1) || blinded_msg(256)
    TokenResponse  = blind_sig(256)
    Token          = token_input(98) || authenticator(256)

All integers are big-endian. Decoders are strict: exact lengths, the expected token type, no
trailing bytes; any violation raises `FormatError` (HTTP 422 at the issuer, "invalid" at redeem).

The signed message is token_input under RSABSSA-SHA384-PSS-Deterministic, which is safe for a
deterministic variant only because token_input carries a 32-byte client-random nonce.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final, Self

from cryptography.hazmat.primitives.asymmetric import rsa

from tessera.protocols.tokens import crypto
from tessera.protocols.tokens.keys import public_key_spki_der

TOKEN_TYPE_BLIND_RSA: Final = 0x0002
VARIANT: Final = crypto.PSS_DETERMINISTIC  # the RFC 9474 variant token type 0x0002 uses
NONCE_LEN: Final = 32
CHALLENGE_DIGEST_LEN: Final = 32
TOKEN_KEY_ID_LEN: Final = 32
NK: Final = 256  # modulus length of a 2048-bit key: blinded_msg, blind_sig, authenticator
TOKEN_INPUT_LEN: Final = 2 + NONCE_LEN + CHALLENGE_DIGEST_LEN + TOKEN_KEY_ID_LEN  # 98
TOKEN_LEN: Final = TOKEN_INPUT_LEN + NK  # 354
TOKEN_REQUEST_LEN: Final = 2 + 1 + NK  # 259
REDEMPTION_CONTEXT_LENS: Final = (0, 32)
SPENT_KEY_DOMAIN: Final = b"tessera-spent-v1"


class FormatError(ValueError):
    """Bytes that do not parse as the expected structure."""


class _Reader:
    """Sequential big-endian reader that turns every short read into a `FormatError`."""

    def __init__(self, data: bytes, what: str) -> None:
        self._data, self._pos, self._what = data, 0, what

    def take(self, length: int) -> bytes:
        chunk = self._data[self._pos : self._pos + length]
        if len(chunk) != length:
            raise FormatError(f"{self._what}: truncated")
        self._pos += length
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def token_type(self, expected: int = TOKEN_TYPE_BLIND_RSA) -> int:
        token_type = self.u16()
        if token_type != expected:
            raise FormatError(f"{self._what}: token type {token_type:#06x}, want {expected:#06x}")
        return token_type

    def finish(self) -> None:
        if self._pos != len(self._data):
            raise FormatError(f"{self._what}: {len(self._data) - self._pos} trailing bytes")


def _u16(value: int) -> bytes:
    return value.to_bytes(2, "big")


def _require_len(value: bytes, length: int, what: str) -> None:
    if len(value) != length:
        raise FormatError(f"{what} must be {length} bytes, got {len(value)}")


# --- key ids -----------------------------------------------------------------------------------


def token_key_id(public_key: rsa.RSAPublicKey) -> bytes:
    """SHA-256 of the id-RSASSA-PSS SPKI (RFC 9578 §6.5): the full 32-byte key id."""
    return hashlib.sha256(public_key_spki_der(public_key)).digest()


def truncated_token_key_id(key_id: bytes) -> int:
    """The least significant (last) byte of the key id, the only part a TokenRequest carries."""
    _require_len(key_id, TOKEN_KEY_ID_LEN, "token_key_id")
    return key_id[-1]


# --- TokenChallenge ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenChallenge:
    """What an origin asks a token for (RFC 9577 §2.1); names are ASCII host[:port] strings."""

    issuer_name: str
    redemption_context: bytes = b""
    origin_info: str = ""  # empty: any origin; else comma-separated names
    token_type: int = TOKEN_TYPE_BLIND_RSA

    def encode(self) -> bytes:
        issuer, origins = self.issuer_name.encode("ascii"), self.origin_info.encode("ascii")
        if not 0 < len(issuer) < 2**16 or len(origins) >= 2**16:
            raise FormatError("issuer_name must be 1..65535 bytes, origin_info at most 65535")
        if len(self.redemption_context) not in REDEMPTION_CONTEXT_LENS:
            raise FormatError("redemption_context must be 0 or 32 bytes")
        return b"".join(
            (
                _u16(self.token_type),
                _u16(len(issuer)) + issuer,
                bytes([len(self.redemption_context)]) + self.redemption_context,
                _u16(len(origins)) + origins,
            )
        )

    @classmethod
    def decode(cls, data: bytes) -> Self:
        reader = _Reader(data, "TokenChallenge")
        token_type = reader.u16()
        issuer = reader.take(reader.u16())
        context = reader.take(reader.u8())
        origins = reader.take(reader.u16())
        reader.finish()
        if not issuer or len(context) not in REDEMPTION_CONTEXT_LENS:
            raise FormatError("TokenChallenge: empty issuer_name or bad redemption_context size")
        try:
            return cls(issuer.decode("ascii"), context, origins.decode("ascii"), token_type)
        except UnicodeDecodeError:
            raise FormatError("TokenChallenge: names must be ASCII") from None

    def digest(self) -> bytes:
        """challenge_digest = SHA-256(TokenChallenge)."""
        return hashlib.sha256(self.encode()).digest()


# --- token_input and Token ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenInput:
    """The 98-byte message the issuer blindly signs (RFC 9578 §6.1 `token_input`)."""

    nonce: bytes
    challenge_digest: bytes
    token_key_id: bytes

    def __post_init__(self) -> None:
        _require_len(self.nonce, NONCE_LEN, "nonce")
        _require_len(self.challenge_digest, CHALLENGE_DIGEST_LEN, "challenge_digest")
        _require_len(self.token_key_id, TOKEN_KEY_ID_LEN, "token_key_id")

    def encode(self) -> bytes:
        return _u16(TOKEN_TYPE_BLIND_RSA) + self.nonce + self.challenge_digest + self.token_key_id

    @classmethod
    def decode(cls, data: bytes) -> Self:
        reader = _Reader(data, "token_input")
        reader.token_type()
        parsed = cls(
            reader.take(NONCE_LEN), reader.take(CHALLENGE_DIGEST_LEN), reader.take(TOKEN_KEY_ID_LEN)
        )
        reader.finish()
        return parsed


@dataclass(frozen=True, slots=True)
class Token:
    """A finished token (RFC 9578 §6.3): token_input plus the RSA authenticator."""

    token_input: TokenInput
    authenticator: bytes

    def __post_init__(self) -> None:
        _require_len(self.authenticator, NK, "authenticator")

    def encode(self) -> bytes:
        return self.token_input.encode() + self.authenticator

    @classmethod
    def decode(cls, data: bytes) -> Self:
        _require_len(data, TOKEN_LEN, "Token")
        return cls(TokenInput.decode(data[:TOKEN_INPUT_LEN]), data[TOKEN_INPUT_LEN:])


# --- issuance messages -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """Client → issuer (RFC 9578 §6.1), media type application/private-token-request."""

    truncated_token_key_id: int
    blinded_msg: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.truncated_token_key_id <= 0xFF:
            raise FormatError("truncated_token_key_id is one byte")
        _require_len(self.blinded_msg, NK, "blinded_msg")

    def encode(self) -> bytes:
        return _u16(TOKEN_TYPE_BLIND_RSA) + bytes([self.truncated_token_key_id]) + self.blinded_msg

    @classmethod
    def decode(cls, data: bytes) -> Self:
        reader = _Reader(data, "TokenRequest")
        reader.token_type()
        parsed = cls(reader.u8(), reader.take(NK))
        reader.finish()
        return parsed


@dataclass(frozen=True, slots=True)
class TokenResponse:
    """Issuer → client (RFC 9578 §6.2), media type application/private-token-response."""

    blind_sig: bytes

    def __post_init__(self) -> None:
        _require_len(self.blind_sig, NK, "blind_sig")

    def encode(self) -> bytes:
        return self.blind_sig

    @classmethod
    def decode(cls, data: bytes) -> Self:
        return cls(data)


# --- issuer and verifier operations ------------------------------------------------------------


def sign_token_request(private_key: rsa.RSAPrivateKey, request: TokenRequest) -> TokenResponse:
    """Issuer side of §6.2: the request must name this key; BlindSign checks length and range.

    Raises `FormatError` for a key mismatch and `crypto.InvalidInput` for a blinded_msg >= n.
    """
    key_id = token_key_id(private_key.public_key())
    if request.truncated_token_key_id != truncated_token_key_id(key_id):
        raise FormatError("TokenRequest names another key")
    return TokenResponse(crypto.blind_sign(private_key, request.blinded_msg))


def verify_token(public_key: rsa.RSAPublicKey, token_input: bytes, authenticator: bytes) -> None:
    """Verifier side of §6.4: structure, key id (no key substitution), then strict PSS verify.

    Raises `FormatError` for malformed input or a token made for another key, and
    `crypto.InvalidSignature` for a bad or non-canonical authenticator.
    """
    parsed = TokenInput.decode(token_input)
    if parsed.token_key_id != token_key_id(public_key):
        raise FormatError("token was issued under a different key")
    crypto.verify(public_key, token_input, authenticator, VARIANT)


def spent_key(token_input: bytes) -> bytes:
    """SHA-256("tessera-spent-v1" || token_input): the double-spend key and Bloom element.

    Deliberately over the signed message only, never the authenticator: with the signature in the
    key, one token with two signature encodings would be two "different" spends (circl #615).
    Only well-formed 98-byte type-0x0002 inputs are accepted, so a whole Token cannot slip in.
    """
    TokenInput.decode(token_input)
    return hashlib.sha256(SPENT_KEY_DOMAIN + token_input).digest()
