"""The migrations are the only way tables come to exist; they must match the models exactly."""

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from tessera.core.db.migrate import alembic_config, downgrade, upgrade
from tessera.models import metadata


async def _diff(url: str) -> list[Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), metadata
                )
            )
    finally:
        await engine.dispose()


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def test_models_and_migrations_agree(database_url: str) -> None:
    assert await _diff(database_url) == []


async def test_every_model_table_is_created_by_migrations(database_url: str) -> None:
    assert set(metadata.tables) <= await _tables(database_url)


def test_history_is_one_linear_line() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite:///unused.db"))
    assert len(script.get_heads()) == 1
    assert len(script.get_bases()) == 1


async def test_downgrade_to_base_and_back(database_url: str) -> None:
    # Alembic runs its own event loop, so it runs in a worker thread here.
    import asyncio

    await asyncio.to_thread(downgrade, database_url, "base")
    assert await _tables(database_url) <= {"alembic_version"}
    await asyncio.to_thread(upgrade, database_url)
    assert await _diff(database_url) == []
