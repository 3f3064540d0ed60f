"""Client SDK for Tessera transit tickets: Privacy Pass token type 0x0002 (RFC 9578).

A rider's wallet gets a ticket without the issuer learning which ticket it signed:

    issuer = IssuerKey.from_spki(spki_pem)      # from GET /keys/public or the directory
    pending = request_token(issuer, challenge)  # random nonce, blinded
    body = pending.token_request()              # POST /token-request (or /v1/sign_blinded)
    ticket = finalize(pending, blind_sig)       # unblind + verify: a valid ticket or an error
    ticket.token_input, ticket.signature        # what /v1/redeem takes

A validator without network access checks tickets against the last downloaded Bloom filter:

    verdict = offline_check(issuer, token_input, signature, bloom_json)

No HTTP here: transport, base64 and JSON field names belong to the caller.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Self

from cryptography.hazmat.primitives.asymmetric import rsa

from tessera.protocols.tokens import crypto, formats, keys
from tessera.protocols.tokens.bloom import BloomSnapshot
from tessera.protocols.tokens.formats import TokenChallenge, spent_key

__all__ = [
    "FinishedToken",
    "IssuerKey",
    "OfflineVerdict",
    "PendingToken",
    "TokenChallenge",
    "blind",
    "finalize",
    "offline_check",
    "possibly_spent",
    "prepare",
    "request_token",
    "spent_key",
    "verify",
]


@dataclass(frozen=True, slots=True)
class IssuerKey:
    """An issuer public key with its RFC 9578 ids, refusing keys token type 0x0002 forbids."""

    public_key: rsa.RSAPublicKey
    key_id: bytes = field(init=False)
    truncated_key_id: int = field(init=False)

    def __post_init__(self) -> None:
        keys.require_token_key(self.public_key)
        key_id = formats.token_key_id(self.public_key)
        object.__setattr__(self, "key_id", key_id)
        object.__setattr__(self, "truncated_key_id", formats.truncated_token_key_id(key_id))

    @classmethod
    def from_spki(cls, spki: bytes | str) -> Self:
        """From a DER or PEM SPKI (`spki_pem` of /keys/public, `token-key` of the directory)."""
        return cls(keys.load_public_key(spki.encode("ascii") if isinstance(spki, str) else spki))


@dataclass(frozen=True, slots=True)
class PendingToken:
    """A blinded request in flight; keep it until the issuer answers, then `finalize` it."""

    issuer: IssuerKey
    token_input: bytes
    blinded_msg: bytes
    inv: int = field(repr=False)  # the unblinding secret: never send or log it

    def token_request(self) -> bytes:
        """The RFC 9578 TokenRequest body (application/private-token-request)."""
        return formats.TokenRequest(self.issuer.truncated_key_id, self.blinded_msg).encode()


@dataclass(frozen=True, slots=True)
class FinishedToken:
    """A verified ticket: the signed 98-byte token_input and its 256-byte signature."""

    token_input: bytes
    signature: bytes

    def token(self) -> bytes:
        """The 354-byte RFC 9578 Token (e.g. for `Authorization: PrivateToken token=...`)."""
        return formats.Token(formats.TokenInput.decode(self.token_input), self.signature).encode()

    def spent_key(self) -> bytes:
        return spent_key(self.token_input)


class OfflineVerdict(StrEnum):
    ACCEPT = "accept"  # valid, and not in the filter as of its generation time
    SPENT = "spent"  # in the filter: spent (or, with probability ~p, a false positive)
    INVALID = "invalid"  # malformed, another issuer's key, or a bad signature
    STALE_FILTER = "stale_filter"  # the filter is past valid_until: refresh before accepting


def _challenge_digest(challenge: TokenChallenge | bytes) -> bytes:
    parsed = TokenChallenge.decode(challenge) if isinstance(challenge, bytes) else challenge
    if parsed.token_type != formats.TOKEN_TYPE_BLIND_RSA:
        raise formats.FormatError("the challenge asks for another token type")
    return parsed.digest()


def prepare(issuer: IssuerKey, challenge: TokenChallenge | bytes) -> bytes:
    """A fresh token_input: 0x0002 || random nonce || SHA-256(challenge) || issuer key id."""
    nonce = secrets.token_bytes(formats.NONCE_LEN)
    return formats.TokenInput(nonce, _challenge_digest(challenge), issuer.key_id).encode()


def blind(issuer: IssuerKey, token_input: bytes) -> PendingToken:
    """Blind a token_input for `issuer` (RFC 9474 Blind, PSS-Deterministic)."""
    if formats.TokenInput.decode(token_input).token_key_id != issuer.key_id:
        raise formats.FormatError("token_input names another issuer key")
    blinding = crypto.blind(issuer.public_key, token_input, formats.VARIANT)
    return PendingToken(issuer, token_input, blinding.blinded_msg, blinding.inv)


def request_token(issuer: IssuerKey, challenge: TokenChallenge | bytes) -> PendingToken:
    """`prepare` and `blind` in one step."""
    return blind(issuer, prepare(issuer, challenge))


def finalize(pending: PendingToken, blind_sig: bytes) -> FinishedToken:
    """Unblind the issuer's answer (raw bytes or a TokenResponse body) and verify it.

    Raises `crypto.InvalidSignature` if the issuer signed something else or used another key.
    """
    response = formats.TokenResponse.decode(blind_sig)
    signature = crypto.finalize(
        pending.issuer.public_key,
        pending.token_input,
        response.blind_sig,
        pending.inv,
        formats.VARIANT,
    )
    return FinishedToken(pending.token_input, signature)


def verify(issuer: IssuerKey, token_input: bytes, signature: bytes) -> bool:
    """True if `signature` is this issuer's valid signature over a well-formed token_input."""
    try:
        formats.verify_token(issuer.public_key, token_input, signature)
    except (formats.FormatError, crypto.BlindRSAError):
        return False
    return True


def possibly_spent(token_input: bytes, bloom: BloomSnapshot | Mapping[str, object]) -> bool:
    """Membership of the token's spent key in a downloaded filter (GET /v1/bloom JSON)."""
    snapshot = bloom if isinstance(bloom, BloomSnapshot) else BloomSnapshot.from_json(bloom)
    return spent_key(token_input) in snapshot.filter


def offline_check(
    issuer: IssuerKey,
    token_input: bytes,
    signature: bytes,
    bloom: BloomSnapshot | Mapping[str, object],
    *,
    now: datetime | None = None,
) -> OfflineVerdict:
    """Decide a ticket offline: signature first, then filter freshness, then membership.

    ACCEPT still has to be synced later (POST /v1/sync_offline): the filter cannot know spends
    made after it was generated.
    """
    if not verify(issuer, token_input, signature):
        return OfflineVerdict.INVALID
    snapshot = bloom if isinstance(bloom, BloomSnapshot) else BloomSnapshot.from_json(bloom)
    if not snapshot.is_current(now or datetime.now(UTC)):
        return OfflineVerdict.STALE_FILTER
    if spent_key(token_input) in snapshot.filter:
        return OfflineVerdict.SPENT
    return OfflineVerdict.ACCEPT
