from pathlib import Path

import pytest

from tessera.core.config import InsecureSettings, Settings


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


def test_unknown_module_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown modules"):
        build(modules="tokens,bitcoin")
