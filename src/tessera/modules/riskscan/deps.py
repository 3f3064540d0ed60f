"""Request dependencies of the scan endpoints: the module's state and the caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from tessera.core.db import DbSession
from tessera.core.identity import CurrentUser
from tessera.modules.riskscan.state import RiskscanState


async def get_riskscan(request: Request) -> RiskscanState:
    state: RiskscanState = request.app.state.runtime.get(RiskscanState)
    return state


RiskscanDep = Annotated[RiskscanState, Depends(get_riskscan)]


@dataclass(frozen=True)
class Scanner:
    user_id: str


async def scanner(user: CurrentUser, session: DbSession) -> Scanner:
    """The signed-in user (Bearer, or the session cookie once identity accepts it), with the
    request's transaction ended at once.

    Authentication read the user inside the request's write transaction (`BEGIN IMMEDIATE`
    on SQLite). A scan then waits up to a minute on the AI service; holding that transaction
    meanwhile would lock out every other writer on SQLite and pin a pooled connection on
    PostgreSQL. Rolling back the read-only work ends it; the scan's own write opens a fresh
    transaction on the same session, committed by the request as usual.
    """
    caller = Scanner(user_id=user.id)
    await session.rollback()
    return caller


ScannerDep = Annotated[Scanner, Depends(scanner)]
