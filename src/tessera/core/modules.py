"""What a product module shows the core: its routers, its scheduled jobs, its start-up hook.

A module's `__init__.py` exposes `module = ModuleSpec(...)`; the app assembles the enabled ones
(`TESSERA_MODULES`). Modules never import each other, so this is the whole contract.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter

if TYPE_CHECKING:
    from tessera.core.jobs import Job

StartupHook = Callable[[Any], Awaitable[None]]  # receives the app's `Runtime`


@dataclass(frozen=True)
class ModuleSpec:
    name: str
    routers: Sequence[APIRouter] = ()
    jobs: Sequence[Job] = ()
    on_startup: Sequence[StartupHook] = field(default_factory=tuple)
    # Idempotent first-run set-up for `tessera bootstrap` (`make run`): first admin, keys …
    on_bootstrap: Sequence[StartupHook] = field(default_factory=tuple)
    cli: Any = None  # a `typer.Typer` added to the `tessera` command under `name`
    # Other prefixes that serve the same routes: {"/api/v1/auth": "/auth"} (not in the schema).
    path_aliases: Mapping[str, str] = field(default_factory=dict)
