from sqlalchemy import select

from tessera.core.db.engine import Database
from tessera.core.jobs.models import JobRun
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
