"""Issuer keys in the database: sealed, unique per truncated id while live, made on first start."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr
from sqlalchemy import select, update
from tests.conftest import TEST_SECRET, make_settings

from tessera.app import create_app
from tessera.client import tokens as sdk
from tessera.core.config import InsecureSettings, Settings
from tessera.core.db.base import utcnow
from tessera.modules.tokens.config import TokensConfig, TokensSettings
from tessera.modules.tokens.keyring import generate_key
from tessera.modules.tokens.models import TokenKey
from tessera.modules.tokens.repository import TokensRepository
from tessera.modules.tokens.state import TokensState
from tessera.protocols.tokens import keys


async def key_rows(runtime: Any) -> list[TokenKey]:
    async with runtime.db.session(write=False) as session:
        return list(await session.scalars(select(TokenKey)))


async def test_private_keys_are_stored_sealed(
    runtime: Any, issuer: sdk.IssuerKey, issuer_key: rsa.RSAPrivateKey, tokens_state: TokensState
) -> None:
    (row,) = await key_rows(runtime)
    der = issuer_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert row.sealed_private_key is not None
    assert der[-64:] not in row.sealed_private_key  # no plaintext key material at rest
    opened = keys.unseal_private_key(
        row.sealed_private_key, tokens_state.config.kek, associated_data=issuer.key_id
    )
    assert opened.private_numbers() == issuer_key.private_numbers()
    with pytest.raises(keys.TokenKeyError):
        keys.unseal_private_key(
            row.sealed_private_key,
            keys.kek_from_secret("some other key-encryption secret"),
            associated_data=issuer.key_id,
        )


async def test_generation_skips_truncated_ids_of_live_keys(
    runtime: Any,
    issuer: sdk.IssuerKey,
    issuer_key: rsa.RSAPrivateKey,
    tokens_state: TokensState,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fresh = keys.generate_private_key()
    offered = iter([issuer_key, fresh])  # the first one collides with the live issuer key
    monkeypatch.setattr(keys, "generate_private_key", lambda: next(offered))
    async with runtime.db.session() as session:
        stored = await generate_key(
            session, tokens_state.config.kek, not_before=utcnow(), lifetime=timedelta(days=1)
        )
    assert stored.public_key.public_numbers() == fresh.public_key().public_numbers()
    assert len(await key_rows(runtime)) == 2


async def test_the_database_refuses_two_live_keys_in_one_slot(
    runtime: Any, issuer: sdk.IssuerKey
) -> None:
    now = utcnow()
    clash = {
        "key_id": os.urandom(31).hex() + f"{issuer.truncated_key_id:02x}",
        "truncated_id": issuer.truncated_key_id,
        "live_slot": issuer.truncated_key_id,
        "public_spki": b"not used",
        "sealed_private_key": None,
        "not_before": now,
        "expires_at": now + timedelta(days=1),
    }
    async with runtime.db.session() as session:
        assert await TokensRepository(session).insert_key(**clash) is None

    # Once the live key has expired, its slot is released and the id may be reused.
    async with runtime.db.session() as session:
        await session.execute(update(TokenKey).values(expires_at=now - timedelta(seconds=1)))
        repo = TokensRepository(session)
        assert await repo.release_expired_slots(utcnow()) == 1
        assert await repo.insert_key(**clash) is not None


async def test_a_development_server_makes_its_first_key(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path, env="development")
    seen = []
    for _start in range(2):  # a restart keeps the key it made
        app = create_app(settings)
        async with LifespanManager(app):
            transport = httpx2.ASGITransport(app=app)
            async with httpx2.AsyncClient(transport=transport, base_url="http://t") as client:
                published = (await client.get("/keys/public")).json()
        assert len(published) == 1
        assert published[0]["truncated_key_id"] == bytes.fromhex(published[0]["key_id"])[-1]
        seen.append(published[0]["key_id"])
    assert seen[0] == seen[1]


def test_production_needs_its_own_key_encryption_key(tmp_path: Path) -> None:
    base: dict[str, Any] = {"env": "production", "secret_key": TEST_SECRET, "data_dir": tmp_path}
    with pytest.raises(InsecureSettings, match="TESSERA_TOKENS_KEK"):
        TokensConfig.from_settings(Settings(_env_file=None, **base))  # type: ignore[call-arg]
    with pytest.raises(InsecureSettings):
        TokensConfig.from_settings(
            Settings(
                _env_file=None, **base, module_settings=[TokensSettings(kek=SecretStr("short"))]
            )  # type: ignore[call-arg]
        )
    config = TokensConfig.from_settings(
        Settings(_env_file=None, **base, module_settings=[TokensSettings(kek=SecretStr("k" * 40))])  # type: ignore[call-arg]
    )
    assert config.kek == keys.kek_from_secret("k" * 40)
    assert not config.test_provider_enabled
