"""A real OpenID provider for tests: `oidc-provider-mock` (Authlib's authorization server) in
its own process on a loopback port, and a man-in-the-middle proxy in front of it that forges
what a broken or hostile provider would send (another audience, another signing key).

with OpenIdProvider.start() as op:            # http://127.0.0.1:<port>
    op.add_user("alice", email="a@example.com", email_verified=True)
    response = await sign_in_through(op, client, "alice")
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx2
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from tests.helpers.server import free_port

CLIENT_ID = "tessera-test-client"
CLIENT_SECRET = "tessera-test-secret"


@dataclass
class OpenIdProvider:
    """One provider process; `restart()` gives it a new signing key on the same address."""

    port: int
    extra_args: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    @contextlib.contextmanager
    def start(cls, *extra_args: str) -> Iterator[OpenIdProvider]:
        provider = cls(port=free_port(), extra_args=extra_args)
        provider._spawn()
        try:
            yield provider
        finally:
            provider._stop()

    def _spawn(self) -> None:
        command = [
            sys.executable,
            "-m",
            "oidc_provider_mock",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--require-nonce",
            "true",
            *self.extra_args,
        ]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "NO_COLOR": "1"},
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx2.HTTPError):
                url = f"{self.issuer}/.well-known/openid-configuration"
                if httpx2.get(url, timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        self._stop()
        raise RuntimeError("the OpenID provider did not start")

    def _stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def restart(self) -> None:
        """The provider rotates its key: a new process, a new key, the same issuer."""
        self._stop()
        self._spawn()

    def add_user(self, sub: str, **claims: Any) -> None:
        response = httpx2.put(f"{self.issuer}/users/{sub}", json=claims, timeout=5)
        assert response.status_code == 204, response.text

    def key_ids(self) -> list[str]:
        return [key["kid"] for key in httpx2.get(f"{self.issuer}/jwks", timeout=5).json()["keys"]]


@pytest.fixture(scope="module")
def provider() -> Iterator[OpenIdProvider]:
    """One provider process for a test module (import this fixture into a conftest)."""
    with OpenIdProvider.start() as op:
        yield op


def _b64json(segment: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return value


@dataclass
class ForgingProxy:
    """Stands between the service and a real provider and rewrites the ID token of the
    token response: `claims` are changed and the token is signed with the proxy's own key,
    which the key set it serves includes only if `publish_key`."""

    upstream: str
    port: int = field(default_factory=free_port)
    claims: dict[str, Any] = field(default_factory=dict)
    publish_key: bool = True
    key: RSAKey = field(
        default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "forged"})
    )

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _forge(self, body: bytes) -> bytes:
        answer = json.loads(body)
        if "id_token" in answer:
            claims = _b64json(answer["id_token"].split(".")[1])
            claims.update(self.claims)
            header = {"alg": "RS256", "kid": "forged"}
            answer["id_token"] = jwt.encode(header, claims, self.key)
        return json.dumps(answer).encode()

    def _keys(self, body: bytes) -> bytes:
        keys = json.loads(body)
        if self.publish_key:
            keys["keys"].append(KeySet([self.key]).as_dict()["keys"][0])
        return json.dumps(keys).encode()

    @contextlib.contextmanager
    def running(self) -> Iterator[ForgingProxy]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _relay(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("content-length", "connection")
                }
                upstream = httpx2.request(
                    self.command,
                    proxy.upstream + self.path,
                    content=body,
                    headers=headers,  # Host stays ours: the provider names us as issuer
                    follow_redirects=False,
                    timeout=10,
                )
                content = upstream.content
                path = self.path.split("?")[0]
                if path == "/oauth2/token" and upstream.status_code == 200:
                    content = proxy._forge(content)
                elif path == "/jwks":
                    content = proxy._keys(content)
                self.send_response(upstream.status_code)
                for name, value in upstream.headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = _relay

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()


def with_param(url: str, **values: str) -> str:
    """The URL with query parameters replaced (a tampered authorization request)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(values)
    return urlunsplit(parts._replace(query=urlencode(query)))


async def sign_in_through(
    client: httpx2.AsyncClient,
    sub: str,
    *,
    login_path: str = "/auth/oidc/google/login",
    tamper: Callable[[str], str] | None = None,
) -> httpx2.Response:
    """Start the sign-in at the service, approve it at the provider as `sub` (the form a person
    would submit), and follow the provider's redirect back to the service. The service's
    final answer (a redirect to the frontend)."""
    start = await client.get(login_path)
    assert start.status_code == 302, start.text
    authorize = start.headers["location"]
    if tamper is not None:
        authorize = tamper(authorize)
    consent = httpx2.post(authorize, data={"sub": sub}, timeout=10)
    assert consent.status_code == 302, consent.text
    back = urlsplit(consent.headers["location"])
    return await client.get(f"{back.path}?{back.query}")


def redirect_query(response: httpx2.Response) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(response.headers["location"]).query))
