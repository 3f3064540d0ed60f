"""The audit part: the sequencer loop, the auditor's endpoints, `tessera audit …`, and the
tree-head signing key that `tessera bootstrap` creates."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from tessera.core.audit import models
from tessera.core.audit.cli import cli
from tessera.core.audit.endpoints import router
from tessera.core.audit.sequencer import Sequencer, create_signing_key
from tessera.core.modules import ModuleSpec

if TYPE_CHECKING:
    from tessera.core.runtime import Runtime


async def run_sequencer(runtime: Runtime) -> None:
    await Sequencer(runtime.db, runtime.settings).run_forever()


async def ensure_signing_key(runtime: Runtime) -> None:
    key_id, created = await create_signing_key(runtime.db, runtime.settings)
    verb = "created" if created else "has"
    typer.echo(f"audit: {verb} tree-head signing key {key_id[:16]}…")


module = ModuleSpec(
    name="audit",
    models=models,
    routers=[router],
    loops=[run_sequencer],
    on_bootstrap=[ensure_signing_key],
    cli=cli,
)
