from pathlib import Path

import pytest
from sqlalchemy import select

from tessera.core.config import InsecureSettings
from tessera.core.db.engine import Database
from tessera.core.jobs.models import JobRun
from tessera.worker import run_job_once
from tests.conftest import make_settings
from tests.helpers.cli import database_env, run_tessera


async def test_jobs_list_and_run_claim_the_current_period(database_url: str) -> None:
    env = database_env(database_url)
    listed = await run_tessera("jobs", "list", env=env)
    assert listed.returncode == 0 and "idempotency.purge" in listed.stdout
    first = await run_tessera("jobs", "run", "idempotency.purge", env=env)
    again = await run_tessera("jobs", "run", "idempotency.purge", env=env)
    forced = await run_tessera("jobs", "run", "idempotency.purge", "--force", env=env)
    assert "idempotency.purge: ran" in first.stdout
    assert "already ran this period" in again.stdout
    assert "idempotency.purge: ran" in forced.stdout
    db = Database(database_url)
    async with db.session(write=False) as session:
        runs = list(
            await session.scalars(select(JobRun).where(JobRun.job_name == "idempotency.purge"))
        )
    await db.dispose()
    assert len(runs) == 2 and any(run.period_key.startswith("manual:") for run in runs)


async def test_running_an_unknown_job_fails_clearly(database_url: str) -> None:
    result = await run_tessera("jobs", "run", "no.such.job", env=database_env(database_url))
    assert result.returncode != 0
    assert result.returncode == 1
    assert result.stderr.strip() == "error: no job named 'no.such.job'; see `tessera jobs list`"


async def test_worker_and_operator_commands_refuse_unsafe_production_settings(
    database_url: str,
) -> None:
    env = {**database_env(database_url), "TESSERA_ENV": "production", "SECRET_KEY": "changeme"}
    for command in (("worker",), ("jobs", "list"), ("migrate",)):
        result = await run_tessera(*command, env=env)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert "SECRET_KEY is missing or a placeholder" in result.stderr


async def test_the_worker_checks_its_settings_when_started_in_process(
    database_url: str, tmp_path: Path
) -> None:
    unsafe = make_settings(database_url, tmp_path, env="production", secret_key="changeme")
    with pytest.raises(InsecureSettings):
        await run_job_once(unsafe, "idempotency.purge")
