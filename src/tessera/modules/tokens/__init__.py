"""Anonymous transit tickets by RSA blind signatures (seed 000).

The module's face: its routers, its scheduled job, its start-up and bootstrap hooks and its
`tessera tokens …` commands. Everything else stays inside the package.
"""

from __future__ import annotations

import structlog

from tessera.core.config import Environment
from tessera.core.modules import ModuleSpec
from tessera.core.runtime import Runtime
from tessera.modules.tokens import models
from tessera.modules.tokens.cli import cli
from tessera.modules.tokens.config import TokensConfig, TokensSettings
from tessera.modules.tokens.endpoints import router
from tessera.modules.tokens.jobs import JOBS
from tessera.modules.tokens.keyring import ensure_live_key
from tessera.modules.tokens.state import TokensState

log = structlog.get_logger("tessera.tokens")


async def _start(runtime: Runtime) -> None:
    """Build the key ring and filter cache; in development, make sure a key exists."""
    config = TokensConfig.from_settings(runtime.settings)  # refuses production without a KEK
    runtime.provide(TokensState.build(config, runtime.db))
    if runtime.settings.env is Environment.development:
        try:
            created = await ensure_live_key(runtime.db, config.kek, config.key_lifetime)
        except Exception as exc:  # e.g. not migrated yet: serve anyway, say why signing fails
            log.warning("token_key_check_failed", error=type(exc).__name__)
            return
        if created is not None:
            log.info("token_key_created", key_id=created.key_id_hex)


async def _bootstrap(runtime: Runtime) -> None:
    """`tessera bootstrap` (make run): generate the issuer key if none is live."""
    tokens = runtime.get(TokensState)
    created = await ensure_live_key(runtime.db, tokens.config.kek, tokens.config.key_lifetime)
    if created is not None:
        print(f"token issuer key generated: {created.key_id_hex}")


module = ModuleSpec(
    name="tokens",
    settings=TokensSettings,
    models=models,
    routers=[router],
    jobs=JOBS,
    on_startup=[_start],
    on_bootstrap=[_bootstrap],
    cli=cli,
)
