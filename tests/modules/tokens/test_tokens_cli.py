"""`tessera tokens keygen | import | keys | rotate | demo`, against a real database and server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from tests.conftest import TEST_SECRET
from typer.testing import CliRunner

from tessera.core.config import Settings, get_settings
from tessera.core.db.base import utcnow
from tessera.core.db.engine import Database
from tessera.modules.tokens.cli import cli
from tessera.modules.tokens.config import TokensConfig
from tessera.modules.tokens.keyring import generate_key
from tessera.modules.tokens.repository import TokensRepository
from tessera.protocols.tokens import formats, keys

runner = CliRunner()


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point `get_settings()` (what the commands read) at the test database."""
    for name, value in {
        "TESSERA_ENV": "test",
        "TESSERA_DATABASE_URL": database_url,
        "TESSERA_SECRET_KEY": TEST_SECRET,
        "TESSERA_DATA_DIR": str(tmp_path / "data"),
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def key_states(database_url: str) -> list[tuple[str, bool]]:
    async def read() -> list[tuple[str, bool]]:
        db = Database(database_url)
        try:
            async with db.session(write=False) as session:
                rows = await TokensRepository(session).all_keys()
                return [(row.key_id, row.sealed_private_key is not None) for row in rows]
        finally:
            await db.dispose()

    return asyncio.run(read())


def test_keygen_keys_and_rotate(cli_env: str) -> None:
    made = runner.invoke(cli, ["keygen", "--lifetime-days", "7"])
    assert made.exit_code == 0, made.output
    assert "generated key_id" in made.output
    listed = runner.invoke(cli, ["keys"])
    assert listed.exit_code == 0 and " live " in listed.output and "sealed" in listed.output

    rotated = runner.invoke(cli, ["rotate", "--retire-after-hours", "2"])
    assert rotated.exit_code == 0, rotated.output
    assert "1 older key(s) now expire" in rotated.output
    states = key_states(cli_env)
    assert len(states) == 2 and all(sealed for _, sealed in states)


def test_pem_keygen_then_import(cli_env: str, tmp_path: Path) -> None:
    pem = tmp_path / "issuer.pem"
    written = runner.invoke(
        cli,
        ["keygen", "--pem-out", str(pem), "--password-env", "PEM_PASSWORD"],
        env={"PEM_PASSWORD": "correct horse"},
    )
    assert written.exit_code == 0, written.output
    assert pem.stat().st_mode & 0o077 == 0  # readable by the owner only
    private_key = keys.load_private_key_pem(pem.read_bytes(), b"correct horse")
    key_id = formats.token_key_id(private_key.public_key()).hex()
    assert key_id in written.output
    assert key_states(cli_env) == []  # a PEM file is not a stored key yet

    imported = runner.invoke(
        cli,
        ["import", str(pem), "--password-env", "PEM_PASSWORD"],
        env={"PEM_PASSWORD": "correct horse"},
    )
    assert imported.exit_code == 0, imported.output
    assert key_states(cli_env) == [(key_id, True)]
    again = runner.invoke(
        cli,
        ["import", str(pem), "--password-env", "PEM_PASSWORD"],
        env={"PEM_PASSWORD": "correct horse"},
    )
    assert again.exit_code == 1  # the same key twice is refused
    refused = runner.invoke(cli, ["keygen", "--pem-out", str(pem)])
    assert refused.exit_code != 0  # never overwrites a key file


def test_demo_walks_every_flow_against_a_running_server(
    cli_env: str, live_server: str, settings: Settings
) -> None:
    async def install() -> None:
        db = Database(cli_env)
        try:
            async with db.session(write=True) as session:
                await generate_key(
                    session,
                    TokensConfig.from_settings(settings).kek,
                    not_before=utcnow() - timedelta(minutes=1),
                    lifetime=timedelta(days=1),
                )
        finally:
            await db.dispose()

    asyncio.run(install())
    result = runner.invoke(cli, ["demo", "--base-url", live_server])
    assert result.exit_code == 0, result.output
    assert "FAIL" not in result.output
    assert "demo finished: all steps as expected" in result.output
