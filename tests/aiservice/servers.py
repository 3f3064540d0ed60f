"""Real HTTP servers on loopback ports for the scan tests: the reference AI service as its own
process, and small hand-written upstreams (a misbehaving AI service, an OpenAI-compatible
LLM) on an asyncio loop in a thread, so that both an in-process app and a live server
process can call them.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.server import free_port, tessera_process


@contextmanager
def ai_service_process(log_dir: Path, **env: str) -> Iterator[str]:
    """`tessera ai-service` on a free loopback port; yields its base URL."""
    port = free_port()
    environment = {**os.environ, "TESSERA_AI_PORT": str(port), "TESSERA_AI_LOG_LEVEL": "WARNING"}
    for name in ("LLM_API_URL", "TESSERA_AI_LLM_API_URL", "USE_LLM"):
        environment.pop(name, None)
    environment.update(env)
    args = ["ai-service", "--port", str(port)]
    log_path = log_dir / f"ai_service_{port}.log"
    with tessera_process(
        args, port, environment, log_path, ready_path="/", start_seconds=60
    ) as base:
        yield base


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    # A body produced in pieces (a huge reply); stops when the client goes away.
    stream: Callable[[], Iterator[bytes]] | None = None
    length: int | None = None
    delay: float = 0.0

    @classmethod
    def json(cls, value: Any, status: int = 200, delay: float = 0.0) -> Reply:
        return cls(status, json.dumps(value).encode(), delay=delay)


Handler = Callable[[Request], Reply | Awaitable[Reply]]


@dataclass
class LoopbackServer:
    """One request per connection, answered by `handler`; counts what it saw."""

    handler: Handler
    port: int = 0
    requests: list[Request] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    abandoned: int = 0  # requests whose client went away before the answer
    _loop: asyncio.AbstractEventLoop | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LoopbackServer:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            server = loop.run_until_complete(
                asyncio.start_server(self._serve, "127.0.0.1", 0, limit=1 << 20)
            )
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            server.close()
            loop.close()

        threading.Thread(target=run, daemon=True).start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)

    async def _read(self, reader: asyncio.StreamReader) -> Request | None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = b""
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    break
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
            body = b"".join(parts)
        return Request(method, path, headers, body)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await self._read(reader)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            writer.close()
            return
        assert request is not None
        with self._lock:
            self.requests.append(request)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            reply = self.handler(request)
            if not isinstance(reply, Reply):
                reply = await reply
            if reply.delay:
                try:  # EOF while waiting: the client went away
                    gone = await asyncio.wait_for(reader.read(1), reply.delay)
                    if gone == b"":
                        with self._lock:
                            self.abandoned += 1
                        return
                except TimeoutError:
                    pass
            length = reply.length if reply.stream else len(reply.body)
            head = (
                f"HTTP/1.1 {reply.status} X\r\nContent-Type: {reply.content_type}\r\n"
                f"Content-Length: {length}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode())
            if reply.stream is not None:
                for piece in reply.stream():
                    writer.write(piece)
                    await writer.drain()
            else:
                writer.write(reply.body)
                await writer.drain()
        except (ConnectionError, OSError):
            with self._lock:
                self.abandoned += 1
        finally:
            with self._lock:
                self.in_flight -= 1
            writer.close()


def multipart_fields(request: Request) -> dict[str, bytes]:
    """The parts of a multipart body by name (good enough for the test upstreams)."""
    content_type = request.headers.get("content-type", "")
    if "boundary=" not in content_type:
        from urllib.parse import parse_qs

        return {k: v[0].encode() for k, v in parse_qs(request.body.decode()).items()}
    boundary = content_type.split("boundary=", 1)[1].strip('"').encode()
    fields: dict[str, bytes] = {}
    for part in request.body.split(b"--" + boundary):
        if b"\r\n\r\n" not in part:
            continue
        head, _, value = part.partition(b"\r\n\r\n")
        marker = b'name="'
        if marker not in head:
            continue
        name = head.split(marker, 1)[1].split(b'"', 1)[0].decode()
        fields[name] = value.removesuffix(b"\r\n")
    return fields


def chat_completion(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
    }


@pytest.fixture(scope="session")
def ai_service_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The reference AI service, one process for the whole run (it trains at start-up)."""
    with ai_service_process(tmp_path_factory.mktemp("ai_service")) as url:
        yield url


@pytest.fixture
def upstream() -> Iterator[LoopbackServer]:
    """A misbehaving AI service; tests set `upstream.handler`."""
    server = LoopbackServer(lambda request: Reply.json({"data": [], "source": "model"})).start()
    yield server
    server.stop()
