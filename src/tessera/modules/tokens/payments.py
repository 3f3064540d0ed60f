"""Proofs of payment that buy tokens: the receipt providers of POST /v1/verify_receipt.

- `test`: accepts any receipt id; development and test environments only.
- `hmac`: a payment adapter signs the receipt with a shared secret
  (TESSERA_TOKENS_RECEIPT_HMAC_SECRET):
  `signature = hex(HMAC-SHA256(secret, receipt_message))` with
  `receipt_message = "tessera-receipt-v1\\n{provider_receipt_id}\\n{amount_cents}\\n{currency}"`.
- `wallet`: the signed-in caller pays from their core-ledger wallet (see service.py).

Every provider buys `amount_cents / TOKEN_PRICE_CENTS` tokens; amounts must be a whole
number of tokens, in the token currency.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from tessera.core.errors import AppError, Forbidden, Unprocessable
from tessera.modules.tokens.actor import Actor
from tessera.modules.tokens.config import TokensConfig
from tessera.modules.tokens.schemas import VerifyReceiptIn

PROVIDERS = ("test", "hmac", "wallet")
MAX_TOKENS_PER_RECEIPT = 100_000


class ProviderUnavailable(AppError):
    status_code = 400
    code = "provider_unavailable"
    detail = "This payment provider is not available"


class ReceiptRejected(AppError):
    status_code = 402
    code = "receipt_rejected"
    detail = "The payment provider's signature does not verify"


@dataclass(frozen=True)
class VerifiedPayment:
    provider: str
    provider_receipt_id: str  # as stored: wallet receipt ids are scoped to the paying user
    amount_cents: int | None
    currency: str
    tokens_allowed: int
    charge_wallet: bool = False


def receipt_message(provider_receipt_id: str, amount_cents: int, currency: str) -> bytes:
    return f"tessera-receipt-v1\n{provider_receipt_id}\n{amount_cents}\n{currency}".encode()


def sign_receipt(secret: bytes, provider_receipt_id: str, amount_cents: int, currency: str) -> str:
    """What a payment adapter sends as `signature` for the `hmac` provider."""
    message = receipt_message(provider_receipt_id, amount_cents, currency)
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def tokens_for(amount_cents: int, config: TokensConfig) -> int:
    tokens, rest = divmod(amount_cents, config.price_cents)
    if rest or tokens < 1:
        raise Unprocessable(
            f"amount_cents must be a whole number of tokens at {config.price_cents} cents each",
            code="invalid_amount",
        )
    if tokens > MAX_TOKENS_PER_RECEIPT:
        raise Unprocessable(
            f"at most {MAX_TOKENS_PER_RECEIPT} tokens per receipt", code="invalid_amount"
        )
    return tokens


def _currency(body: VerifyReceiptIn, config: TokensConfig) -> str:
    currency = body.currency or config.currency
    if currency != config.currency:
        raise Unprocessable(f"tokens are sold in {config.currency}", code="unsupported_currency")
    return currency


def check_payment(body: VerifyReceiptIn, actor: Actor, config: TokensConfig) -> VerifiedPayment:
    """Validate a receipt claim without side effects; the wallet charge happens later."""
    provider = body.payment_provider
    if actor.kind == "user" and provider != "wallet":
        # Riders pay from their wallet; card and test receipts come through kiosks.
        raise Forbidden(
            "Signed-in users buy tokens with the wallet provider", code="provider_forbidden"
        )
    if provider == "test":
        if not config.test_provider_enabled:
            raise ProviderUnavailable("The test payment provider is disabled in production")
        currency = _currency(body, config)
        tokens = tokens_for(body.amount_cents, config) if body.amount_cents else 1
        return VerifiedPayment(
            provider, body.provider_receipt_id, body.amount_cents, currency, tokens
        )
    if provider == "hmac":
        if config.hmac_secret is None:
            raise ProviderUnavailable("The hmac provider needs TESSERA_TOKENS_RECEIPT_HMAC_SECRET")
        if body.amount_cents is None or body.currency is None or body.signature is None:
            raise Unprocessable(
                "hmac receipts need amount_cents, currency and signature", code="incomplete_receipt"
            )
        currency = _currency(body, config)
        expected = sign_receipt(
            config.hmac_secret, body.provider_receipt_id, body.amount_cents, currency
        )
        if not hmac.compare_digest(expected, body.signature.lower()):
            raise ReceiptRejected()
        tokens = tokens_for(body.amount_cents, config)
        return VerifiedPayment(
            provider, body.provider_receipt_id, body.amount_cents, currency, tokens
        )
    if provider == "wallet":
        if actor.kind != "user":
            raise Forbidden("Wallet payments need a signed-in user", code="wallet_needs_user")
        if body.amount_cents is None:
            raise Unprocessable("wallet payments need amount_cents", code="incomplete_receipt")
        currency = _currency(body, config)
        tokens = tokens_for(body.amount_cents, config)
        # Receipt ids are the caller's own order references: scope them to the user so one
        # user's id can neither collide with nor reveal another's.
        scoped = f"{actor.id}:{body.provider_receipt_id}"
        return VerifiedPayment(
            provider, scoped, body.amount_cents, currency, tokens, charge_wallet=True
        )
    raise ProviderUnavailable(
        f"Unknown payment provider {provider!r}; use one of {', '.join(PROVIDERS)}",
        code="unknown_provider",
    )
