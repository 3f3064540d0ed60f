"""The ceiling for one HTTP request: a bare FastAPI app with one JSON route and nothing else.

Served by `tessera.server` with exactly the settings `tessera serve` uses (same ASGI server,
same limits, same worker count), so that Tessera's `/healthz` and `/auth/me` divided by this
measure what Tessera's own code costs, not what the server or the machine costs.
"""

from __future__ import annotations

from fastapi import FastAPI


def create_app() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"status": "ok"}

    return app
