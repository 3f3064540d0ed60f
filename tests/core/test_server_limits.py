"""The HTTP server's own limits, against a real `tessera serve` process on a loopback port:
oversized headers, trickled headers, idle connections and too many connections.

The database does not matter here (nothing below reaches it but /healthz), so one SQLite
server, with small limits, serves the whole module.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from tests.conftest import make_settings, settings_env
from tests.helpers.server import free_port

MAX_HEADER_BYTES = 16_384
HEADER_TIMEOUT = 2.0
KEEP_ALIVE = 2.0
MAX_CONNECTIONS = 4


@dataclass
class Server:
    host: str
    port: int
    pid: int

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=10)
        return sock

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def server(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp_path = tmp_path_factory.mktemp("server_limits")
    shutil.copy(sqlite_template, tmp_path / "tessera.db")
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'tessera.db'}",
        tmp_path,
        max_header_bytes=MAX_HEADER_BYTES,
        header_timeout_seconds=HEADER_TIMEOUT,
        keep_alive_seconds=KEEP_ALIVE,
        max_connections=MAX_CONNECTIONS,
    )
    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tessera", "serve", "--port", str(port), "--workers", "1"],
            env={**os.environ, **settings_env(settings)},
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        served = Server("127.0.0.1", port, proc.pid)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx2.get(f"{served.base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx2.HTTPError:
                time.sleep(0.1)
        else:
            proc.kill()
            raise RuntimeError(f"server did not start: {log_path.read_text()[-2000:]}")
        yield served
        proc.terminate()
        proc.wait(10)


def read_until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    sock.settimeout(timeout)
    started = time.monotonic()
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received, time.monotonic() - started


def read_response(sock: socket.socket) -> bytes:
    """One whole HTTP response with a Content-Length body (it may come in several pieces)."""
    sock.settimeout(5)
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def serving_children(pid: int) -> list[str]:
    """The worker processes under a `tessera serve` (not multiprocessing's resource tracker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def healthz(server: Server) -> int:
    return httpx2.get(f"{server.base}/healthz", timeout=5).status_code


def test_headers_under_the_limit_and_a_body_over_it_are_served(server: Server) -> None:
    # 8 KiB of headers, then a 40 KiB body in the same packets: only the headers count.
    response = httpx2.post(
        f"{server.base}/auth/login",
        headers={"X-Padding": "p" * 8192},
        json={"email": "nobody@example.com", "password": "x" * 40_000},
        timeout=10,
    )
    assert response.status_code == 422  # the password is too long: validation answered
    assert response.json()["error"] == "validation_error"


def test_a_64_mib_header_is_refused_and_memory_stays_bounded(server: Server) -> None:
    before = server.rss_mib()
    answers: list[bytes] = []

    def flood() -> None:
        sock = server.connect()
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ")
            chunk = b"a" * 1_048_576
            for _ in range(64):
                sock.sendall(chunk)
            sock.sendall(b"\r\n\r\n")
        except OSError:
            pass  # the server closed the connection while we were still sending: expected
        try:
            answers.append(read_until_closed(sock, 10)[0])
        except OSError:
            answers.append(b"")
        finally:
            sock.close()

    threads = [threading.Thread(target=flood) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    after = server.rss_mib()
    assert len(answers) == 8
    # Each flood got a 431 or had its connection closed; none was served.
    assert all(answer.startswith(b"HTTP/1.1 431") or answer == b"" for answer in answers)
    assert not any(b"200 OK" in answer for answer in answers)
    assert after - before < 8, f"RSS grew from {before:.1f} to {after:.1f} MiB"
    assert healthz(server) == 200


def test_a_header_over_the_limit_gets_a_431_json_answer(server: Server) -> None:
    sock = server.connect()
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n")
        answer, _ = read_until_closed(sock, 5)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert answer.endswith(b'"error":"request_headers_too_large"}')


def test_trickled_headers_are_cut_off(server: Server) -> None:
    sock = server.connect()
    started = time.monotonic()
    closed_after = None
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        sock.settimeout(0.2)
        for _ in range(60):  # a header byte every 0.2 s: 12 s if it were allowed to go on
            try:
                sock.sendall(b"x")
                if sock.recv(1024) == b"":
                    closed_after = time.monotonic() - started
                    break
            except TimeoutError:
                continue
            except OSError:
                closed_after = time.monotonic() - started
                break
    finally:
        sock.close()
    assert closed_after is not None, "the trickle was still being read after 12 s"
    assert closed_after < HEADER_TIMEOUT + 3


def test_a_silent_connection_is_closed(server: Server) -> None:
    sock = server.connect()
    try:
        received, waited = read_until_closed(sock, 10)
    finally:
        sock.close()
    assert received == b""
    assert HEADER_TIMEOUT * 0.8 < waited < HEADER_TIMEOUT + 3


def test_an_idle_kept_alive_connection_is_closed(server: Server) -> None:
    sock = server.connect()
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        rest, waited = read_until_closed(sock, 10)
    finally:
        sock.close()
    assert rest == b""
    assert waited < KEEP_ALIVE + 3  # a busy machine may run the timer a little late


def test_connections_over_the_cap_get_503(server: Server) -> None:
    held = [server.connect() for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.1)  # let the server accept them all
        extra = server.connect()
        try:
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            answer, _ = read_until_closed(extra, 5)
        finally:
            extra.close()
        assert answer.startswith(b"HTTP/1.1 503")
        # The held connections are still served.
        held[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        answer, _ = read_until_closed(held[0], 5)
        assert answer.startswith(b"HTTP/1.1 200")
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)
    assert healthz(server) == 200


def test_serve_with_two_workers_answers_from_two_processes(
    sqlite_template: Path, tmp_path: Path
) -> None:
    shutil.copy(sqlite_template, tmp_path / "tessera.db")
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'tessera.db'}", tmp_path)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tessera", "serve", "--port", str(port), "--workers", "2"],
        env={**os.environ, **settings_env(settings)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        workers: list[str] = []
        while time.monotonic() < deadline and len(workers) < 2:
            try:
                if httpx2.get(f"{base}/healthz", timeout=1).status_code == 200:
                    workers = serving_children(proc.pid)
            except httpx2.HTTPError:
                pass
            time.sleep(0.2)
        assert len(workers) == 2, f"worker processes: {workers}"
        # Both workers are serving: a burst on fresh connections is answered in full.
        answered = [httpx2.get(f"{base}/healthz", timeout=5).status_code for _ in range(20)]
        assert answered == [200] * 20
    finally:
        proc.terminate()
        proc.wait(20)
