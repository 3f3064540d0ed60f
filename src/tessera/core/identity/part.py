"""The identity part: auth, security, OpenID Connect and admin routers, the session purge
job, first-admin bootstrap."""

from __future__ import annotations

from tessera.core.identity import models
from tessera.core.identity.bootstrap import create_first_admin
from tessera.core.identity.cli import cli
from tessera.core.identity.endpoints import admin, auth, oidc, security
from tessera.core.identity.jobs import PURGE_EXPIRED_SESSIONS
from tessera.core.identity.state import install
from tessera.core.modules import ModuleSpec

module = ModuleSpec(
    name="identity",
    models=models,
    routers=[auth.router, security.router, oidc.router, admin.router],
    path_aliases={**auth.ALIASES, **security.ALIASES, **oidc.ALIASES},
    # The double-submit CSRF header: ours, and the one axios sends from its XSRF-TOKEN cookie.
    cors_headers=("X-CSRF-Token", "X-XSRF-TOKEN"),
    jobs=[PURGE_EXPIRED_SESSIONS],
    on_startup=[install],
    on_bootstrap=[create_first_admin],
    cli=cli,
)
