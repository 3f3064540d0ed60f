"""Who is asking, for the current request: set by the request middleware, read by the audit
log and the rate limits. Outside a request (jobs, CLI) it is empty."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestMeta:
    request_id: str | None = None
    ip_address: str | None = None
    user_agent: str | None = None


_NO_REQUEST = RequestMeta()
_current: ContextVar[RequestMeta | None] = ContextVar("tessera_request_meta", default=None)


def current_request() -> RequestMeta:
    return _current.get() or _NO_REQUEST


def set_current_request(meta: RequestMeta) -> None:
    _current.set(meta)
