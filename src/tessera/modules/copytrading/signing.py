"""How a master's bot signs a signal (pure: stdlib only; the docs show the same in curl).

The signing secret is derived from the master's license token, so the server never stores
it (only the token's SHA-256) and rotating the license rotates it:

    signing_secret = base64url(HMAC-SHA256(key=license_token, msg="tessera copytrading signing v1"))
    signature      = hex(HMAC-SHA256(key=signing_secret, msg=canonical(signal)))

`canonical` is one line per field, in this order: "v1", sequence_number, symbol, order_type,
volume, price, stop_loss, take_profit, generated_at (epoch milliseconds). Decimals are written
without exponent or trailing zeros (`1.50` → `1.5`, `100` → `100`); an absent stop or target
is an empty line.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from decimal import Decimal

SIGNING_INFO = b"tessera copytrading signing v1"


def signing_secret(license_token: str) -> str:
    digest = hmac.new(license_token.encode(), SIGNING_INFO, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def decimal_text(value: Decimal | None) -> str:
    if value is None:
        return ""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def canonical(
    *,
    sequence_number: int,
    symbol: str,
    order_type: str,
    volume: Decimal,
    price: Decimal,
    stop_loss: Decimal | None,
    take_profit: Decimal | None,
    generated_at_ms: int,
) -> bytes:
    lines = [
        "v1",
        str(sequence_number),
        symbol,
        order_type,
        decimal_text(volume),
        decimal_text(price),
        decimal_text(stop_loss),
        decimal_text(take_profit),
        str(generated_at_ms),
    ]
    return "\n".join(lines).encode()


def sign(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(secret: str, message: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, message), signature.strip().lower())
