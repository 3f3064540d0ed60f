"""Request and response bodies of the token endpoints (SPEC §6 shapes).

Binary values travel as base64 strings. Inputs accept standard or URL-safe base64, padded or
not; outputs are standard padded base64, except `n` (base64url, as in JWK) and the directory's
`token-key` (base64url with padding, as RFC 9578 requires). Amounts are integer cents, as in
the seed's API (`balance_cents`, `amount_cents`).
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

_B64_CHARS = re.compile(r"^[A-Za-z0-9+/_-]*={0,2}$")


def b64decode_any(value: str) -> bytes:
    """Standard or URL-safe base64, with or without padding; ValueError otherwise."""
    text = value.strip()
    if not _B64_CHARS.match(text):
        raise ValueError("not base64")
    text = text.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _decode(value: Any) -> bytes:
    if isinstance(value, bytes):  # Python callers building models directly
        return value
    if not isinstance(value, str):
        raise ValueError("must be a base64 string")
    if not 0 < len(value) <= MAX_BASE64_CHARS:
        raise ValueError(f"must be 1 to {MAX_BASE64_CHARS} base64 characters")
    return b64decode_any(value)


# Base64 in JSON, bytes in Python; 1400 characters is ample for a 354-byte Token.
MAX_BASE64_CHARS = 1400
Base64 = Annotated[
    bytes,
    BeforeValidator(_decode),
    WithJsonSchema({"type": "string", "format": "base64", "maxLength": MAX_BASE64_CHARS}),
]
BlindedList = Annotated[list[Base64], Field(min_length=1, max_length=1000)]
AwareDatetime = Annotated[datetime, AfterValidator(lambda v: _require_aware(v))]


def _require_aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamps must carry a UTC offset")
    return value


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


# --- keys --------------------------------------------------------------------------------------


class PublicKeyOut(BaseModel):
    key_id: str = Field(description="hex SHA-256 of the RSASSA-PSS SPKI (RFC 9578 token_key_id)")
    truncated_key_id: int = Field(description="last byte of key_id, carried by TokenRequest")
    token_type: int = 2
    n: str = Field(description="modulus, unpadded base64url (big-endian)")
    e: int
    spki_pem: str
    not_before: datetime
    expires_at: datetime


# --- receipts and signing ----------------------------------------------------------------------


class VerifyReceiptIn(_In):
    payment_provider: str = Field(min_length=1, max_length=20, examples=["test"])
    provider_receipt_id: str = Field(min_length=1, max_length=200)
    amount_cents: int | None = Field(None, gt=0, le=10**9)
    currency: str | None = Field(None, min_length=3, max_length=3)
    signature: str | None = Field(None, max_length=200)

    @field_validator("payment_provider")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value is not None else None


class ReceiptOut(BaseModel):
    receipt_id: str
    status: Literal["verified"] = "verified"
    tokens_allowed: int


class _BlindedIn(_In):
    blinded_token: Base64 | None = None
    blinded_tokens: BlindedList | None = None
    key_id: str | None = Field(
        None, pattern=r"^[0-9a-fA-F]{64}$", description="the key the tokens were blinded for"
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Any:
        if (self.blinded_token is None) == (self.blinded_tokens is None):
            raise ValueError("send exactly one of blinded_token or blinded_tokens")
        return self

    def blinded(self) -> list[bytes]:
        if self.blinded_token is not None:
            return [self.blinded_token]
        return list(self.blinded_tokens or [])

    @property
    def is_batch(self) -> bool:
        return self.blinded_tokens is not None


class SignBlindedIn(_BlindedIn):
    receipt_id: str = Field(min_length=1, max_length=36)


class SignBlindedOut(BaseModel):
    signed_blinded: str | None = None
    signed_blinded_tokens: list[str] | None = None
    key_id: str
    tokens_remaining: int | None = None


# --- redemption --------------------------------------------------------------------------------


class RedeemIn(_In):
    token: Base64 = Field(description="token_input (98 bytes) or a whole RFC 9578 Token (354)")
    signature: Base64 | None = Field(None, description="the 256-byte authenticator")
    validator_id: str = Field(min_length=1, max_length=100)


class RedeemOut(BaseModel):
    status: Literal["accepted", "rejected"]
    reason: Literal["spent", "invalid", "expired"] | None = None


class OfflineItemIn(_In):
    local_id: str = Field(min_length=1, max_length=100)
    token: Base64
    signature: Base64 | None = None
    redeemed_at: AwareDatetime


class SyncOfflineIn(_In):
    validator_id: str = Field(min_length=1, max_length=100)
    accepted_tokens: list[OfflineItemIn] = Field(max_length=1000)

    @model_validator(mode="after")
    def _unique_local_ids(self) -> Any:
        ids = [item.local_id for item in self.accepted_tokens]
        if len(ids) != len(set(ids)):
            raise ValueError("local_id values must be unique within a batch")
        return self


class SpendRecord(BaseModel):
    validator_id: str
    redeemed_at: datetime


class ConflictOut(BaseModel):
    local_id: str
    token_hash: str = Field(description="hex spent key of the double-spent token")
    original: SpendRecord
    duplicate: SpendRecord


class SyncErrorOut(BaseModel):
    local_id: str
    error: str


class SyncResultOut(BaseModel):
    local_id: str
    status: Literal["accepted", "duplicate", "invalid", "expired"]


class SyncOfflineOut(BaseModel):
    synced: int
    conflicts: list[ConflictOut]
    errors: list[SyncErrorOut]
    results: list[SyncResultOut]


class DoubleSpendOut(BaseModel):
    id: str
    token_hash: str
    key_id: str
    original: SpendRecord
    duplicate: SpendRecord
    duplicate_channel: str
    detected_at: datetime


class RevokeIn(_In):
    token_hash: str | None = Field(
        None, description="hex (or base64) spent key: SHA-256('tessera-spent-v1' || token_input)"
    )
    token: Base64 | None = Field(None, description="or the token itself (token_input or Token)")
    reason: str = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _one_target(self) -> Any:
        if (self.token_hash is None) == (self.token is None):
            raise ValueError("send exactly one of token_hash or token")
        return self


class RevokeOut(BaseModel):
    token_hash: str
    reason: str
    revoked_at: datetime
    already_revoked: bool


# --- vouchers ----------------------------------------------------------------------------------


class CreateVoucherIn(_In):
    balance_cents: int = Field(gt=0, le=10**9)
    currency: str | None = Field(None, min_length=3, max_length=3)
    expires_at: AwareDatetime | None = None
    staff_id: str | None = Field(None, max_length=100)


class VoucherCreatedOut(BaseModel):
    voucher_code: str = Field(description="shown once; stored only as a SHA-256 hash")
    balance: int = Field(description="cents")
    currency: str
    expires: datetime | None


class RedeemVoucherIn(_BlindedIn):
    voucher_code: str = Field(min_length=1, max_length=40)
    amount_cents: int = Field(gt=0, le=10**9)


class RedeemVoucherOut(BaseModel):
    signed_blinded: str | None = None
    signed_blinded_tokens: list[str] | None = None
    remaining_balance: int = Field(description="cents")
    key_id: str


class VoucherCodeIn(_In):
    voucher_code: str = Field(min_length=1, max_length=40)


class VoucherBalanceOut(BaseModel):
    balance: int = Field(description="cents")
    original_amount: int = Field(description="cents")
    currency: str
    created_at: datetime
    expires_at: datetime | None


# --- Bloom filter ------------------------------------------------------------------------------


class BloomOut(BaseModel):
    """The `sha256-km-v1` filter of spent keys (see docs/tokens-protocol.md)."""

    version: int
    generated_at: str
    valid_until: str
    n: int
    m: int
    k: int
    p: float
    hash: Literal["sha256-km-v1"]
    salt: str
    bits: str
