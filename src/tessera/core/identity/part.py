"""The identity part: auth and admin routers, the session purge job, first-admin bootstrap."""

from __future__ import annotations

from tessera.core.identity import models
from tessera.core.identity.bootstrap import create_first_admin
from tessera.core.identity.cli import cli
from tessera.core.identity.endpoints import admin, auth
from tessera.core.identity.jobs import PURGE_EXPIRED_SESSIONS
from tessera.core.identity.state import install
from tessera.core.modules import ModuleSpec

module = ModuleSpec(
    name="identity",
    models=models,
    routers=[auth.router, admin.router],
    path_aliases=auth.ALIASES,
    jobs=[PURGE_EXPIRED_SESSIONS],
    on_startup=[install],
    on_bootstrap=[create_first_admin],
    cli=cli,
)
