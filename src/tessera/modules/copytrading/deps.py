"""Who is calling the bot API: a license token in `X-License-Token`, nothing else.

Unknown tokens count against a per-IP guess limit (429 past it); known ones against a
per-license rate limit. `last_used_at` and the IP are recorded after the response, at most
every 30 s, in a write of their own (so a poll holds no write lock).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import BackgroundTasks, Depends, Request
from fastapi.security import APIKeyHeader

from tessera.core.db.base import utcnow
from tessera.core.db.session import database_of
from tessera.core.ratelimit import RateLimiterDep, client_ip
from tessera.modules.copytrading.bot import BotCaller, authenticate, touch
from tessera.modules.copytrading.errors import LicenseInvalid, LicenseMissing, WrongLicenseKind
from tessera.modules.copytrading.state import CopytradingState, state_of

LICENSE_HEADER = "X-License-Token"
MAX_TOKEN_CHARS = 200

license_scheme = APIKeyHeader(
    name=LICENSE_HEADER,
    scheme_name="LicenseToken",
    description="A trading bot's license token (shown once at subscribe or rotation)",
    auto_error=False,
)


async def get_state(request: Request) -> CopytradingState:
    return state_of(request.app.state.runtime)


StateDep = Annotated[CopytradingState, Depends(get_state)]


async def bot_caller(
    request: Request,
    background: BackgroundTasks,
    limiter: RateLimiterDep,
    state: StateDep,
    token: Annotated[str | None, Depends(license_scheme)],
) -> BotCaller:
    if not token:
        raise LicenseMissing()
    ip = client_ip(request)
    db = database_of(request)
    try:
        if len(token) > MAX_TOKEN_CHARS:
            raise LicenseInvalid()
        caller = await authenticate(db, token)
    except LicenseInvalid:
        await limiter.enforce(
            "copytrading_license_guess",
            state.settings.license_guess_rate,
            ip,
            detail="Too many invalid license tokens, try again later",
        )
        raise
    await limiter.enforce(
        "copytrading_ea",
        state.settings.ea_rate,
        caller.license_id,
        detail="Too many requests for this license, slow down",
    )
    request.state.principal = caller.principal
    if caller.needs_touch(utcnow(), ip):
        background.add_task(touch, db, caller.license_id, ip, None)
    return caller


async def follower_bot(caller: Annotated[BotCaller, Depends(bot_caller)]) -> BotCaller:
    if caller.kind != "follower":
        raise WrongLicenseKind("A follower's license is required")
    return caller


async def master_bot(caller: Annotated[BotCaller, Depends(bot_caller)]) -> BotCaller:
    if caller.kind != "master":
        raise WrongLicenseKind("Only a master's license can publish signals")
    return caller


FollowerBot = Annotated[BotCaller, Depends(follower_bot)]
MasterBot = Annotated[BotCaller, Depends(master_bot)]
LicenseToken = Annotated[str | None, Depends(license_scheme)]
