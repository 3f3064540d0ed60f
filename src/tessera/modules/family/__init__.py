"""Households with parent and child roles: tasks, privileges, rules, violations, contracts
that pay a daily reward once per day, child wallets, calendar feeds and analytics (seed 003).

The module's face: its settings, tables, routers, jobs, `tessera family …` commands, the
demo household and the hooks identity calls (invited sign-up, joining on sign-up, the
`/auth/me` profile fields).
"""

from __future__ import annotations

from tessera.core.modules import ModuleSpec
from tessera.modules.family import models
from tessera.modules.family.cli import cli
from tessera.modules.family.config import FamilySettings
from tessera.modules.family.demo import seed_demo_family
from tessera.modules.family.endpoints import router
from tessera.modules.family.families import join_invited_family, profile, signup_allowed
from tessera.modules.family.jobs import JOBS
from tessera.modules.family.record_endpoints import contracts, privileges, rules, violations
from tessera.modules.family.task_endpoints import router as tasks_router

module = ModuleSpec(
    name="family",
    settings=FamilySettings,
    models=models,
    routers=[router, tasks_router, privileges, rules, violations, contracts],
    jobs=JOBS,
    on_demo_seed=[seed_demo_family],
    cli=cli,
    on_user_registered=[join_invited_family],
    profile=profile,
    signup_allowed=signup_allowed,
)
