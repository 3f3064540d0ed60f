"""Money at the edges: decimal amounts in, integer minor units inside, decimals out.

Storage and arithmetic use integers in the currency's minor unit (ISO 4217 exponent: cents for
USD). The API speaks decimals, as JSON numbers or strings:

- `parse_amount("12.34", "USD") == 1234`; zero, negative (unless `signed=True`), more decimals
  than the currency has, NaN, infinity, huge values, booleans, None and floats raise
  `ValueError` with a message fit for a client.
- `format_amount(1234, "USD") == Decimal("12.34")` (always with the currency's decimals;
  Pydantic writes a `Decimal` as the JSON string `"12.34"`, which keeps it exact).
- `Annotated[int, MinorUnits("USD")]` is a request-body field that accepts a JSON number or a
  decimal string and hands the endpoint the integer minor units; bad input is a 422.

JSON numbers and floats: Python's JSON parser turns `0.1` into a binary float. A router built
with `route_class=ExactDecimalRoute` parses JSON numbers straight into `Decimal`, so every
digit the client sent is checked (`1.0000000000000001` is refused, not rounded to 1.00). Where
a float still arrives (another route class, Python callers of the annotated type), it is
accepted only if its shortest repr has at most 15 significant digits: those and only those
round-trip exactly, so the decimal the client wrote is recovered; anything longer must be sent
as a string. `parse_amount` itself never accepts a float.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal, InvalidOperation, localcontext
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

# ISO 4217 minor-unit exponents of the currencies Tessera may hold.
CURRENCY_EXPONENTS: dict[str, int] = {
    "USD": 2,
    "EUR": 2,
    "CHF": 2,
    "GBP": 2,
    "CAD": 2,
    "AUD": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "PLN": 2,
    "JPY": 0,
    "KRW": 0,
}

# One movement is at most 10^14 minor units (a trillion dollars); a balance stays within
# ±10^18, so `balance + amount` can never overflow a 64-bit integer (SQLite would silently
# turn an overflowing integer into a float).
MAX_AMOUNT_MINOR = 10**14
MAX_BALANCE_MINOR = 10**18

_PLAIN_DECIMAL = re.compile(r"^[+-]?[0-9]+(\.[0-9]+)?$")
_MAX_STRING_CHARS = 40
_MAX_DIGITS = 64
_FLOAT_EXACT_DIGITS = 15  # DBL_DIG: decimals with at most 15 significant digits survive a float
# Enough precision for any accepted mantissa and the widest exponent range, so scaling and
# comparing never round, overflow or underflow (`1E+999999` is refused as too large, not as
# an arithmetic error).
_EXACT = Context(prec=_MAX_DIGITS + 40, Emax=MAX_EMAX, Emin=MIN_EMIN)


def currency_exponent(currency: str) -> int:
    try:
        return CURRENCY_EXPONENTS[currency]
    except (KeyError, TypeError):
        raise ValueError(f"unsupported currency {currency!r}") from None


def _to_decimal(value: object) -> Decimal:
    if value is None:
        raise ValueError("amount is required")
    if isinstance(value, bool):  # bool is an int: `true` must not mean 1
        raise ValueError("amount must be a number or a decimal string, not a boolean")
    if isinstance(value, float):
        raise ValueError("amount must not be a float; send a decimal string")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        return value
    if isinstance(value, str):
        text = value.strip()
        if len(text) > _MAX_STRING_CHARS or not _PLAIN_DECIMAL.match(text):
            raise ValueError("amount must be a plain decimal number such as '12.34'")
        return Decimal(text)
    raise ValueError("amount must be a number or a decimal string")


def parse_amount(value: str | int | Decimal, currency: str, *, signed: bool = False) -> int:
    """A client's decimal amount as integer minor units of `currency`.

    Refuses zero, negatives (unless `signed`), more decimals than the currency has, non-finite
    values, amounts above `MAX_AMOUNT_MINOR`, booleans, None and floats (`ValueError`).
    """
    try:
        return _parse(value, currency, signed)
    except ArithmeticError:  # decimal signals: never let odd input become a 500
        raise ValueError("amount is not a usable number") from None


def _parse(value: object, currency: str, signed: bool) -> int:
    exponent = currency_exponent(currency)
    amount = _to_decimal(value)
    if not amount.is_finite():
        raise ValueError("amount must be a finite number")
    if len(amount.as_tuple().digits) > _MAX_DIGITS:
        raise ValueError("amount has too many digits")
    if amount == 0:
        raise ValueError("amount must not be zero" if signed else "amount must be greater than 0")
    if amount < 0 and not signed:
        raise ValueError("amount must be greater than 0")
    largest = format_amount(MAX_AMOUNT_MINOR, currency)
    if amount.copy_abs() > largest:  # exact, before any arithmetic on a huge exponent
        raise ValueError(f"amount is too large (at most {largest})")
    with localcontext(_EXACT):
        scaled = amount.scaleb(exponent)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{currency} amounts have at most {exponent} decimal places")
        return int(scaled)


def format_amount(minor: int, currency: str) -> Decimal:
    """Integer minor units as a `Decimal` with exactly the currency's decimals (1234 → 12.34)."""
    exponent = currency_exponent(currency)
    with localcontext(_EXACT):
        return Decimal(minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))


