"""Copy trading (seed 001): master traders, subscriptions with one-time license tokens, the
bots' API (status, protection events, heartbeats), trust score, risk policy, the signal relay
and fees through the core ledger.

The module's face: its router, jobs, start-up and demo hooks, the `/auth/me` fields and the
`tessera copytrading …` commands. `docs/copytrading.md` is the long form.
"""

from __future__ import annotations

from tessera.core.modules import ModuleSpec
from tessera.core.runtime import Runtime
from tessera.modules.copytrading import models
from tessera.modules.copytrading.cli import cli
from tessera.modules.copytrading.config import CopytradingSettings
from tessera.modules.copytrading.demo import seed_demo
from tessera.modules.copytrading.endpoints import router
from tessera.modules.copytrading.jobs import JOBS
from tessera.modules.copytrading.service import profile
from tessera.modules.copytrading.state import CopytradingState


async def _start(runtime: Runtime) -> None:
    runtime.provide(CopytradingState.build(runtime))


module = ModuleSpec(
    name="copytrading",
    settings=CopytradingSettings,
    models=models,
    routers=[router],
    cors_headers=("X-License-Token",),
    jobs=JOBS,
    on_startup=[_start],
    on_demo_seed=[seed_demo],
    cli=cli,
    profile=profile,
)
