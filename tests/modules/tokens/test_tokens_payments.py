"""Receipt providers without HTTP: which proofs of payment buy how many tickets."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from tests.conftest import TEST_SECRET

from tessera.core.config import Settings
from tessera.core.errors import AppError
from tessera.modules.tokens.actor import Actor
from tessera.modules.tokens.config import TokensConfig
from tessera.modules.tokens.payments import check_payment, sign_receipt
from tessera.modules.tokens.schemas import VerifyReceiptIn

KIOSK = Actor(kind="api_key", id="k-1", role="kiosk")
RIDER = Actor(kind="user", id="u-1")


@pytest.fixture
def config(tmp_path: Path) -> TokensConfig:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, env="test", secret_key=TEST_SECRET, data_dir=tmp_path
    )
    return dataclasses.replace(TokensConfig.from_settings(settings), hmac_secret=b"h" * 32)


def receipt(**fields: object) -> VerifyReceiptIn:
    return VerifyReceiptIn.model_validate({"provider_receipt_id": "r-1", **fields})


def test_test_provider_is_refused_in_production(config: TokensConfig) -> None:
    assert check_payment(receipt(payment_provider="test"), KIOSK, config).tokens_allowed == 1
    production = dataclasses.replace(config, test_provider_enabled=False)
    with pytest.raises(AppError) as refused:
        check_payment(receipt(payment_provider="test"), KIOSK, production)
    assert refused.value.code == "provider_unavailable"


def test_hmac_receipts_bind_id_amount_and_currency(config: TokensConfig) -> None:
    signature = sign_receipt(b"h" * 32, "r-1", 1000, "USD")
    ok = check_payment(
        receipt(payment_provider="hmac", amount_cents=1000, currency="usd", signature=signature),
        KIOSK,
        config,
    )
    assert ok.tokens_allowed == 4 and ok.currency == "USD"
    for changed in ({"amount_cents": 750}, {"provider_receipt_id": "r-2"}):
        fields = {"payment_provider": "hmac", "amount_cents": 1000, "currency": "USD"}
        with pytest.raises(AppError) as refused:
            check_payment(receipt(**{**fields, **changed, "signature": signature}), KIOSK, config)
        assert refused.value.status_code == 402


def test_wallet_receipt_ids_are_scoped_to_the_rider(config: TokensConfig) -> None:
    paid = check_payment(receipt(payment_provider="wallet", amount_cents=500), RIDER, config)
    assert paid.provider_receipt_id == "u-1:r-1" and paid.charge_wallet
    assert paid.tokens_allowed == 2
