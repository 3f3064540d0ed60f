"""The module's settings (`TokensSettings`, env prefix `TESSERA_TOKENS_`, the seed's names as
aliases) and its validated view of them (`TokensConfig`, with the derived key-encryption key).

- `kek` (TESSERA_TOKENS_KEK or TOKENS_KEY_ENCRYPTION_KEY): seals issuer keys; in development
  and test derived from the JWT secret, required in production
- `price_cents` (TESSERA_TOKENS_PRICE_CENTS or TOKEN_PRICE_CENTS, 250) and `currency`
  (TESSERA_TOKENS_CURRENCY or TOKEN_CURRENCY, USD)
- `receipt_hmac_secret` (TESSERA_TOKENS_RECEIPT_HMAC_SECRET or PAYMENT_HMAC_SECRET): unset
  turns the `hmac` receipt provider off
- `key_lifetime_days` (TESSERA_TOKENS_KEY_LIFETIME_DAYS, 30)
- `max_batch` (TESSERA_TOKENS_MAX_BATCH, 100) and `sign_rate` (TESSERA_TOKENS_SIGN_RATE,
  600/minute per caller)
- `bloom_fp_rate` (TESSERA_TOKENS_BLOOM_FP_RATE, 1e-6) and `bloom_ttl_seconds`
  (TESSERA_TOKENS_BLOOM_TTL, 3600: how long validators may trust a downloaded filter)
- `offline_sync_grace_hours` (TESSERA_TOKENS_OFFLINE_SYNC_GRACE_HOURS, 24)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from limits import parse
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from tessera.core.config import (
    PLACEHOLDER_SECRETS,
    Environment,
    InsecureSettings,
    ModuleSettings,
    Settings,
)
from tessera.protocols.tokens import keys

MIN_KEK_SECRET_BYTES = 32
# The JWT secret is domain-separated from the KEK by HKDF's info string (keys.kek_from_secret);
# this prefix additionally keeps the derived input distinct from any other use of the secret.
_DEV_KEK_PREFIX = "tessera-tokens-kek-from-jwt-secret:"


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class TokensSettings(ModuleSettings):
    model_config = SettingsConfigDict(env_prefix="TESSERA_TOKENS_")

    kek: SecretStr | None = Field(
        None, validation_alias=_env("TESSERA_TOKENS_KEK", "TOKENS_KEY_ENCRYPTION_KEY")
    )
    price_cents: int = Field(
        250,
        validation_alias=_env(
            "TESSERA_TOKENS_PRICE_CENTS", "TESSERA_TOKEN_PRICE_CENTS", "TOKEN_PRICE_CENTS"
        ),
    )
    currency: str = Field(
        "USD",
        validation_alias=_env(
            "TESSERA_TOKENS_CURRENCY", "TESSERA_TOKEN_CURRENCY", "TOKEN_CURRENCY"
        ),
    )
    receipt_hmac_secret: SecretStr | None = Field(
        None, validation_alias=_env("TESSERA_TOKENS_RECEIPT_HMAC_SECRET", "PAYMENT_HMAC_SECRET")
    )
    key_lifetime_days: float = 30
    max_batch: int = 100
    sign_rate: str = "600/minute"
    bloom_fp_rate: float = 1e-6
    bloom_ttl_seconds: int = Field(3600, validation_alias="TESSERA_TOKENS_BLOOM_TTL")
    offline_sync_grace_hours: float = 24


@dataclass(frozen=True)
class TokensConfig:
    kek: bytes
    price_cents: int
    currency: str
    hmac_secret: bytes | None
    key_lifetime: timedelta
    max_batch: int
    sign_rate_limit: str
    bloom_fp_rate: float
    bloom_ttl: timedelta
    offline_sync_grace: timedelta
    test_provider_enabled: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> TokensConfig:
        own = settings.module(TokensSettings)
        if own.price_cents <= 0:
            raise ValueError("TOKEN_PRICE_CENTS must be a positive integer")
        if not 0.0 < own.bloom_fp_rate < 0.5:
            raise ValueError("TESSERA_TOKENS_BLOOM_FP_RATE must be in (0, 0.5)")
        if not 1 <= own.max_batch <= 1000:
            raise ValueError("TESSERA_TOKENS_MAX_BATCH must be in [1, 1000]")
        parse(own.sign_rate)  # fail at start-up on a typo
        currency = own.currency.strip().upper()
        if len(currency) != 3 or not currency.isalpha():
            raise ValueError("TESSERA_TOKEN_CURRENCY must be an ISO 4217 code")
        hmac_secret = (
            own.receipt_hmac_secret.get_secret_value().encode()
            if own.receipt_hmac_secret and own.receipt_hmac_secret.get_secret_value()
            else None
        )
        return cls(
            kek=derive_kek(settings),
            price_cents=own.price_cents,
            currency=currency,
            hmac_secret=hmac_secret,
            key_lifetime=timedelta(days=own.key_lifetime_days),
            max_batch=own.max_batch,
            sign_rate_limit=own.sign_rate,
            bloom_fp_rate=own.bloom_fp_rate,
            bloom_ttl=timedelta(seconds=own.bloom_ttl_seconds),
            offline_sync_grace=timedelta(hours=own.offline_sync_grace_hours),
            test_provider_enabled=settings.env is not Environment.production,
        )


def derive_kek(settings: Settings) -> bytes:
    """The AES key that seals issuer private keys in the database.

    Production must configure TESSERA_TOKENS_KEK: a KEK derived from the JWT secret would tie
    the issuer keys to a secret that is rotated for other reasons. Development and test derive
    one from the JWT secret so that a fresh checkout works.
    """
    kek = settings.module(TokensSettings).kek
    configured = kek.get_secret_value() if kek else ""
    if configured:
        if configured.strip().lower() in PLACEHOLDER_SECRETS:
            raise InsecureSettings("TESSERA_TOKENS_KEK is a placeholder")
        if settings.is_production and len(configured.encode()) < MIN_KEK_SECRET_BYTES:
            raise InsecureSettings(
                f"TESSERA_TOKENS_KEK must be at least {MIN_KEK_SECRET_BYTES} bytes"
            )
        return keys.kek_from_secret(configured)
    if settings.is_production:
        raise InsecureSettings(
            "TESSERA_TOKENS_KEK is required in production (it seals the token-issuer keys)"
        )
    return keys.kek_from_secret(_DEV_KEK_PREFIX + settings.jwt_secret())
