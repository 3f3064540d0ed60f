"""`/api/families…`, `/api/users/family`, `/api/children…`, `/api/wallets…`,
`/api/admin/reprocess-rewards`, `/api/analytics/monthly` and the calendar feeds: HTTP only.
The task and record routes are in `task_endpoints.py` and `record_endpoints.py`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from tessera.core.db import DbSession
from tessera.core.errors import error_responses
from tessera.core.idempotency import Idempotency
from tessera.core.identity import CurrentUser
from tessera.core.kit.money import ExactDecimalRoute
from tessera.core.ratelimit import RateLimiterDep, client_ip
from tessera.core.runtime import RuntimeDep
from tessera.modules.family import analytics, families, feeds, records, rewards, wallets
from tessera.modules.family.access import FamilyCaller
from tessera.modules.family.deps import MemberDep, SettingsDep
from tessera.modules.family.errors import FamilyNotFound
from tessera.modules.family.models import Family, Member
from tessera.modules.family.params import parse_day
from tessera.modules.family.repository import FamilyRepository
from tessera.modules.family.schemas import (
    AnalyticsOut,
    ConvertIn,
    DayOut,
    ExcusedCreate,
    ExcusedOut,
    FamilyCreate,
    FamilyOut,
    FamilyUpdate,
    FeedCreate,
    FeedCreated,
    FeedOut,
    InvitationCreate,
    InvitationOut,
    MemberOut,
    MemberUpdate,
    ReprocessIn,
    ReprocessOut,
    TransactionOut,
    WalletOut,
)
from tessera.modules.family.task_endpoints import Success

AUTH = error_responses(401, 403)
NOT_FOUND = error_responses(404)
router = APIRouter(prefix="/api", tags=["family"], responses=AUTH, route_class=ExactDecimalRoute)


def member_out(member: Member) -> MemberOut:
    return MemberOut(
        id=member.user_id,
        name=member.name,
        birth_date=member.birth_date,
        is_parent=member.is_parent,
        profile_picture=member.profile_picture,
    )


def _own_family(caller: FamilyCaller, family_id: str) -> Family:
    """The caller's family by id; any other id does not exist for them."""
    if family_id != caller.family_id:
        raise FamilyNotFound()
    return caller.family


# --- families, members, invitations ------------------------------------------------------------


@router.post(
    "/families",
    response_model=FamilyOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 409, 422),
)
async def create_family(
    body: FamilyCreate, user: CurrentUser, session: DbSession, settings: SettingsDep
) -> FamilyOut:
    family, _ = await families.create_family(session, user, body, settings)
    return FamilyOut.model_validate(family)


@router.get("/families/{family_id}", response_model=FamilyOut, responses=NOT_FOUND)
async def get_family(family_id: str, caller: MemberDep) -> FamilyOut:
    return FamilyOut.model_validate(_own_family(caller, family_id))


@router.put("/families/{family_id}", response_model=FamilyOut, responses=error_responses(400, 404))
async def update_family(
    family_id: str, body: FamilyUpdate, caller: MemberDep, session: DbSession
) -> FamilyOut:
    _own_family(caller, family_id)
    family = await families.update_family(session, caller, body)
    return FamilyOut.model_validate(family)


@router.get(
    "/families/{family_id}/invitations", response_model=list[InvitationOut], responses=NOT_FOUND
)
async def list_invitations(
    family_id: str, caller: MemberDep, session: DbSession
) -> list[InvitationOut]:
    _own_family(caller, family_id)
    caller.require_parent()
    rows = await FamilyRepository(session).invitations(caller.family_id)
    return [families.invitation_out(row) for row in rows]


@router.post(
    "/families/{family_id}/invitations",
    response_model=InvitationOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(404, 409, 422),
)
async def invite(
    family_id: str,
    body: InvitationCreate,
    caller: MemberDep,
    session: DbSession,
    settings: SettingsDep,
) -> InvitationOut:
    _own_family(caller, family_id)
    return families.invitation_out(await families.invite(session, caller, body, settings))


@router.delete(
    "/families/{family_id}/invitations/{invitation_id}", response_model=Success, responses=NOT_FOUND
)
async def revoke_invitation(
    family_id: str, invitation_id: str, caller: MemberDep, session: DbSession
) -> Success:
    _own_family(caller, family_id)
    await families.revoke_invitation(session, caller, invitation_id)
    return Success()


@router.put(
    "/families/{family_id}/members/{user_id}", response_model=MemberOut, responses=NOT_FOUND
)
async def update_member(
    family_id: str, user_id: str, body: MemberUpdate, caller: MemberDep, session: DbSession
) -> MemberOut:
    _own_family(caller, family_id)
    return member_out(await families.update_member(session, caller, user_id, body))


@router.delete(
    "/families/{family_id}/members/{user_id}",
    response_model=Success,
    responses=error_responses(404, 409),
)
async def remove_member(
    family_id: str, user_id: str, caller: MemberDep, session: DbSession
) -> Success:
    _own_family(caller, family_id)
    await families.remove_member(session, caller, user_id)
    return Success()


@router.get("/users/family", response_model=list[MemberOut])
async def family_members(caller: MemberDep, session: DbSession) -> list[MemberOut]:
    return [member_out(m) for m in await FamilyRepository(session).members(caller.family_id)]


