"""Route lookup passes over routers whose prefix cannot match, and still finds every route."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

# Placeholders that satisfy every path parameter's converter ({id}, {id:path}, {n:int}).
PARAMETER = re.compile(r"\{[^}:]+(:[^}]+)?\}")


def api_routes(app: FastAPI) -> Iterator[APIRoute]:
    for entry in app.routes:
        for route in getattr(getattr(entry, "original_router", None), "routes", [entry]):
            if isinstance(route, APIRoute):
                yield route


def concrete(path: str) -> str:
    return PARAMETER.sub(lambda m: "7" if m.group(1) == ":int" else "x0", path)


async def test_every_route_is_still_found(app: FastAPI, client: httpx2.AsyncClient) -> None:
    """Each method and path of the route table reaches its endpoint: whatever it answers
    (401, 422, a 404 of its own), it is not the router's "Not Found" or "Method Not Allowed"."""
    routes = [(method, route.path) for route in api_routes(app) for method in route.methods]
    assert len(routes) > 150  # the core's and every module's
    missed = []
    for method, path in routes:
        response = await client.request(method, concrete(path))
        unrouted = response.status_code == 404 and response.json().get("detail") == "Not Found"
        if unrouted or response.status_code == 405:
            missed.append((method, path, response.status_code))
    assert missed == []


async def test_outside_every_prefix_is_404_and_wrong_method_405(client: httpx2.AsyncClient) -> None:
    assert (await client.get("/authx/me")).json() == {"detail": "Not Found", "error": "not_found"}
    assert (await client.get("/auth/nope")).status_code == 404
    response = await client.delete("/auth/me")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


@pytest.fixture
def route_tries(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every route the router tries, in order (the real matching still runs)."""
    tried: list[str] = []
    real = APIRoute.matches

    def counting(self: APIRoute, scope: dict[str, Any]) -> Any:
        tried.append(self.path)
        return real(self, scope)

    monkeypatch.setattr(APIRoute, "matches", counting)
    return tried


async def test_a_late_route_is_found_without_trying_the_others(
    client: httpx2.AsyncClient, route_tries: list[str]
) -> None:
    """`/auth/me` sits behind ~150 module routes; only the unprefixed routers' routes and the
    `/auth` router's own are tried (twice: once to match, once to handle)."""
    assert (await client.get("/auth/me")).status_code == 401
    assert route_tries, "the router no longer matches through APIRoute.matches"
    allowed = ("/auth/", "/health", "/readyz", "/metrics")
    assert all(path.startswith(allowed) for path in route_tries), route_tries
    assert len(route_tries) <= 40, len(route_tries)
