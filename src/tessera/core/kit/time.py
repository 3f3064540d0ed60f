"""Time is UTC and always carries its offset.

`UtcDateTime` is the one type for instants that arrive in request bodies and query
parameters: a value without an offset (`2026-01-01T00:00:00`) is refused with a 422 that says
so — guessing a time zone would silently move the instant — and any offset is converted to UTC.

    since: UtcDateTime | None = None            # a query parameter
    class In(BaseModel): starts_at: UtcDateTime  # a body field
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDateTime = Annotated[AwareDatetime, AfterValidator(as_utc)]
