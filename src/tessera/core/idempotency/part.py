from datetime import timedelta

from tessera.core.idempotency import models
from tessera.core.idempotency.service import purge_expired
from tessera.core.jobs import Job, JobContext
from tessera.core.modules import ModuleSpec


async def _purge(ctx: JobContext) -> None:
    await purge_expired(ctx.session)


module = ModuleSpec(
    name="idempotency",
    models=models,
    jobs=[Job("idempotency.purge", timedelta(hours=1), _purge, "forget keys older than 24 h")],
)