def _float_to_decimal(value: float) -> Decimal:
    """A JSON number that arrived as a float, back to the decimal the client wrote (or refuse)."""
    try:
        text = repr(value)
        amount = Decimal(text)
    except (InvalidOperation, ValueError):
        raise ValueError("amount must be a finite number") from None
    if not amount.is_finite():
        raise ValueError("amount must be a finite number")
    if len(amount.normalize(_EXACT).as_tuple().digits) > _FLOAT_EXACT_DIGITS:
        raise ValueError("amount has too many significant digits for a JSON number; send a string")
    return amount


class MinorUnits:
    """Annotation for request fields holding money: `Annotated[int, MinorUnits("USD")]`.

    Accepts a JSON number or a decimal string and yields integer minor units; any bad input
    is a validation error (422). `signed=True` also accepts negative amounts (never zero).
    """

    def __init__(self, currency: str, *, signed: bool = False) -> None:
        currency_exponent(currency)  # fail at import time on a typo
        self.currency = currency
        self.signed = signed

    def validate(self, value: Any) -> int:
        if isinstance(value, float):
            value = _float_to_decimal(value)
        return parse_amount(value, self.currency, signed=self.signed)

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            self.validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda minor: str(format_amount(minor, self.currency))
            ),
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        exponent = CURRENCY_EXPONENTS[self.currency]
        sign = "non-zero" if self.signed else "positive"
        largest = float(format_amount(MAX_AMOUNT_MINOR, self.currency))
        number: dict[str, Any] = {"type": "number", "maximum": largest}
        if self.signed:
            number["minimum"] = -largest
        else:
            number["exclusiveMinimum"] = 0
        pattern = r"^[+-]?[0-9]+(\.[0-9]+)?$" if self.signed else r"^\+?[0-9]+(\.[0-9]+)?$"
        return {
            "anyOf": [number, {"type": "string", "pattern": pattern}],
            "description": (
                f"A {sign} {self.currency} amount as a JSON number or decimal string, "
                f"at most {exponent} decimal places"
            ),
            "examples": ["12.50"],
        }


def loads_exact(body: bytes | str) -> Any:
    """`json.loads` with numbers that have a fraction or exponent as `Decimal`; the
    non-standard `NaN` and `Infinity` literals are a decode error, as in strict JSON."""
    text = body.decode() if isinstance(body, bytes) else body

    def refuse(literal: str) -> Any:
        raise json.JSONDecodeError(f"{literal} is not valid JSON", text, text.find(literal))

    return json.loads(text, parse_float=Decimal, parse_constant=refuse)


class _ExactDecimalRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads_exact(await self.body())
        return self._json


class ExactDecimalRoute(APIRoute):
    """Route class that parses JSON request bodies with numbers as `Decimal`, never float.

    Use it for routers that take money: `APIRouter(route_class=ExactDecimalRoute)`.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def exact_handler(request: Request) -> Response:
            return await handler(_ExactDecimalRequest(request.scope, request.receive))

        return exact_handler
