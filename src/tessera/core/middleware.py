"""Pure-ASGI middleware: request id + access log + metrics + security headers, body limit,
path aliases.

Pure ASGI (not BaseHTTPMiddleware) so that streaming, background tasks and contextvars work.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from typing import Any

import structlog
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tessera.core.context import RequestMeta, set_current_request
from tessera.core.errors import PayloadTooLarge, error_body
from tessera.core.logging import access_log
from tessera.core.metrics import HTTP_IN_FLIGHT, HTTP_LATENCY, HTTP_REQUESTS

REQUEST_ID_HEADER = "X-Request-ID"
# Where `add_response_header` keeps its headers: an attribute of `request.state`, which is the
# `scope["state"]` dict under this key.
_STATE_KEY = "tessera_response_headers"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_UNTRACKED = frozenset({"/metrics", "/healthz", "/health", "/readyz"})


def add_response_header(state: Any, name: bytes, value: bytes) -> None:
    """A header for whatever answer this request ends with (`state`: `request.state`), however
    the endpoint builds it: FastAPI applies what a dependency sets on its injected `Response`
    only to answers it serializes itself, not to a `Response` an endpoint returns, a replayed
    idempotent reply or an error. The refreshed access cookie of a cookie session goes here."""
    headers = getattr(state, _STATE_KEY, None)
    if headers is None:
        headers = []
        setattr(state, _STATE_KEY, headers)
    headers.append((name, value))


class RequestContextMiddleware:
    """Accept or mint `X-Request-ID`, bind it to every log line, echo it, log and count; and
    the security headers: `nosniff` everywhere, `no-store` unless the endpoint chose its own
    caching (tokens, balances and personal data must never sit in a shared cache); and the
    headers a dependency added for the answer (`add_response_header`).

    One middleware rather than two: every layer wraps `send` once more on every request, and
    the headers are added in one pass over the response's header list.
    """

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        # HSTS when the service is reached over https (`TESSERA_PUBLIC_URL`).
        self.security_headers = (
            (*SECURITY_HEADERS, (b"strict-transport-security", HSTS)) if hsts else SECURITY_HEADERS
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = (
            incoming if incoming and _VALID_REQUEST_ID.match(incoming) else os.urandom(16).hex()
        )
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
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
        request_id_header = (b"x-request-id", request_id.encode())
        security_headers = self.security_headers

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = _edge_headers(
                    message.get("headers", ()), request_id_header, security_headers
                )
                message["headers"].extend(state.get(_STATE_KEY, ()))
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
                requests, latency = _request_metrics(method, template, status)
                requests.inc()
                latency.observe(elapsed)
                access_log.request(
                    method=method,
                    route=template,
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                )
            structlog.contextvars.clear_contextvars()


HSTS = b"max-age=31536000; includeSubDomains"

#: Added unless the endpoint set its own (header names as ASGI sends them: lower-case bytes).
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
)


def _edge_headers(
    headers: Iterable[tuple[bytes, bytes]],
    request_id: tuple[bytes, bytes],
    security: tuple[tuple[bytes, bytes], ...],
) -> list[tuple[bytes, bytes]]:
    """The response's headers with our `X-Request-ID` (replacing any other) and the security
    headers it does not set itself."""
    out = []
    present = set()
    for name, value in headers:
        name = name.lower()
        if name != b"x-request-id":
            out.append((name, value))
            present.add(name)
    out.append(request_id)
    out.extend(header for header in security if header[0] not in present)
    return out


_METRICS: dict[tuple[str, str, int], tuple[Any, Any]] = {}
_MAX_METRIC_SERIES = 2048


def _request_metrics(method: str, template: str, status: int) -> tuple[Any, Any]:
    """The counter and histogram children of one (method, route, status): `labels()` looks
    them up under a lock on every call, so they are kept here once found."""
    key = (method, template, status)
    found = _METRICS.get(key)
    if found is None:
        found = (
            HTTP_REQUESTS.labels(method=method, route=template, status=str(status)),
            HTTP_LATENCY.labels(method=method, route=template),
        )
        if len(_METRICS) < _MAX_METRIC_SERIES:
            _METRICS[key] = found
    return found


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
        declared = _header(scope, b"content-length")
        if declared is None and _header(scope, b"transfer-encoding") is None:
            # No Content-Length and no Transfer-Encoding: HTTP/1.1 says there is no body
            # (RFC 9112 §6.3), so there is nothing to count (most GETs).
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
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
