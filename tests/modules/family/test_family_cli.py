"""`tessera family create` and the `tessera seed --demo` household: accounts with no password
that sign in with Google, in a family of the right shape."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import select
from tests.conftest import TEST_SECRET
from typer.testing import CliRunner

from tessera.core.config import get_settings
from tessera.core.db.engine import Database
from tessera.core.identity.models import User
from tessera.modules.family.cli import cli
from tessera.modules.family.demo import seed_demo_family
from tessera.modules.family.models import Contract, Family, Member

runner = CliRunner()


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name, value in {
        "TESSERA_ENV": "test",
        "TESSERA_DATABASE_URL": database_url,
        "TESSERA_SECRET_KEY": TEST_SECRET,
        "TESSERA_DATA_DIR": str(tmp_path / "data"),
        "TESSERA_PASSWORD_HASH_FAST": "true",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def _members(url: str) -> list[tuple[str, str, str, bool, str | None]]:
    async def read() -> list[tuple[str, str, str, bool, str | None]]:
        db = Database(url)
        try:
            async with db.session(write=False) as session:
                rows = await session.execute(
                    select(
                        Family.timezone, Member.role, Member.name, User.hashed_password, User.email
                    )
                    .join(Member, Member.family_id == Family.id)
                    .join(User, User.id == Member.user_id)
                    .order_by(Member.role.desc(), Member.name)
                )
                return [(tz, role, name, pw is None, email) for tz, role, name, pw, email in rows]
        finally:
            await db.dispose()

    return asyncio.run(read())


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_family_create_makes_passwordless_members(cli_env: str) -> None:
    result = runner.invoke(
        cli,
        [
            "create",
            "--name", "Famille Martin",
            "--tz", "Europe/Brussels",
            "--parent", "Papa@Example.com:Paul Martin",
            "--parent", "maman@example.com",
            "--child", "zoe@example.com:Zoé:2016-09-30",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "family " in result.output and "zoe@example.com" in result.output
    assert _members(cli_env) == [
        ("Europe/Brussels", "parent", "Paul Martin", True, "papa@example.com"),
        ("Europe/Brussels", "parent", "maman", True, "maman@example.com"),
        ("Europe/Brussels", "child", "Zoé", True, "zoe@example.com"),
    ]
    again = runner.invoke(
        cli, ["create", "--name", "Bis", "--tz", "Europe/Paris", "--parent", "papa@example.com"]
    )
    assert again.exit_code == 1 and "already belongs to a family" in again.output
    bad = runner.invoke(
        cli, ["create", "--name", "X", "--tz", "Mars/Olympus", "--parent", "x@example.com"]
    )
    assert bad.exit_code == 1 and "unknown IANA time zone" in bad.output
    child = runner.invoke(
        cli,
        [
            "create",
            "--name",
            "X",
            "--tz",
            "UTC",
            "--parent",
            "y@example.com",
            "--child",
            "k@example.com",
        ],
    )
    assert child.exit_code == 2 and "EMAIL:NAME:YYYY-MM-DD" in child.output
    listed = runner.invoke(cli, ["list"])
    assert "Famille Martin [Europe/Brussels]: Paul Martin (parent)" in listed.output


async def test_the_demo_household_is_seeded_once(
    client: httpx2.AsyncClient, runtime: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    await seed_demo_family(runtime)
    await seed_demo_family(runtime)
    out = capsys.readouterr().out
    assert "created Famille Dory-Delmer" in out and "seeded before" in out
    async with runtime.db.session(write=False) as session:
        members = list(await session.scalars(select(Member).order_by(Member.name)))
        contracts = list(await session.scalars(select(Contract)))
    assert [(m.name, m.role) for m in members] == [
        ("Elea", "child"),
        ("Joleen", "child"),
        ("Laurie Delmer", "parent"),
        ("Thibault Dory", "parent"),
    ]
    assert len(contracts) == 1 and contracts[0].daily_reward_cents == 100
