import os
import stat
from concurrent.futures import ThreadPoolExecutor
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


def test_the_secret_file_is_private_from_its_first_byte(tmp_path: Path) -> None:
    previous = os.umask(0)  # the most permissive umask: a plain write would make it 0666
    try:
        build(data_dir=tmp_path).jwt_secret()
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600
    assert not list(tmp_path.glob(".secret_key.*"))  # no temporary file left behind


def test_a_link_planted_where_the_secret_goes_is_refused(tmp_path: Path) -> None:
    leak = tmp_path / "readable-by-everyone"
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "secret_key").symlink_to(leak)  # dangling: the secret would go there
    with pytest.raises(InsecureSettings, match="symbolic link"):
        build(data_dir=tmp_path / "data").jwt_secret()
    assert not leak.exists()
    leak.write_text("a-secret-the-attacker-knows")  # and once it points at a file, not used
    with pytest.raises(InsecureSettings, match="symbolic link"):
        build(data_dir=tmp_path / "data").jwt_secret()


def test_every_process_starting_together_reads_the_same_secret(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        secrets = set(pool.map(lambda _: build(data_dir=tmp_path).jwt_secret(), range(32)))
    assert len(secrets) == 1 and len(secrets.pop()) >= 32


def test_serve_uses_every_cpu_in_production_and_one_process_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert build(env="production", secret_key="k" * 48).worker_count == 8
    assert build(env="development").worker_count == 1
    assert build(env="production", secret_key="k" * 48, workers=3).worker_count == 3


def test_password_hashing_slots_are_shared_out_among_the_workers_of_a_machine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    # One process on two CPUs hashes two passwords at once; two processes one each, not four.
    assert build(workers=1).password_hash_slots == 2
    assert build(workers=2).password_hash_slots == 1
    assert build(workers=4).password_hash_slots == 1  # never zero
    assert build(workers=2, password_hash_concurrency=8).password_hash_slots == 4
