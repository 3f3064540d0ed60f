"""One replica of the service for the reward race: runs `family.daily_rewards` once at a fixed
instant (after a start barrier) and prints whether it ran or found the period claimed."""

import asyncio
import os
import sys
from datetime import datetime

from tessera.core.config import Settings
from tessera.core.jobs import Scheduler
from tessera.core.modules import all_parts
from tessera.core.runtime import Runtime
from tessera.modules.family.jobs import JOBS


async def main(at: str, barrier: str) -> None:
    settings = Settings()
    runtime = Runtime.build(settings, all_parts(settings.modules))
    fixed = datetime.fromisoformat(at)
    scheduler = Scheduler(runtime.db, JOBS, runtime, clock=lambda: fixed)
    print("READY", flush=True)
    while not os.path.exists(barrier):
        await asyncio.sleep(0.01)
    ran = await scheduler.run_job(JOBS[0])
    print("RAN" if ran else "SKIPPED", flush=True)
    await runtime.close()


asyncio.run(main(sys.argv[1], sys.argv[2]))
