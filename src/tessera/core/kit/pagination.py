"""One way to page a list: `limit` and `offset` query parameters, answered in either of the two
shapes the clients read.

    @router.get("/things")
    async def things(page: PageDep) -> Page[ThingOut]:        # {items, total, limit, offset}
        rows, total = await repo.things(page.limit, page.offset)
        return page.of([ThingOut.of(r) for r in rows], total)

    @router.get("/seed/things")
    async def seed_things(page: PageDep, response: Response) -> list[ThingOut]:
        rows, total = await repo.things(page.limit, page.offset)
        return page.bare([ThingOut.of(r) for r in rows], total, response)  # + X-Total-Count

Repositories take `(limit, offset)` and return `(rows, total)`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query, Response
from pydantic import BaseModel

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_OFFSET = 1_000_000
TOTAL_HEADER = "X-Total-Count"


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class PageParams(BaseModel):
    limit: int = DEFAULT_LIMIT
    offset: int = 0

    def of(self, items: list[T], total: int) -> Page[T]:
        return Page[T](items=items, total=total, limit=self.limit, offset=self.offset)

    def bare(self, items: list[T], total: int, response: Response) -> list[T]:
        """The seed faces' form: a bare JSON array, the total in `X-Total-Count`."""
        response.headers[TOTAL_HEADER] = str(total)
        return items


def page_params(default_limit: int = DEFAULT_LIMIT) -> Callable[..., Awaitable[PageParams]]:
    """The `limit`/`offset` query parameters as a dependency. `PageDep` is the usual one; a
    face whose clients expect a longer default page declares
    `Annotated[PageParams, Depends(page_params(50))]`."""

    async def params(
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = default_limit,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> PageParams:
        return PageParams(limit=limit, offset=offset)

    return params


PageDep = Annotated[PageParams, Depends(page_params())]
