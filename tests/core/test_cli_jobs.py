import asyncio
import subprocess
import sys

from sqlalchemy import select

from tessera.core.db.engine import Database
from tessera.core.jobs.models import JobRun


def tessera(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "TESSERA_DATABASE_URL": database_url,
        "PATH": "/usr/bin:/bin",
        "TESSERA_LOG_LEVEL": "ERROR",
    }
    return subprocess.run(
        [sys.executable, "-m", "tessera", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


async def test_jobs_list_and_run_claim_the_current_period(database_url: str) -> None:
    listed = await asyncio.to_thread(tessera, database_url, "jobs", "list")
    assert listed.returncode == 0 and "idempotency.purge" in listed.stdout
    first = await asyncio.to_thread(tessera, database_url, "jobs", "run", "idempotency.purge")
    again = await asyncio.to_thread(tessera, database_url, "jobs", "run", "idempotency.purge")
    forced = await asyncio.to_thread(
        tessera, database_url, "jobs", "run", "idempotency.purge", "--force"
    )
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
    result = await asyncio.to_thread(tessera, database_url, "jobs", "run", "no.such.job")
    assert result.returncode != 0
    assert result.returncode == 1
    assert result.stderr.strip() == "error: no job named 'no.such.job'; see `tessera jobs list`"
