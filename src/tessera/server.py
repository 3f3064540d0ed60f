"""Serving an ASGI app: `tessera serve` and the benchmark's bare hello use this one function."""

from __future__ import annotations

import os

from tessera.core.config import Settings


def serve(
    target: str, settings: Settings, *, host: str, port: int, workers: int, reload: bool = False
) -> None:
    if os.environ.get("TESSERA_ASGI_SERVER") == "granian":
        from granian import Granian
        from granian.constants import Interfaces

        Granian(
            target,
            address=host,
            port=port,
            interface=Interfaces.ASGI,
            workers=workers,
            factory=True,
            log_enabled=False,
        ).serve()
        return
    import uvicorn

    uvicorn.run(
        target,
        factory=True,
        host=host,
        port=port,
        workers=workers if workers > 1 else None,
        reload=reload,
        log_config=None,
        access_log=False,  # RequestContextMiddleware writes the access log, with request ids
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=",".join(settings.trusted_proxies) or None,
    )
