"""The module's long-lived objects: its validated settings and the signal relay."""

from __future__ import annotations

from dataclasses import dataclass

from tessera.core.runtime import Runtime
from tessera.modules.copytrading.config import CopytradingSettings
from tessera.modules.copytrading.relay import SignalRelay


@dataclass(frozen=True)
class CopytradingState:
    settings: CopytradingSettings
    relay: SignalRelay

    @classmethod
    def build(cls, runtime: Runtime) -> CopytradingState:
        settings = runtime.settings.module(CopytradingSettings)
        relay = SignalRelay(runtime.db, runtime.redis, runtime.settings.redis_prefix, settings)
        return cls(settings, relay)


def state_of(runtime: Runtime) -> CopytradingState:
    return runtime.get(CopytradingState, CopytradingState.build)
