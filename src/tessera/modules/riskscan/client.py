"""The outbound client of the AI service: any service with the seed's contract
(`POST /scan`, multipart `file`, `text`, `force_llm`), and the reference service's optional
`POST /extract`.

One overall deadline covers connecting, uploading, the analysis and reading the reply. A
file is streamed from its spooled temporary file in chunks (never copied whole into memory),
and a reply is read up to a byte limit, so a runaway upstream costs at most that much. Every
failure is one of four exceptions, which the service maps to 503, 504 and 502.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import IO, Any

import httpx2

ERROR_BODY_BYTES = 65_536


class AiUnavailable(Exception):
    """The service could not be reached (refused, no route, connect timeout)."""


class AiTimeout(Exception):
    """The overall deadline passed."""


class AiFailed(Exception):
    """The service answered an error, or broke the connection mid-answer."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class AiMalformed(Exception):
    """The reply is not the contract's JSON, or is larger than allowed."""


@dataclass(frozen=True)
class FilePart:
    filename: str
    file: IO[bytes]
    content_type: str


def error_message(body: bytes, status: int) -> str:
    """The upstream's own message: `detail`, `error` or `message` of a JSON body, else its
    text (the seed's service answers plain-text 500s)."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        for key in ("detail", "message", "error"):
            value = parsed.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()[:500]
            if value:
                return json.dumps(value)[:500]
    return text[:500] or f"AI service answered HTTP {status}"


class AiClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        max_reply_bytes: int,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.timeout = timeout
        self.max_reply_bytes = max_reply_bytes
        self._http = httpx2.AsyncClient(
            base_url=base_url,
            timeout=httpx2.Timeout(timeout),
            transport=transport,
            limits=httpx2.Limits(max_connections=200, max_keepalive_connections=20),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def scan(
        self, *, file: FilePart | None, text: str | None, force_llm: bool
    ) -> dict[str, Any]:
        # Fields as file-less parts, so the request is multipart even without a file (as the
        # seed's backend sends it).
        parts: dict[str, Any] = {"force_llm": (None, "true" if force_llm else "false")}
        if text is not None:
            parts["text"] = (None, text)
        if file is not None:
            parts["file"] = (file.filename, file.file, file.content_type)
        reply = await self._post("/scan", data={}, files=parts, optional=False)
        assert reply is not None
        return reply

    async def extract(self, file: FilePart) -> dict[str, Any] | None:
        """Pages of text from the reference service; None from a service without /extract."""
        files = {"file": (file.filename, file.file, file.content_type)}
        return await self._post("/extract", data={}, files=files, optional=True)

    async def _post(
        self, path: str, *, data: dict[str, str], files: Any, optional: bool
    ) -> dict[str, Any] | None:
        try:
            async with asyncio.timeout(self.timeout):
                return await self._exchange(path, data, files, optional)
        except TimeoutError as exc:
            raise AiTimeout(f"The AI service did not answer within {self.timeout:g} s") from exc

    async def _exchange(
        self, path: str, data: dict[str, str], files: Any, optional: bool
    ) -> dict[str, Any] | None:
        try:
            async with self._http.stream("POST", path, data=data, files=files) as reply:
                if optional and reply.status_code in (404, 405):
                    return None
                limit = ERROR_BODY_BYTES if reply.status_code >= 400 else self.max_reply_bytes
                body = bytearray()
                async for part in reply.aiter_bytes():
                    body += part
                    if len(body) > limit:
                        if reply.status_code >= 400:
                            break  # the start of an error page says enough
                        raise AiMalformed("The AI service's reply is too large")
                status = reply.status_code
        except (httpx2.ConnectError, httpx2.ConnectTimeout) as exc:
            raise AiUnavailable("The AI service is unreachable") from exc
        except httpx2.TimeoutException as exc:
            raise AiTimeout(f"The AI service did not answer within {self.timeout:g} s") from exc
        except httpx2.HTTPError as exc:
            raise AiFailed(f"The AI service connection failed ({type(exc).__name__})") from exc
        if status >= 400:
            raise AiFailed(error_message(bytes(body), status), status)
        try:
            parsed = json.loads(body)
        except ValueError as exc:
            raise AiMalformed("The AI service's reply is not JSON") from exc
        if not isinstance(parsed, dict):
            raise AiMalformed("The AI service's reply is not a JSON object")
        return parsed
