"""Document and text risk scans (seed 002), analysed by an AI service with the seed's
contract (the reference one is `tessera.aiservice`), stored per user.

The module's face: its router, its settings, its job, the larger body limit of its upload
paths, the start and stop of its AI client and queue runner, and `tessera riskscan …`.
"""

from __future__ import annotations

from collections.abc import Mapping

from tessera.core.config import Settings
from tessera.core.modules import ModuleSpec
from tessera.core.runtime import Runtime
from tessera.modules.riskscan import models
from tessera.modules.riskscan.cli import cli
from tessera.modules.riskscan.client import AiClient
from tessera.modules.riskscan.config import RiskscanSettings
from tessera.modules.riskscan.endpoints import router
from tessera.modules.riskscan.jobs import JOBS
from tessera.modules.riskscan.runner import ScanRunner
from tessera.modules.riskscan.state import InFlight, RiskscanState

# Room for the multipart envelope and a text field around a file of SCAN_MAX_BYTES; the file
# part itself is held to SCAN_MAX_BYTES exactly once it is parsed.
ENVELOPE_BYTES = 1_048_576


def _body_limits(settings: Settings) -> Mapping[str, int]:
    own = settings.module(RiskscanSettings)
    return {"/api/scan": own.scan_max_bytes + ENVELOPE_BYTES}


async def _start(runtime: Runtime) -> None:
    own = runtime.settings.module(RiskscanSettings)
    client = AiClient(
        own.ai_service_url, timeout=own.ai_timeout_seconds, max_reply_bytes=own.max_reply_bytes
    )
    in_flight = InFlight(
        runtime.redis,
        runtime.settings.redis_prefix,
        own.max_in_flight,
        ttl_seconds=int(own.ai_timeout_seconds) + 60,
    )
    state = RiskscanState(settings=own, client=client, in_flight=in_flight)
    if own.queue_workers > 0:
        runner = ScanRunner(runtime.db, client, own)
        runner.start(own.queue_workers)
        state.runner = runner
    runtime.provide(state)
    runtime.on_close.append(client.aclose)
    if isinstance(state.runner, ScanRunner):  # stopped first: it uses the client
        runtime.on_close.append(state.runner.stop)


module = ModuleSpec(
    name="riskscan",
    settings=RiskscanSettings,
    models=models,
    routers=[router],
    jobs=JOBS,
    on_startup=[_start],
    cli=cli,
    body_limits=_body_limits,
)
