"""Route lookup that passes over a router whose prefix the request path does not start with.

FastAPI (0.137 and later) keeps each `include_router` as a node of a tree and, for every
request, tries the routes of every included router in turn, each with a regular expression,
without first asking whether the path could lie under that router's prefix at all. With the
parts' ~180 routes, `GET /auth/me` was found after ~150 tries, twice per request (once to
match, once to handle), about a fifth of its CPU time. A router's routes all start with its
prefix (the router's own and the one given to `include_router`), so a path that does not
start with it cannot match any of them, and one `startswith` can stand for all of them. The
same check is proposed upstream (fastapi/fastapi#16159); until FastAPI has it, this adds it.

Only the literal part of a prefix counts (up to a `{path parameter}`). A router without a
prefix would be searched route by route anyway, so `add_router` puts its routes on the app's
own list instead, as `@app.get` does: a request to one of them (`/healthz`) is then matched
and handled without the included router's layer, about 10 µs less. Answers do not change,
only how fast they are found: the whole suite runs with it, and `tests/core/test_routing.py`
counts the tries.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, routing
from starlette._utils import get_route_path
from starlette.routing import Match

_NO_MATCH: tuple[Match, dict[str, Any], None, None] = (Match.NONE, {}, None, None)


def literal_prefix(node: Any) -> str:
    """The fixed start of every path under an included router ("" when there is none)."""
    prefix: str = node.include_context.prefix + node.original_router.prefix
    return prefix.split("{", 1)[0]


def install() -> None:
    """Make every included router skip itself when the path lies outside its prefix. Safe to
    call more than once; a FastAPI without `_IncludedRouter` (one that flattens routes, as
    before 0.137) needs nothing and is left alone."""
    node_class = getattr(routing, "_IncludedRouter", None)
    if node_class is None or getattr(node_class, "_tessera_prefix_skip", False):
        return
    search = node_class._match

    def _match(self: Any, scope: dict[str, Any]) -> Any:
        prefix = literal_prefix(self)
        if prefix and not get_route_path(scope).startswith(prefix):
            return _NO_MATCH
        return search(self, scope)

    node_class._match = _match
    node_class._tessera_prefix_skip = True


def add_router(app: FastAPI, router: routing.APIRouter) -> None:
    """`app.include_router(router)`, except that the routes of a router without a prefix
    join the app's own list (its routes already carry their tags, dependencies and
    responses: `APIRouter` fixes them when a route is added)."""
    if router.prefix:
        app.include_router(router)
    else:
        app.router.routes.extend(router.routes)
