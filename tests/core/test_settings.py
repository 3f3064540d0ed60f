from pathlib import Path

import pytest
from pydantic import ValidationError

from tessera.app import create_app
from tessera.core.config import InsecureSettings, Settings
from tessera.core.modules import all_parts
from tessera.core.runtime import Runtime
from tessera.modules.tokens.config import TokensSettings


def build(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.mark.parametrize("secret", [None, "", "changeme", "your-secret-key"])
def test_production_refuses_missing_or_placeholder_secret(secret: str | None) -> None:
    settings = build(env="production", secret_key=secret)
    with pytest.raises(InsecureSettings, match="SECRET_KEY"):
        settings.check_safe()


def test_production_refuses_short_secret() -> None:
    with pytest.raises(InsecureSettings, match="at least 32 bytes"):
        build(env="production", secret_key="short-but-not-a-placeholder").check_safe()


def test_production_accepts_a_long_random_secret() -> None:
    build(env="production", secret_key="k" * 48).check_safe()


def test_development_generates_and_keeps_a_secret(tmp_path: Path) -> None:
    first = build(data_dir=tmp_path).jwt_secret()
    again = build(data_dir=tmp_path).jwt_secret()
    assert first == again and len(first) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_seed_variable_names_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db:5432/app")
    monkeypatch.setenv("JWT_SECRET", "s" * 40)
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("ACCESS_TOKEN_EXPIRE_MINUTES", "15")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.resolved_database_url == "postgresql+asyncpg://u@db:5432/app"
    assert settings.jwt_secret() == "s" * 40
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.access_token_expire_minutes == 15


def test_wildcard_cors_with_credentials_is_refused() -> None:
    with pytest.raises(ValueError, match="explicit origins"):
        build(cors_origins="*")


def test_unknown_module_is_refused_before_the_app_is_built() -> None:
    with pytest.raises(ValueError, match=r"unknown modules \['bitcoin'\]"):
        create_app(build(modules="tokens,bitcoin"))


def test_a_module_reads_its_own_settings_under_its_prefix_and_the_seed_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOKEN_PRICE_CENTS", "300")  # the seed's name
    monkeypatch.setenv("TESSERA_TOKENS_MAX_BATCH", "7")  # the module's prefix
    settings = build()
    own = settings.module(TokensSettings)
    assert (own.price_cents, own.max_batch) == (300, 7)
    assert settings.module(TokensSettings) is own  # read once


def test_module_settings_given_directly_win_over_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TESSERA_TOKENS_MAX_BATCH", "7")
    settings = build(module_settings=[TokensSettings(max_batch=9)])
    assert settings.module(TokensSettings).max_batch == 9


def test_a_bad_module_setting_stops_the_service_at_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TESSERA_TOKENS_MAX_BATCH", "many")
    with pytest.raises(ValidationError, match="max_batch"):
        Runtime.build(build(), all_parts())
