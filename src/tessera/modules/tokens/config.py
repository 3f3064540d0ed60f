"""The module's view of the settings: typed, validated once, with the derived key-encryption key.

The knobs themselves live in `tessera.core.config.Settings` (block "Tokens") so that one
environment configures the whole service:

- `tokens_kek` (TESSERA_TOKENS_KEK or TOKENS_KEY_ENCRYPTION_KEY): seals issuer keys; in
  development and test derived from the JWT secret, required in production
- `token_price_cents` (TESSERA_TOKEN_PRICE_CENTS or TOKEN_PRICE_CENTS, 250) and
  `token_currency` (TESSERA_TOKEN_CURRENCY, USD)
- `tokens_receipt_hmac_secret` (TESSERA_TOKENS_RECEIPT_HMAC_SECRET or PAYMENT_HMAC_SECRET):
  unset turns the `hmac` receipt provider off
- `tokens_key_lifetime_days` (TESSERA_TOKENS_KEY_LIFETIME_DAYS, 30)
- `tokens_max_batch` (TESSERA_TOKENS_MAX_BATCH, 100) and `tokens_sign_rate_limit`
  (TESSERA_TOKENS_SIGN_RATE, 600/minute per caller)
- `tokens_bloom_fp_rate` (TESSERA_TOKENS_BLOOM_FP_RATE, 1e-6) and `tokens_bloom_ttl_seconds`
  (TESSERA_TOKENS_BLOOM_TTL, 3600: how long validators may trust a downloaded filter)
- `tokens_offline_sync_grace_hours` (TESSERA_TOKENS_OFFLINE_SYNC_GRACE_HOURS, 24)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from limits import parse

from tessera.core.config import PLACEHOLDER_SECRETS, Environment, InsecureSettings, Settings
from tessera.modules.tokens import keys

MIN_KEK_SECRET_BYTES = 32
# The JWT secret is domain-separated from the KEK by HKDF's info string (keys.kek_from_secret);
# this prefix additionally keeps the derived input distinct from any other use of the secret.
_DEV_KEK_PREFIX = "tessera-tokens-kek-from-jwt-secret:"


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
        if settings.token_price_cents <= 0:
            raise ValueError("TOKEN_PRICE_CENTS must be a positive integer")
        if not 0.0 < settings.tokens_bloom_fp_rate < 0.5:
            raise ValueError("TESSERA_TOKENS_BLOOM_FP_RATE must be in (0, 0.5)")
        if not 1 <= settings.tokens_max_batch <= 1000:
            raise ValueError("TESSERA_TOKENS_MAX_BATCH must be in [1, 1000]")
        parse(settings.tokens_sign_rate_limit)  # fail at start-up on a typo
        currency = settings.token_currency.strip().upper()
        if len(currency) != 3 or not currency.isalpha():
            raise ValueError("TESSERA_TOKEN_CURRENCY must be an ISO 4217 code")
        hmac_secret = (
            settings.tokens_receipt_hmac_secret.get_secret_value().encode()
            if settings.tokens_receipt_hmac_secret
            and settings.tokens_receipt_hmac_secret.get_secret_value()
            else None
        )
        return cls(
            kek=derive_kek(settings),
            price_cents=settings.token_price_cents,
            currency=currency,
            hmac_secret=hmac_secret,
            key_lifetime=timedelta(days=settings.tokens_key_lifetime_days),
            max_batch=settings.tokens_max_batch,
            sign_rate_limit=settings.tokens_sign_rate_limit,
            bloom_fp_rate=settings.tokens_bloom_fp_rate,
            bloom_ttl=timedelta(seconds=settings.tokens_bloom_ttl_seconds),
            offline_sync_grace=timedelta(hours=settings.tokens_offline_sync_grace_hours),
            test_provider_enabled=settings.env is not Environment.production,
        )


def derive_kek(settings: Settings) -> bytes:
    """The AES key that seals issuer private keys in the database.

    Production must configure TESSERA_TOKENS_KEK: a KEK derived from the JWT secret would tie
    the issuer keys to a secret that is rotated for other reasons. Development and test derive
    one from the JWT secret so that a fresh checkout works.
    """
    configured = settings.tokens_kek.get_secret_value() if settings.tokens_kek else ""
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
