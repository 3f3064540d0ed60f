"""The operator's commands, run as real processes: bootstrap (make run), create-admin,
seed --demo, api-keys, identity end-sessions."""

from __future__ import annotations

import asyncio
import re
import subprocess
from dataclasses import dataclass
from typing import Any

import httpx2
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from tessera.cli import app as tessera_app
from tessera.core.config import Settings, get_settings
from tessera.core.identity.cli import cli as identity_cli
from tessera.core.identity.models import ApiKey, User
from tessera.core.identity.secret_tokens import sha256_hex
from tests.conftest import settings_env
from tests.helpers.cli import run_tessera
from tests.helpers.identity import login, register_and_login

PRINTED_PASSWORD = re.compile(r"password[^:\n]*: (\S+)")


async def tessera(
    settings: Settings, *args: str, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    """`tessera …` as a real process (what `make run` does)."""
    return await run_tessera(*args, env={**settings_env(settings), **extra_env})


WITH_PART_COMMANDS = typer.Typer()  # `tessera identity …`, as `main()` mounts it
WITH_PART_COMMANDS.add_typer(identity_cli, name="identity")


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


async def cli(settings: Settings, *args: str, **extra_env: str) -> Ran:
    """The same commands in this process (a process start costs seconds): the environment
    is the only input, exactly as for the real command."""
    command = WITH_PART_COMMANDS if args[0] == "identity" else tessera_app
    argv = list(args)
    env = {**settings_env(settings), "TESSERA_LOG_LEVEL": "ERROR", **extra_env}

    def invoke() -> Ran:
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(command, argv, env=env)
        finally:
            get_settings.cache_clear()
        return Ran(result.exit_code, result.stdout, result.stderr)

    return await asyncio.to_thread(invoke)


async def users(runtime: Any) -> dict[str, User]:
    async with runtime.db.session(write=False) as session:
        return {u.email: u for u in await session.scalars(select(User))}


async def test_bootstrap_creates_the_first_admin_once_and_prints_its_password(
    settings: Settings, client: httpx2.AsyncClient, runtime: Any
) -> None:
    first = await tessera(settings, "bootstrap")
    assert first.returncode == 0, first.stderr
    assert "created the first admin admin@example.com" in first.stdout
    password = PRINTED_PASSWORD.search(first.stdout)
    assert password, first.stdout
    tokens = await login(client, "admin@example.com", password.group(1))
    me = await client.get("/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.json()["is_admin"] is True
    again = await cli(settings, "bootstrap")
    assert "accounts exist; no admin created" in again.stdout
    assert not PRINTED_PASSWORD.search(again.stdout)
    assert len(await users(runtime)) == 1


async def test_bootstrap_takes_the_admin_from_the_environment(
    settings: Settings, client: httpx2.AsyncClient
) -> None:
    result = await cli(
        settings,
        "bootstrap",
        TESSERA_ADMIN_EMAIL="Ops@Example.com",
        TESSERA_ADMIN_PASSWORD="an-operator-chosen-passphrase",
    )
    assert "created the first admin ops@example.com" in result.stdout
    assert "an-operator-chosen-passphrase" not in result.stdout + result.stderr
    await login(client, "ops@example.com", "an-operator-chosen-passphrase")


async def test_no_default_credentials_exist(client: httpx2.AsyncClient) -> None:
    for email, password in [
        ("admin@example.com", "admin"),
        ("admin@example.com", "admin_password_123"),
        ("root@example.com", "rootroot"),
    ]:
        response = await client.post("/auth/login", json={"email": email, "password": password})
        assert response.status_code == 401


async def test_create_admin_creates_or_promotes(
    settings: Settings, client: httpx2.AsyncClient, runtime: Any
) -> None:
    created = await cli(
        settings, "create-admin", "--email", "boss@example.com", "--password", "boss-passphrase-77"
    )
    assert created.returncode == 0 and "created admin boss@example.com" in created.stdout
    await login(client, "boss@example.com", "boss-passphrase-77")
    user = await register_and_login(client)
    promoted = await cli(settings, "create-admin", "--email", user.email, "--generate")
    assert "is an admin now" in promoted.stdout
    assert (await client.get("/admin/users", headers=user.headers)).status_code == 200
    weak = await cli(
        settings, "create-admin", "--email", "w@example.com", "--password", "password1"
    )
    assert weak.returncode == 2 and "too common" in weak.stderr
    assert "w@example.com" not in await users(runtime)


async def test_seed_demo_creates_the_admin_and_tester_with_printed_passwords(
    settings: Settings, client: httpx2.AsyncClient, runtime: Any
) -> None:
    result = await cli(settings, "seed", "--demo")
    assert result.returncode == 0, result.stderr
    passwords = PRINTED_PASSWORD.findall(result.stdout)
    assert len(passwords) == 2 and passwords[0] != passwords[1]
    await login(client, "admin@example.com", passwords[0])
    await login(client, "tester@example.com", passwords[1])
    accounts = await users(runtime)
    assert accounts["admin@example.com"].is_admin and not accounts["tester@example.com"].is_admin
    again = await cli(settings, "seed", "--demo")
    assert again.stdout.count("already exists") == 2 and not PRINTED_PASSWORD.search(again.stdout)


async def test_api_keys_create_list_revoke(settings: Settings, runtime: Any) -> None:
    created = await cli(
        settings, "api-keys", "create", "--name", "validator-7", "--role", "validator"
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("tsk_")
    async with runtime.db.session(write=False) as session:
        row = await session.scalar(select(ApiKey).where(ApiKey.key_hash == sha256_hex(key)))
    assert row is not None and (row.role, row.name, row.created_by) == (
        "validator",
        "validator-7",
        "cli",
    )
    listed = await cli(settings, "api-keys", "list")
    assert row.id in listed.stdout and key not in listed.stdout
    revoked = await cli(settings, "api-keys", "revoke", row.id)
    assert revoked.returncode == 0
    unknown = await cli(settings, "api-keys", "revoke", "no-such-key")
    assert (unknown.returncode, unknown.stderr.strip()) == (1, "error: API key not found")
    bad_role = await cli(settings, "api-keys", "create", "--name", "x", "--role", "Bad Role")
    assert bad_role.returncode == 1 and "Role must be" in bad_role.stderr
    async with runtime.db.session(write=False) as session:
        assert (await session.get(ApiKey, row.id)).revoked_at is not None  # type: ignore[union-attr]


async def test_identity_end_sessions_is_a_kill_switch(
    settings: Settings, client: httpx2.AsyncClient
) -> None:
    user = await register_and_login(client)
    assert (await client.get("/auth/me", headers=user.headers)).status_code == 200
    result = await cli(settings, "identity", "end-sessions", user.email)
    assert "1 session(s) ended" in result.stdout
    assert (await client.get("/auth/me", headers=user.headers)).status_code == 401