# --- children: excused days, a day explained -----------------------------------------------------


@router.post(
    "/children/{child_id}/excused-days",
    response_model=ExcusedOut,
    status_code=status.HTTP_201_CREATED,
    responses=NOT_FOUND,
)
async def excuse_day(
    child_id: str, body: ExcusedCreate, caller: MemberDep, session: DbSession
) -> ExcusedOut:
    return rewards.excused_out(await records.excuse_day(session, caller, child_id, body))


@router.get(
    "/children/{child_id}/excused-days", response_model=list[ExcusedOut], responses=NOT_FOUND
)
async def excused_days(child_id: str, caller: MemberDep, session: DbSession) -> list[ExcusedOut]:
    return [rewards.excused_out(r) for r in await records.excused_days(session, caller, child_id)]


@router.delete(
    "/children/{child_id}/excused-days/{excused_id}", response_model=Success, responses=NOT_FOUND
)
async def unexcuse_day(
    child_id: str, excused_id: str, caller: MemberDep, session: DbSession
) -> Success:
    await records.unexcuse_day(session, caller, child_id, excused_id)
    return Success()


@router.get(
    "/children/{child_id}/days/{day}", response_model=DayOut, responses=error_responses(400, 404)
)
async def explain_day(child_id: str, day: str, caller: MemberDep, session: DbSession) -> DayOut:
    return await rewards.explain_day(session, caller, child_id, parse_day(day))


@router.post(
    "/admin/reprocess-rewards", response_model=ReprocessOut, responses=error_responses(400)
)
async def reprocess_rewards(
    body: ReprocessIn, caller: MemberDep, session: DbSession, settings: SettingsDep
) -> ReprocessOut:
    return await rewards.reprocess(session, caller, body.start_date, body.end_date, settings)


# --- wallets -------------------------------------------------------------------------------------


@router.get("/wallets/{child_id}", response_model=WalletOut, responses=NOT_FOUND)
async def get_wallet(child_id: str, caller: MemberDep, session: DbSession) -> WalletOut:
    return await wallets.wallet(session, caller, child_id)


@router.get(
    "/wallets/{child_id}/transactions", response_model=list[TransactionOut], responses=NOT_FOUND
)
async def wallet_transactions(
    child_id: str, caller: MemberDep, session: DbSession
) -> list[TransactionOut]:
    return (await wallets.wallet(session, caller, child_id)).transactions


@router.post(
    "/wallets/{child_id}/convert",
    response_model=WalletOut,
    responses=error_responses(400, 404, 409, 422),
)
async def convert(
    child_id: str, body: ConvertIn, caller: MemberDep, session: DbSession, idem: Idempotency
) -> Response:
    result = await wallets.convert(session, caller, child_id, body.amount, body.comment)
    return await idem.respond(result.model_dump(mode="json", by_alias=True))


# --- analytics -----------------------------------------------------------------------------------


@router.get("/analytics/monthly", response_model=AnalyticsOut, responses=error_responses(400, 404))
async def monthly(
    caller: MemberDep, session: DbSession, month: str, child_id: str | None = None
) -> AnalyticsOut:
    return await analytics.monthly(session, caller, month, child_id)


# --- calendar feeds ------------------------------------------------------------------------------


@router.post("/calendar/feeds", response_model=FeedCreated, status_code=status.HTTP_201_CREATED)
async def create_feed(
    request: Request,
    caller: MemberDep,
    session: DbSession,
    runtime: RuntimeDep,
    body: FeedCreate | None = None,
) -> FeedCreated:
    feed, token = await feeds.create_feed(session, caller, (body or FeedCreate()).name)
    # The address phones reach (TESSERA_PUBLIC_URL behind a proxy), else the one asked.
    base = (runtime.settings.public_url or str(request.base_url)).rstrip("/")
    return FeedCreated(
        id=feed.id,
        name=feed.name,
        created_at=feed.created_at,
        revoked_at=None,
        url=f"{base}/api/calendar/{token}.ics",
    )


@router.get("/calendar/feeds", response_model=list[FeedOut])
async def list_feeds(caller: MemberDep, session: DbSession) -> list[FeedOut]:
    return [FeedOut.model_validate(f) for f in await feeds.feeds(session, caller)]


@router.delete("/calendar/feeds/{feed_id}", response_model=FeedOut, responses=NOT_FOUND)
async def revoke_feed(feed_id: str, caller: MemberDep, session: DbSession) -> FeedOut:
    return FeedOut.model_validate(await feeds.revoke_feed(session, caller, feed_id))


async def _feed_rate(request: Request, limiter: RateLimiterDep, settings: SettingsDep) -> None:
    await limiter.enforce("family_feed", settings.feed_rate, client_ip(request))


@router.get(
    "/calendar/{token}.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}, **error_responses(404, 429)},
    dependencies=[Depends(_feed_rate)],
)
async def calendar_feed(
    token: Annotated[str, "the feed's secret"], session: DbSession, settings: SettingsDep
) -> Response:
    body = await feeds.render_feed(session, token, settings)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": "private, max-age=300"},
    )
