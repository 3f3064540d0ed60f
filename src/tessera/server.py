"""Serving an ASGI app: `tessera serve`, and the benchmark's bare hello with the same settings.

The server is uvicorn (httptools parser, uvloop) in `workers` processes sharing one socket.
Granian was measured too (docs/performance.md): no faster on Tessera's own endpoints, where
the app's Python dominates, and it has neither a connection cap that answers 503 nor
forwarded-header handling. uvicorn with httptools has no request-header size limit and no
deadline for reading headers, though: a 64 MiB header is read whole into memory, and headers
trickled a byte at a time keep a connection (and its buffers) forever. `LimitedHttpProtocol`
adds both, per connection, before the parser buffers anything:

- headers (request line included) over `max_header_bytes` → 431, connection closed; the
  parser is never fed more than the limit, so memory stays bounded whatever is sent;
- headers not complete within `header_timeout` of the connection opening, or of the last
  response on a kept-alive connection → connection closed (slowloris);
- an idle kept-alive connection is closed after `keep_alive` seconds (uvicorn's own timer);
- more than `max_connections` open connections in a worker → 503 (uvicorn's own check).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import ChangeReload, Multiprocess

from tessera.core.config import Settings

_TOO_LARGE_BODY = b'{"detail":"Request headers are too large","error":"request_headers_too_large"}'
HEADERS_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/json\r\n"
    b"connection: close\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(_TOO_LARGE_BODY), _TOO_LARGE_BODY)
)


@dataclass(frozen=True)
class ServerLimits:
    max_header_bytes: int
    header_timeout: float
    keep_alive: float
    max_connections: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ServerLimits:
        return cls(
            max_header_bytes=settings.max_header_bytes,
            header_timeout=settings.header_timeout_seconds,
            keep_alive=settings.keep_alive_seconds,
            max_connections=settings.max_connections,
        )


class LimitedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header size limit and a header-read deadline."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        limits: ServerLimits = config.tessera_limits  # type: ignore[attr-defined]
        self.max_header_bytes = limits.max_header_bytes
        self.header_timeout = limits.header_timeout
        self.reading_headers = True
        self.header_bytes = 0
        self.header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.reading_headers:
            room = self.max_header_bytes - self.header_bytes
            if len(data) > room:
                # Feed at most one byte past the limit: if the headers end within it, the
                # rest (a body, a pipelined request) is fed as usual; if not, refuse.
                head, data = data[: room + 1], data[room + 1 :]
                super().data_received(head)
                if self.reading_headers:
                    self._refuse_headers()
                    return
                if not data or self.transport.is_closing():
                    return
            else:
                self.header_bytes += len(data)
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self.reading_headers = False
        self._disarm_header_deadline()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.reading_headers = True  # whatever comes next is the next request's headers
        self.header_bytes = 0

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.reading_headers and not self.transport.is_closing():
            self._arm_header_deadline()

    def _arm_header_deadline(self) -> None:
        self._disarm_header_deadline()
        self.header_deadline = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm_header_deadline(self) -> None:
        if self.header_deadline is not None:
            self.header_deadline.cancel()
            self.header_deadline = None

    def _headers_too_slow(self) -> None:
        self.header_deadline = None
        if self.reading_headers and not self.transport.is_closing():
            self.transport.close()

    def _refuse_headers(self) -> None:
        self._disarm_header_deadline()
        if not self.transport.is_closing():
            self.transport.write(HEADERS_TOO_LARGE)
            self.transport.close()


def serve(
    target: str, settings: Settings, *, host: str, port: int, workers: int, reload: bool = False
) -> None:
    """Serve the app factory `target` ("module:function") until interrupted."""
    # The workers read their settings from the environment: this tells each of them how many
    # share the machine (the password hashing pool is sized per machine, see passwords.py).
    os.environ["TESSERA_WORKERS"] = str(workers)
    limits = ServerLimits.from_settings(settings)
    config = uvicorn.Config(
        target,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        http=LimitedHttpProtocol,
        log_config=None,
        access_log=False,  # RequestContextMiddleware writes the access log, with request ids
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=",".join(settings.trusted_proxies) or None,
        timeout_keep_alive=limits.keep_alive,  # type: ignore[arg-type]  # a float works
        # uvicorn answers 503 once this many connections are open, the asking one included.
        limit_concurrency=limits.max_connections + 1,
    )
    config.tessera_limits = limits  # type: ignore[attr-defined]  # travels to spawned workers
    server = uvicorn.Server(config)
    if config.should_reload:
        ChangeReload(config, target=server.run, sockets=[config.bind_socket()]).run()
    elif config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        server.run()
