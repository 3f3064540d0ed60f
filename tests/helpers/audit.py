"""The audit log as its tests and other parts' tests use it: sequence now, then verify."""

from __future__ import annotations

from tessera.core.audit.sequencer import Sequencer, create_signing_key
from tessera.core.audit.verify import LogReport, verify_log
from tessera.core.config import Settings
from tessera.core.db.engine import Database

TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"  # the suite's (tests/conftest.py)


def audit_settings(database_url: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None, env="test", secret_key=TEST_SECRET, database_url=database_url
    )


async def sequence_and_verify(db: Database) -> LogReport:
    """Create the signing key if missing, sequence every committed row, verify the log."""
    settings = audit_settings(db.url)
    await create_signing_key(db, settings)
    await Sequencer(db, settings).run_once()
    async with db.session(write=False) as session:
        return await verify_log(session, max_merge_delay=settings.audit_max_merge_delay_seconds)
