"""The test harness: every `engine`-parametrised test runs on SQLite and on PostgreSQL (+ Redis).

- Databases are built by the real migrations, once per run into a template, then cloned per
  test (a file copy on SQLite, `CREATE DATABASE … TEMPLATE` on PostgreSQL) and dropped after.
- Under `CI=true` PostgreSQL and Redis are required: the run stops if they are unreachable.
  Elsewhere their tests are skipped and the summary says so.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx2
import pytest
from asgi_lifespan import LifespanManager
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from tessera.app import create_app
from tessera.core.config import Settings
from tessera.core.db.migrate import upgrade
from tests.helpers.server import serve

CI = os.environ.get("CI", "").lower() == "true"
PG_URL = os.environ.get("TESSERA_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TESSERA_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
RUN_ID = uuid.uuid4().hex[:8]


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), 1
        ):
            return True
    except OSError:
        return False


PG_AVAILABLE = _reachable(PG_URL, 5432)
REDIS_AVAILABLE = _reachable(REDIS_URL, 6379)


def pytest_configure(config: pytest.Config) -> None:
    if CI and not (PG_AVAILABLE and REDIS_AVAILABLE):
        missing = [
            n for n, ok in (("PostgreSQL", PG_AVAILABLE), ("Redis", REDIS_AVAILABLE)) if not ok
        ]
        pytest.exit(f"CI=true but {' and '.join(missing)} unreachable ({PG_URL}, {REDIS_URL})", 3)


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"tessera engines: sqlite; postgresql={'yes' if PG_AVAILABLE else 'NO (skipped)'} "
        f"({PG_URL}); redis={'yes' if REDIS_AVAILABLE else 'NO (skipped)'} ({REDIS_URL})"
    ]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not PG_AVAILABLE:
        terminalreporter.write_line(
            f"NOTE: PostgreSQL unreachable at {PG_URL}: its variants were skipped"
        )
    if not REDIS_AVAILABLE:
        terminalreporter.write_line(
            f"NOTE: Redis unreachable at {REDIS_URL}: its variants were skipped"
        )


# --- PostgreSQL helpers ----------------------------------------------------------------------


def pg_database_url(name: str) -> str:
    parsed = urlparse(PG_URL)
    return f"postgresql+asyncpg://{parsed.netloc}/{name}"


def pg_admin(sql: str) -> None:
    """Run one statement on the maintenance database (CREATE/DROP DATABASE need autocommit)."""
    import asyncpg

    async def run() -> None:
        parsed = urlparse(PG_URL)
        conn = await asyncpg.connect(
            host=parsed.hostname,
            port=parsed.port or 5432,
            user=parsed.username or "postgres",
            database=parsed.path.lstrip("/") or "postgres",
        )
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def require_pg() -> None:
    if not PG_AVAILABLE:
        pytest.skip(f"PostgreSQL unreachable at {PG_URL}")


def require_redis() -> None:
    if not REDIS_AVAILABLE:
        pytest.skip(f"Redis unreachable at {REDIS_URL}")


# --- Migrated templates, cloned per test -----------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    require_pg()
    name = f"tessera_tmpl_{RUN_ID}"
    pg_admin(f'DROP DATABASE IF EXISTS "{name}"')
    pg_admin(f'CREATE DATABASE "{name}"')
    upgrade(pg_database_url(name))
    yield name
    pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def engine(request: pytest.FixtureRequest) -> str:
    """Parametrises a test over both database engines."""
    if request.param == "postgresql":
        require_pg()
        if CI or REDIS_AVAILABLE:
            require_redis()
    return str(request.param)


@pytest.fixture
def database_url(engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated database of the test's engine, dropped afterwards."""
    if engine == "sqlite":
        path = tmp_path / "tessera.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    template = request.getfixturevalue("pg_template")
    name = f"tessera_t_{RUN_ID}_{uuid.uuid4().hex[:10]}"
    pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield pg_database_url(name)
    pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_settings(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "database_url": database_url,
        "redis_url": REDIS_URL if database_url.startswith("postgresql") else None,
        "redis_prefix": f"t{uuid.uuid4().hex[:12]}",
        "secret_key": TEST_SECRET,
        "password_hash_fast": True,
        "scheduler": "off",
        "data_dir": tmp_path / "data",
        "log_json": True,
        "log_level": "WARNING",
        # The production Redis timeouts (0.5 s) assume the process gets its CPU; on a test
        # machine shared by parallel runs a healthy Redis can look that slow, and the tests of
        # a healthy Redis would see its fallbacks instead. The black-hole tests set their own.
        "redis_timeout_seconds": 3,
        "redis_connect_timeout_seconds": 3,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx2.AsyncClient]:
    transport = httpx2.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def runtime(app: Any) -> Any:
    return app.state.runtime


# --- A real server over real HTTP ------------------------------------------------------------


def _env_of(model: BaseSettings) -> dict[str, str]:
    env: dict[str, str] = {}
    prefix = str(model.model_config.get("env_prefix", ""))
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if value is None or field.exclude:
            continue
        alias = field.validation_alias
        if alias is None:
            variable = f"{prefix}{name}".upper()
        else:
            variable = alias if isinstance(alias, str) else alias.choices[0]  # type: ignore[union-attr]
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, list):
            value = ",".join(value)
        elif isinstance(value, bool):
            value = str(value).lower()
        elif isinstance(value, Enum):
            value = value.value
        env[str(variable)] = str(value)
    return env


def settings_env(settings: Settings) -> dict[str, str]:
    """Environment variables that reproduce `settings` (and the module settings given to it)
    exactly in another process."""
    env = _env_of(settings)
    for module_settings in settings.module_settings:
        env.update(_env_of(module_settings))
    env["TESSERA_DATABASE_URL"] = settings.resolved_database_url
    return env


@pytest.fixture
def live_server(settings: Settings) -> Iterator[str]:
    """`tessera serve` in a subprocess serving `settings`; yields its base URL."""
    with serve(settings, settings.data_dir / "live_server.log") as base:
        yield base
