"""Pure-ASGI middleware: request id + access log + metrics, and security headers.

Pure ASGI (not BaseHTTPMiddleware) so that streaming, background tasks and contextvars work.
"""

from __future__ import annotations

import re
import time
import uuid

import structlog
from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tessera.core.context import RequestMeta, set_current_request
from tessera.core.errors import PayloadTooLarge, error_body
from tessera.core.metrics import HTTP_IN_FLIGHT, HTTP_LATENCY, HTTP_REQUESTS

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_UNTRACKED = frozenset({"/metrics", "/healthz", "/health", "/readyz"})

access_log = structlog.get_logger("tessera.access")


class RequestContextMiddleware:
    """Accept or mint `X-Request-ID`, bind it to every log line, echo it, log and count."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = (
            incoming if incoming and _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        )
        scope.setdefault("state", {})["request_id"] = request_id
        client = scope.get("client")
        set_current_request(
            RequestMeta(
                request_id=request_id,
                ip_address=client[0] if client else None,
                user_agent=(_header(scope, b"user-agent") or "")[:500] or None,
            )
        )
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        HTTP_IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            HTTP_IN_FLIGHT.dec()
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            if scope["path"] not in _UNTRACKED:
                HTTP_REQUESTS.labels(method=method, route=template, status=str(status)).inc()
                HTTP_LATENCY.labels(method=method, route=template).observe(elapsed)
                access_log.info(
                    "request",
                    method=method,
                    route=template,
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                )
            structlog.contextvars.clear_contextvars()


HSTS = "max-age=31536000; includeSubDomains"


class SecurityHeadersMiddleware:
    """`nosniff` everywhere; `no-store` unless the endpoint chose its own caching (tokens,
    balances and personal data must never sit in a shared cache); HSTS when the service is
    reached over https (`TESSERA_PUBLIC_URL`)."""

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("Cache-Control", "no-store")
                if self.hsts:
                    headers.setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        await self.app(scope, receive, send_wrapper)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class BodyLimitMiddleware:
    """413 with the JSON error body for a request body over `max_bytes`.

    A declared Content-Length over the limit is refused before reading; a chunked body is
    counted as it streams and stopped as soon as it passes the limit. Paths listed in
    `overrides` (prefix → bytes) get their own limit (file uploads).
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, overrides: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.overrides = sorted((overrides or {}).items(), key=lambda kv: -len(kv[0]))

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.overrides:
            if path.startswith(prefix):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_too_large(scope, receive, send)
            return
        received = 0
        exceeded = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise PayloadTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            # Whatever the app answers after the limit tripped (a parse error, say) is
            # replaced by the 413 once, and its own messages are dropped.
            nonlocal exceeded
            if not exceeded:
                await send(message)
            elif message["type"] == "http.response.start":
                await _send_too_large(scope, receive, send)

        await self.app(scope, counting_receive, guarded_send)


async def _send_too_large(scope: Scope, receive: Receive, send: Send) -> None:
    error = PayloadTooLarge()
    await JSONResponse(error_body(error.detail, error.code), 413)(scope, receive, send)


class PathAliasMiddleware:
    """Serve a prefix under other names: `/api/v1/auth/login` is handled as `/auth/login`.

    One set of routes answers at every alias, so route matching stays as cheap as it is for
    one copy, and the schema documents the canonical path only. The original path is kept in
    `scope["tessera.alias_of"]` for logs.
    """

    def __init__(self, app: ASGIApp, aliases: dict[str, str]) -> None:
        self.app = app
        # Longest alias first, so that /api/v1/auth wins over a shorter alias of it.
        self.aliases = sorted(aliases.items(), key=lambda kv: -len(kv[0]))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            path: str = scope["path"]
            for alias, target in self.aliases:
                if path == alias or path.startswith(alias + "/"):
                    raw: bytes = scope.get("raw_path") or path.encode()
                    if raw.startswith(alias.encode()):  # keep the rest percent-encoded as sent
                        raw = target.encode() + raw[len(alias) :]
                    scope = {
                        **scope,
                        "path": target + path[len(alias) :],
                        "raw_path": raw,
                        "tessera.alias_of": path,
                    }
                    break
        await self.app(scope, receive, send)
