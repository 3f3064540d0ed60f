"""Adding a module touches nothing outside its folder: a throwaway module, written into a
temporary folder at test time, brings its settings, table, route, job, CLI and hooks through
its spec alone, and the app, the scheduler, `/auth/me` and the `tessera` command pick them up."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent

import httpx2
import pytest
from asgi_lifespan import LifespanManager
from typer.testing import CliRunner

import tessera
import tessera.modules
from tessera import cli
from tessera.app import create_app
from tessera.core.db.base import Base
from tessera.core.modules import available_modules
from tests.conftest import make_settings
from tests.helpers.identity import register_and_login

SCRATCH = {
    "__init__.py": '''
        """A throwaway module: the spec is all the core sees."""
        from tessera.core.modules import ModuleSpec
        from tessera.modules.scratch import models
        from tessera.modules.scratch.parts import (
            JOBS, ScratchSettings, cli, greet, note_registration, router,
        )

        module = ModuleSpec(
            name="scratch",
            settings=ScratchSettings,
            models=models,
            routers=[router],
            jobs=JOBS,
            cli=cli,
            on_user_registered=[note_registration],
            profile=greet,
        )
    ''',
    "models.py": """
        from sqlalchemy import String
        from sqlalchemy.orm import Mapped, mapped_column

        from tessera.core.db.base import Base, UUIDPrimaryKey


        class ScratchNote(UUIDPrimaryKey, Base):
            __tablename__ = "scratch_notes"
            text: Mapped[str] = mapped_column(String(200))
    """,
    "parts.py": """
        from datetime import timedelta

        import typer
        from fastapi import APIRouter
        from pydantic_settings import SettingsConfigDict
        from sqlalchemy import func, select

        from tessera.core.config import ModuleSettings
        from tessera.core.db import DbSession
        from tessera.core.jobs import Job
        from tessera.core.modules import ProfileFields
        from tessera.modules.scratch.models import ScratchNote


        class ScratchSettings(ModuleSettings):
            model_config = SettingsConfigDict(env_prefix="TESSERA_SCRATCH_")
            greeting: str = "hello"


        router = APIRouter(prefix="/scratch")


        @router.get("/notes")
        async def notes(session: DbSession) -> list[str]:
            return list((await session.scalars(select(ScratchNote.text))).all())


        async def note_registration(session, user):
            session.add(ScratchNote(text=f"registered {user.email}"))


        greet = ProfileFields(
            query=lambda user_id: select(func.count(ScratchNote.id).label("notes")),
            render=lambda row: {
                "scratch_greeting": ScratchSettings().greeting, "scratch_notes": row["notes"]
            },
        )


        async def tidy(ctx):
            ctx.session.add(ScratchNote(text="tidied"))


        JOBS = [Job("scratch.tidy", timedelta(hours=1), tidy, "tidy the notes")]
        cli = typer.Typer(help="The throwaway module.")


        @cli.command()
        def hello() -> None:
            typer.echo(ScratchSettings().greeting + " from scratch")
    """,
}


@pytest.fixture(scope="module")
def scratch_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The module's folder, written where the package looks for modules (its search path
    extended to a temporary folder: nothing in the source tree changes). Imported once for
    both engines; forgotten afterwards."""
    folder = tmp_path_factory.mktemp("plugins") / "modules"
    package = folder / "scratch"
    package.mkdir(parents=True)
    for name, source in SCRATCH.items():
        (package / name).write_text(dedent(source).lstrip())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tessera.modules, "__path__", [*tessera.modules.__path__, str(folder)])
        patch.setattr(cli.app, "registered_groups", list(cli.app.registered_groups))
        yield
    for name in [m for m in sys.modules if m.startswith("tessera.modules.scratch")]:
        del sys.modules[name]
    if "scratch_notes" in Base.metadata.tables:
        Base.metadata.remove(Base.metadata.tables["scratch_notes"])


async def test_a_module_folder_is_all_it_takes(
    scratch_module: None, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TESSERA_SCRATCH_GREETING", "bonjour")
    assert "scratch" in available_modules()
    app = create_app(make_settings(database_url, tmp_path))
    async with LifespanManager(app):
        runtime = app.state.runtime
        async with runtime.db.engine.begin() as conn:  # its migration, in a real module
            await conn.run_sync(Base.metadata.tables["scratch_notes"].create)
        transport = httpx2.ASGITransport(app=app, client=("203.0.113.9", 50000))
        async with httpx2.AsyncClient(transport=transport, base_url="http://t") as client:
            user = await register_and_login(client)
            me = (await client.get("/auth/me", headers=user.headers)).json()
            assert me["scratch_greeting"] == "bonjour" and me["email"] == user.email
            assert me["scratch_notes"] == 1  # its registration hook's note, read by its query
            assert (await client.get("/scratch/notes")).json() == [f"registered {user.email}"]
            assert await runtime.scheduler.run_job(runtime.scheduler.jobs["scratch.tidy"])
            notes = (await client.get("/scratch/notes")).json()
            assert sorted(notes) == sorted([f"registered {user.email}", "tidied"])

    monkeypatch.setenv("TESSERA_SCRATCH_GREETING", "salut")
    monkeypatch.setattr(cli.app, "registered_groups", list(cli.app.registered_groups))
    cli._add_part_commands()  # what `tessera` does at start
    hello = CliRunner().invoke(cli.app, ["scratch", "hello"])
    assert hello.exit_code == 0, hello.output
    assert hello.output.strip() == "salut from scratch"
    jobs = CliRunner().invoke(cli.app, ["jobs", "list"])
    assert "scratch.tidy" in jobs.output


def test_no_core_file_names_a_module() -> None:
    src = Path(tessera.__file__).parent
    core_files = [*src.glob("*.py"), *(src / "core").rglob("*.py")]
    for name in available_modules():
        named = re.compile(rf"modules[./]{name}\b|[\"']{name}[\"']")
        offenders = [str(p) for p in core_files if named.search(p.read_text(encoding="utf-8"))]
        assert offenders == [], f"{name} is named by {offenders}"
