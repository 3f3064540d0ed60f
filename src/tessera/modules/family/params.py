"""Query and path parameters of the seed client: `page`/`limit` pages, `YYYY-MM-DD` dates
(a bad one is 400 "Invalid date format", as in the seed) and date ranges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import Depends, Query

from tessera.modules.family.errors import InvalidDate, InvalidRange
from tessera.modules.family.schemas import FIRST_DAY, LAST_DAY


def parse_day(text: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError(text)
        day = date.fromisoformat(text)
        if not FIRST_DAY <= day <= LAST_DAY:
            raise ValueError(text)
        return day
    except ValueError:
        raise InvalidDate() from None


@dataclass(frozen=True)
class SeedPage:
    page: int
    limit: int


async def seed_page(
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> SeedPage:
    return SeedPage(page=page, limit=limit)


@dataclass(frozen=True)
class DayRange:
    start: date
    end: date


async def day_range(start_date: str, end_date: str) -> DayRange:
    start, end = parse_day(start_date), parse_day(end_date)
    if start > end:
        raise InvalidRange()
    return DayRange(start=start, end=end)


SeedPageDep = Annotated[SeedPage, Depends(seed_page)]
DayRangeDep = Annotated[DayRange, Depends(day_range)]
