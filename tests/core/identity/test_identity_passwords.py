"""Password storage and policy."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from typing import Any

import bcrypt
import httpx2
import pytest
from sqlalchemy import select

from tessera.core.config import InsecureSettings, Settings
from tessera.core.identity.models import User
from tessera.core.identity.passwords import (
    HASH_THREAD_NICENESS,
    PasswordHasher,
    common_passwords,
)
from tests.conftest import TEST_SECRET
from tests.core.identity.conftest import AppFactory, audit_rows
from tests.helpers.identity import DEFAULT_PASSWORD, login, register_and_login


def new_email() -> str:
    return f"pw-{uuid.uuid4().hex[:8]}@example.com"


async def stored_hash(runtime: Any, user_id: str) -> str:
    async with runtime.db.session(write=False) as session:
        value = await session.scalar(select(User.hashed_password).where(User.id == user_id))
    assert value is not None
    return value


async def register(client: httpx2.AsyncClient, password: str) -> httpx2.Response:
    return await client.post("/auth/register", json={"email": new_email(), "password": password})


async def test_production_hashes_are_argon2id_at_owasp_parameters(app_with: AppFactory) -> None:
    async with app_with(password_hash_fast=False) as (app, client):
        user = await register_and_login(client)
        hashed = await stored_hash(app.state.runtime, user.id)
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert user.password not in hashed


async def test_legacy_bcrypt_hash_verifies_and_is_upgraded_on_login(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    email, password = new_email(), "an-old-bcrypt-password-9"
    legacy = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    async with runtime.db.session() as session:
        user = User(email=email, hashed_password=legacy)
        session.add(user)
    await login(client, email, password)
    upgraded = await stored_hash(runtime, user.id)
    assert upgraded.startswith("$argon2id$")
    await login(client, email, password)  # the new hash verifies
    rows = await audit_rows(runtime, "auth.login")
    assert [row.details["rehashed"] for row in rows] == [True, False]


@pytest.mark.parametrize(
    ("password", "status"),
    [
        ("Seven77", 422),
        ("eight888", 201),
        ("p" + "ä" * 62 + "!", 201),
        ("L" * 127 + "x", 201),
        ("L" * 128 + "x", 422),
        ("password123", 422),
        ("  Password123  ", 422),
        ("QWERTYUIOP", 422),
        ("Summer2024", 422),
    ],
)
async def test_password_policy(client: httpx2.AsyncClient, password: str, status: int) -> None:
    response = await register(client, password)
    assert response.status_code == status, response.text


async def test_the_common_list_is_substantial() -> None:
    words = common_passwords()
    assert len(words) >= 1000
    assert {"password", "12345678", "qwertyuiop", "iloveyou"} <= words
    assert DEFAULT_PASSWORD not in words


async def test_verification_is_exact(client: httpx2.AsyncClient) -> None:
    """No truncation at bcrypt's 72 bytes, no case folding, spaces and Unicode kept."""
    password = "Ünïcode with spaces " + "z" * 60 + "TAIL-A"
    user = await register_and_login(client, password=password)
    for wrong in (password[:-1] + "B", password.lower(), password.strip() + " x"):
        response = await client.post("/auth/login", json={"email": user.email, "password": wrong})
        assert response.status_code == 401
    await login(client, user.email, password)


async def test_giant_passwords_are_refused_before_hashing(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    user = await register_and_login(client)
    started = time.perf_counter()
    huge = await client.post("/auth/login", json={"email": user.email, "password": "x" * 2_000_000})
    long = await client.post("/auth/login", json={"email": user.email, "password": "x" * 10_000})
    elapsed = time.perf_counter() - started
    assert (huge.status_code, long.status_code) == (413, 422)
    assert elapsed < 2  # generous: what matters is that no hash ran (next line)
    assert await audit_rows(runtime, "auth.login_failed") == []


async def test_hashing_runs_off_the_event_loop() -> None:
    hasher = PasswordHasher(fast=False, concurrency=2)
    hashed = await hasher.hash(DEFAULT_PASSWORD)
    assert await hasher.verify(DEFAULT_PASSWORD, hashed) == (True, None)
    assert await hasher.verify("not-it-at-all", hashed) == (False, None)
    assert await hasher.verify(DEFAULT_PASSWORD, None) == (False, None)  # dummy hash
    assert await hasher.verify(DEFAULT_PASSWORD, "not-a-hash") == (False, None)


def test_fast_hashing_is_refused_in_production(tmp_path: Any) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        env="production",
        secret_key=TEST_SECRET,
        password_hash_fast=True,
        data_dir=tmp_path,
    )
    with pytest.raises(InsecureSettings, match="PASSWORD_HASH_FAST"):
        settings.check_safe()


def test_a_mistyped_throttle_is_refused_at_start_up() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="login_ip_limit"):
        Settings(_env_file=None, login_ip_limit="ten per hour")  # type: ignore[call-arg]


async def test_hashing_threads_yield_the_cpu_to_the_event_loop() -> None:
    hasher = PasswordHasher(fast=True, concurrency=2)
    niceness: list[int] = []

    def own_niceness() -> None:
        niceness.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    await asyncio.get_running_loop().run_in_executor(hasher._pool, own_niceness)
    # Threads inherit the niceness of the thread that starts them: here, this one's.
    assert niceness == [os.getpriority(os.PRIO_PROCESS, 0) + HASH_THREAD_NICENESS]
