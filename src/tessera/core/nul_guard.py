"""One request-level rule: no text the service receives may contain NUL (U+0000).

PostgreSQL cannot store NUL in a text column (the insert fails, a 500) and SQLite stores it
silently, so a NUL anywhere is refused before any route sees it: in the path, the query
string, a JSON body (`\\u0000`), a form body (`%00`, or a raw NUL in a multipart text part),
with the standard 422 validation body naming where it was. One rule for every route, the
modules' included, rather than a check per field.

Bodies of other media types (binary protocol messages, file parts of a multipart upload) are
not text and pass untouched. The cost on the common path is one substring search per body:
the body is parsed here only when that search finds a candidate.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tessera.core.errors import PayloadTooLarge, error_body

NUL = "\x00"
NUL_MESSAGE = "Text must not contain the NUL character (U+0000)"
NUL_ERROR_TYPE = "string_contains_nul"

Location = list[str | int]


def nul_locations(value: Any, prefix: Location) -> list[Location]:
    """Where in a decoded JSON document a string (a value or a key) holds NUL."""
    if isinstance(value, str):
        return [prefix] if NUL in value else []
    found: list[Location] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if NUL in key:
                found.append([*prefix, key])
            found.extend(nul_locations(item, [*prefix, key]))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(nul_locations(item, [*prefix, index]))
    return found


def _query_locations(text: str, where: str) -> list[Location]:
    pairs = parse_qsl(text, keep_blank_values=True)
    found: list[Location] = [[where, name] for name, value in pairs if NUL in name + value]
    return found or [[where]]


def _media_type(scope: Scope) -> str:
    for key, value in scope.get("headers", ()):
        if key == b"content-type":
            return str(value.decode("latin-1")).split(";")[0].strip().lower()
    return ""


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
_BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})  # no route reads a body there


class NulGuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if NUL in scope["path"]:
            await _refuse(scope, receive, send, [["path"]])
            return
        query: bytes = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query:
            await _refuse(scope, receive, send, _query_locations(query.decode("latin-1"), "query"))
            return
        if scope["method"] in _BODILESS:
            await self.app(scope, receive, send)
            return
        media_type = _media_type(scope)
        if not (_is_json(media_type) or media_type in (FORM, MULTIPART)):
            await self.app(scope, receive, send)
            return
        try:
            body, closing = await _read_body(receive)
        except PayloadTooLarge as error:
            response = JSONResponse(error_body(error.detail, error.code), error.status_code)
            await response(scope, receive, send)
            return
        locations = await _body_locations(scope, media_type, body)
        if locations:
            await _refuse(scope, receive, send, locations)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            if closing is not None:
                return closing
            return await receive()

        await self.app(scope, replay, send)


async def _read_body(receive: Receive) -> tuple[bytes, Message | None]:
    """The whole body (the body limit outside this middleware bounds it), and the disconnect
    message if the client went away while sending it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), message
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), None


async def _body_locations(scope: Scope, media_type: str, body: bytes) -> list[Location]:
    if _is_json(media_type):
        if b"\\u0000" not in body:
            return []
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return []  # not JSON: the route answers its own 422
        return nul_locations(document, ["body"])
    if media_type == FORM:
        if b"%00" not in body and b"\x00" not in body:
            return []
        return _query_locations(body.decode("latin-1"), "body")
    if b"\x00" not in body:
        return []
    return await _multipart_locations(scope, body)


async def _multipart_locations(scope: Scope, body: bytes) -> list[Location]:
    """Text parts holding NUL; file parts are bytes and may hold anything."""

    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    try:
        form = await MultiPartParser(Headers(scope=scope), stream()).parse()
    except MultiPartException:
        return []  # malformed: the route answers it
    found: list[Location] = []
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            await value.close()
        elif NUL in name + value:
            found.append(["body", name])
    return found


async def _refuse(scope: Scope, receive: Receive, send: Send, locations: list[Location]) -> None:
    detail = [{"type": NUL_ERROR_TYPE, "loc": loc, "msg": NUL_MESSAGE} for loc in locations]
    await JSONResponse(error_body(detail, "validation_error"), 422)(scope, receive, send)
