"""Decimal amounts in, integer minor units inside: nothing rounds, nothing is a float."""

from decimal import Decimal
from typing import Annotated, Any

import httpx2
import pytest
from fastapi import APIRouter, FastAPI
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError

from tessera.core.errors import install_error_handlers
from tessera.core.kit.money import (
    CURRENCY_EXPONENTS,
    MAX_AMOUNT_MINOR,
    ExactDecimalRoute,
    MinorUnits,
    format_amount,
    parse_amount,
)


@pytest.mark.parametrize(
    ("value", "currency", "minor"),
    [
        ("12.34", "USD", 1234),
        ("0.01", "EUR", 1),
        ("7", "CHF", 700),
        (7, "USD", 700),
        (Decimal("1.5"), "USD", 150),
        ("1.50", "USD", 150),
        ("1.500", "USD", 150),  # trailing zeros change nothing
        (" 3.10 ", "USD", 310),
        ("1000000000000", "USD", MAX_AMOUNT_MINOR),
        ("500", "JPY", 500),
    ],
)
def test_parse_amount_gives_exact_minor_units(value: Any, currency: str, minor: int) -> None:
    assert parse_amount(value, currency) == minor


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "greater than 0"),
        ("0.00", "greater than 0"),
        (-1, "greater than 0"),
        ("-0.01", "greater than 0"),
        ("0.001", "at most 2 decimal places"),
        ("1.005", "at most 2 decimal places"),
        (Decimal("1.0000000000000000000000000000000001"), "at most 2 decimal places"),
        (Decimal("NaN"), "finite"),
        (Decimal("Infinity"), "finite"),
        ("NaN", "plain decimal"),
        ("1e3", "plain decimal"),
        ("0x10", "plain decimal"),
        ("", "plain decimal"),
        ("12,50", "plain decimal"),
        ("1" * 41, "plain decimal"),
        (10**30, "too large"),
        (Decimal("9E+999999"), "too large"),
        (Decimal("1E+5000000000"), "too large"),
        (Decimal("1E-1000005"), "at most 2 decimal places"),
        (2**63, "too large"),
        ("1000000000000.01", "too large"),
        (True, "boolean"),
        (None, "required"),
        (1.5, "float"),
        ([1], "number or a decimal string"),
    ],
)
def test_parse_amount_refuses_bad_values(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_amount(value, "USD")


def test_signed_amounts_allow_negative_but_never_zero() -> None:
    assert parse_amount("-2.50", "USD", signed=True) == -250
    with pytest.raises(ValueError, match="zero"):
        parse_amount("0", "USD", signed=True)


def test_unknown_currency_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported currency"):
        parse_amount("1", "XXX")
    with pytest.raises(ValueError, match="unsupported currency"):
        MinorUnits("usd")


def test_format_amount_keeps_the_currency_decimals() -> None:
    assert str(format_amount(1234, "USD")) == "12.34"
    assert str(format_amount(5, "EUR")) == "0.05"
    assert str(format_amount(-700, "CHF")) == "-7.00"
    assert str(format_amount(500, "JPY")) == "500"
    assert {"USD", "EUR", "CHF"} <= set(CURRENCY_EXPONENTS)


@given(st.integers(min_value=1, max_value=MAX_AMOUNT_MINOR), st.sampled_from(["USD", "JPY"]))
def test_format_then_parse_is_the_identity(minor: int, currency: str) -> None:
    assert parse_amount(str(format_amount(minor, currency)), currency) == minor
    assert parse_amount(format_amount(minor, currency), currency) == minor


class Body(BaseModel):
    amount: Annotated[int, MinorUnits("USD")]


@pytest.mark.parametrize(
    ("raw", "minor"),
    [('{"amount": 12.5}', 1250), ('{"amount": "12.50"}', 1250), ('{"amount": 3}', 300)],
)
def test_the_annotated_type_accepts_numbers_and_strings(raw: str, minor: int) -> None:
    assert Body.model_validate_json(raw).amount == minor


@pytest.mark.parametrize(
    "raw",
    [
        '{"amount": 0}',
        '{"amount": -1}',
        '{"amount": 0.001}',
        '{"amount": "1e3"}',
        '{"amount": 1e400}',
        '{"amount": true}',
        '{"amount": null}',
        '{"amount": 100000000000000000000000000000}',
        '{"amount": 1234567890123.4567}',  # a float cannot carry these digits: send a string
    ],
)
def test_the_annotated_type_refuses_bad_json(raw: str) -> None:
    with pytest.raises(ValidationError):
        Body.model_validate_json(raw)


def test_the_json_schema_says_number_or_string() -> None:
    schema = TypeAdapter(Annotated[int, MinorUnits("EUR")]).json_schema()
    number, string = schema["anyOf"]
    assert (number["type"], number["exclusiveMinimum"], number["maximum"]) == ("number", 0, 1e12)
    assert string["type"] == "string"
    assert "EUR" in schema["description"]


async def test_exact_decimal_route_sees_every_digit_of_a_json_number() -> None:
    """`1.0000000000000001` is 1.00 to a float parser; the exact route refuses it."""
    router = APIRouter(route_class=ExactDecimalRoute)

    @router.post("/pay")
    async def pay(body: Body) -> dict[str, int]:
        return {"minor": body.amount}

    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://t") as client:
        ok = await client.post("/pay", content=b'{"amount": 0.1}', headers=_json)
        assert (ok.status_code, ok.json()) == (200, {"minor": 10})
        sneaky = await client.post("/pay", content=b'{"amount": 1.0000000000000001}', headers=_json)
        assert sneaky.status_code == 422
        for literal in (b"NaN", b"Infinity", b"-Infinity"):
            refused = await client.post("/pay", content=b'{"amount": %s}' % literal, headers=_json)
            assert refused.status_code == 422
            assert refused.json()["error"] == "validation_error"


_json = {"content-type": "application/json"}
