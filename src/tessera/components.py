"""Which parts make up the service: the core's own parts, then the enabled product modules.

Every part is a `ModuleSpec` found as `module` in its package. This is the only place that
names the modules; the core itself never imports them.
"""

from __future__ import annotations

import importlib

from tessera.core.config import ALL_MODULES
from tessera.core.modules import ModuleSpec

CORE_PARTS: tuple[str, ...] = (
    "tessera.core.audit.part",
    "tessera.core.idempotency.part",
    "tessera.core.identity.part",
    "tessera.core.ledger.part",
)


def _load(path: str) -> ModuleSpec | None:
    package = importlib.import_module(path)
    spec = getattr(package, "module", None)
    return spec if isinstance(spec, ModuleSpec) else None


def core_parts() -> list[ModuleSpec]:
    return [spec for path in CORE_PARTS if (spec := _load(path)) is not None]


def product_modules(enabled: list[str] | tuple[str, ...] = ALL_MODULES) -> list[ModuleSpec]:
    specs = []
    for name in enabled:
        try:
            spec = _load(f"tessera.modules.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"tessera.modules.{name}":
                raise
            continue  # declared in settings but not shipped in this build
        if spec is not None:
            specs.append(spec)
    return specs


def all_parts(enabled: list[str] | tuple[str, ...] = ALL_MODULES) -> list[ModuleSpec]:
    return [*core_parts(), *product_modules(enabled)]
