"""`tessera seed --demo` and `tessera copytrading masters|subscriptions|suspend|signals`
against a real database (in process; `tessera` as a separate process is the same code)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import TEST_SECRET
from typer.testing import CliRunner

from tessera.cli import app
from tessera.core.config import get_settings
from tessera.modules.copytrading.cli import cli

pytestmark = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
runner = CliRunner()


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "TESSERA_ENV": "test",
        "TESSERA_DATABASE_URL": database_url,
        "TESSERA_SECRET_KEY": TEST_SECRET,
        "TESSERA_DATA_DIR": str(tmp_path / "data"),
        "TESSERA_PASSWORD_HASH_FAST": "true",
        "TESSERA_LOG_LEVEL": "ERROR",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_demo_seed_and_operator_commands(cli_env: None) -> None:
    seeded = runner.invoke(app, ["seed", "--demo"])
    assert seeded.exit_code == 0, seeded.output
    licenses = re.findall(r"follower license \(shown once\): (\S+)", seeded.output)
    assert len(licenses) == 1 and len(licenses[0]) == 43
    assert "master signing secret (shown once)" in seeded.output

    again = runner.invoke(app, ["seed", "--demo"])
    assert again.exit_code == 0, again.output
    assert "license" not in again.output  # idempotent: nothing new, nothing shown

    masters = runner.invoke(cli, ["masters"])
    assert "'Demo Master'" in masters.output and "1 master(s)" in masters.output
    master_id = masters.output.split()[0]
    subs = runner.invoke(cli, ["subscriptions", "--user", "demo-follower@example.com"])
    assert "SYNCED" in subs.output and "1 subscription(s)" in subs.output
    sub_id = subs.output.split()[0]

    suspended = runner.invoke(cli, ["suspend", sub_id, "--reason", "KYC"])
    assert suspended.exit_code == 0 and "SUSPENDED_ADMIN" in suspended.output
    twice = runner.invoke(cli, ["suspend", sub_id])
    assert twice.exit_code == 1 and "error:" in twice.output
    lifted = runner.invoke(cli, ["suspend", sub_id, "--undo"])
    assert "is SYNCED" in lifted.output

    signals = runner.invoke(cli, ["signals", master_id])
    assert signals.exit_code == 0 and "0 signal(s)" in signals.output
