"""HTTP faces of copy-trading (SPEC §7), prefix `/api/v1`. Handlers parse, call the service
and shape the answer. Every path also answers with a trailing slash (the seed's web client
posts `/subscriptions/{id}/pause/`), without a redirect; the slash forms stay out of the
schema.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, BackgroundTasks, Path, Query, Request, Response

from tessera.core.db import DbSession
from tessera.core.db.base import utcnow
from tessera.core.errors import error_responses
from tessera.core.idempotency import Idempotency
from tessera.core.identity.deps import AdminUser, CurrentUser
from tessera.core.kit.money import ExactDecimalRoute
from tessera.core.kit.pagination import PageDep
from tessera.modules.copytrading.billing import bps_to_pct, performance_fee
from tessera.modules.copytrading.bot import BotService, policy_of
from tessera.modules.copytrading.deps import FollowerBot, LicenseToken, MasterBot, StateDep
from tessera.modules.copytrading.errors import PolicyInvalid, SubscriptionNotFound
from tessera.modules.copytrading.fees import FeeService
from tessera.modules.copytrading.models import Master, Subscription
from tessera.modules.copytrading.quality import percentile
from tessera.modules.copytrading.repository import CopytradingRepository
from tessera.modules.copytrading.schemas import (
    EaStatusOut,
    FeePreviewOut,
    HeartbeatIn,
    HeartbeatOut,
    LatencyOut,
    LicenseOut,
    MasterLicenseOut,
    MasterOut,
    MasterProfileIn,
    MessageOut,
    PeriodPoint,
    PolicyIn,
    PolicyOut,
    PollOut,
    ProtectionEventCreatedOut,
    ProtectionEventIn,
    ProtectionEventOut,
    QualityOut,
    ReasonCount,
    ResultIn,
    ResultOut,
    SignalAcceptedOut,
    SignalIn,
    SubscribeIn,
    SubscriberOut,
    SubscriptionCreatedOut,
    SubscriptionOut,
    SummaryOut,
    SuspendIn,
    TrustChangeOut,
    TrustOut,
    _signed,
    money_out,
)
from tessera.modules.copytrading.service import (
    MasterService,
    MasterStats,
    SubscriptionService,
    master_signing_secret,
)
from tessera.modules.copytrading.states import RECOVERY_STEP, TOXIC_BELOW, State, can_trade

router = APIRouter(prefix="/api/v1", tags=["copytrading"], route_class=ExactDecimalRoute)

F = TypeVar("F", bound=Callable[..., Any])
SubId = Annotated[str, Path(max_length=36)]
Hours = Annotated[int, Query(ge=1, le=24 * 90)]
REPLAY_MESSAGE = (
    "This subscription was created by an earlier request with this Idempotency-Key; its "
    "license token was shown then. Rotate the license to get a new one."
)


def route(method: str, path: str, **kwargs: Any) -> Callable[[F], F]:
    """Register `path` and `path/` for `method` (the slash form hidden from the schema)."""

    def register(endpoint: F) -> F:
        router.add_api_route(path, endpoint, methods=[method], **kwargs)
        router.add_api_route(
            path + "/", endpoint, methods=[method], include_in_schema=False, **kwargs
        )
        return endpoint

    return register


# --- shaping --------------------------------------------------------------------------------


def master_out(master: Master, stats: MasterStats) -> MasterOut:
    return MasterOut(
        user_id=master.user_id,
        display_name=master.display_name,
        strategy_name=master.strategy_name,
        bio=master.bio,
        monthly_fee=money_out(master.monthly_fee),
        performance_fee_pct=bps_to_pct(master.performance_fee_bps),
        verified=master.verified,
        trust_score=stats.trust_score,
        win_rate=stats.win_rate,
        avg_profit=stats.avg_profit,
        total_signals=stats.total_signals,
        subscriber_count=stats.subscriber_count,
        performance_history=[
            PeriodPoint(period=period, profit=money_out(cents)) for period, cents in stats.history
        ],
        created_at=master.created_at,
    )


async def masters_out(session: DbSession, masters: list[Master]) -> list[MasterOut]:
    stats = await MasterService(session).stats(masters)
    return [master_out(master, stats[master.user_id]) for master in masters]


def subscription_out(sub: Subscription, master_name: str) -> SubscriptionOut:
    return SubscriptionOut(
        subscription_id=sub.id,
        subscriber_id=sub.subscriber_id,
        master_id=sub.master_id,
        master_name=master_name,
        state=sub.state,
        is_active=sub.is_active,
        created_at=sub.created_at,
        paused_at=sub.paused_at,
        paused_reason=sub.paused_reason,
        trust_score=sub.trust_score,
        policy_version=sub.policy_version,
        stop_out_action=sub.stop_out_action,
        paid_until=sub.paid_until,
        high_water_mark=money_out(sub.high_water_mark),
        total_fees_paid=money_out(sub.total_fees_paid),
    )


async def one_subscription_out(session: DbSession, sub: Subscription) -> SubscriptionOut:
    return subscription_out(sub, await CopytradingRepository(session).master_name(sub.master_id))


def _services(session: DbSession, state: StateDep) -> SubscriptionService:
    return SubscriptionService(session, state.settings)


# --- masters --------------------------------------------------------------------------------


@route("POST", "/masters/profile", response_model=MasterOut, responses=error_responses(401, 422))
async def upsert_master_profile(
    body: MasterProfileIn, user: CurrentUser, session: DbSession
) -> MasterOut:
    """Become a master trader, or update the profile (an upsert)."""
    master = await MasterService(session).upsert(user, body)
    return (await masters_out(session, [master]))[0]


@route("GET", "/masters", response_model=list[MasterOut])
async def list_masters(session: DbSession, page: PageDep, response: Response) -> list[MasterOut]:
    """Every master trader (public); the total is in `X-Total-Count`."""
    masters, total = await CopytradingRepository(session).list_masters(page.limit, page.offset)
    return page.bare(await masters_out(session, list(masters)), total, response)


@route("GET", "/masters/profile/me", response_model=MasterOut, responses=error_responses(401, 404))
async def my_master_profile(user: CurrentUser, session: DbSession) -> MasterOut:
    master = await MasterService(session).mine(user)
    return (await masters_out(session, [master]))[0]


@route(
    "GET",
    "/masters/my/subscribers",
    response_model=list[SubscriberOut],
    responses=error_responses(401, 403),
)
async def my_subscribers(
    user: CurrentUser, session: DbSession, state: StateDep
) -> list[SubscriberOut]:
    """The master's followers, newest first (403 unless the caller is a master)."""
    rows = await _services(session, state).subscribers(user)
    return [
        SubscriberOut(
            subscription_id=sub.id,
            email=email,
            state=sub.state,
            is_active=sub.is_active,
            created_at=sub.created_at,
        )
        for sub, email in rows
    ]


@route(
    "POST",
    "/masters/license",
    response_model=MasterLicenseOut,
    status_code=201,
    responses=error_responses(401, 403),
)
async def issue_master_license(user: CurrentUser, session: DbSession) -> MasterLicenseOut:
    """A license for the master's bot to publish signals, and its signing secret; both shown
    once. Issuing a new one revokes the previous."""
    issued = await MasterService(session).issue_license(user)
    return MasterLicenseOut(
        license_id=issued.license_id,
        license_token=issued.token,
        signing_secret=master_signing_secret(issued),
    )


@route(
    "POST",
    "/masters/{user_id}/verify",
    response_model=MasterOut,
    responses=error_responses(401, 403, 404),
)
async def verify_master(
    user_id: SubId, admin: AdminUser, session: DbSession, verified: bool = True
) -> MasterOut:
    """Mark a master verified (admin); `?verified=false` withdraws it."""
    master = await MasterService(session).set_verified(admin, user_id, verified)
    return (await masters_out(session, [master]))[0]


@route("GET", "/masters/{user_id}", response_model=MasterOut, responses=error_responses(404))
async def get_master(user_id: SubId, session: DbSession) -> MasterOut:
    master = await MasterService(session).get(user_id)
    return (await masters_out(session, [master]))[0]


# --- subscriptions --------------------------------------------------------------------------


@route(
    "POST",
    "/subscriptions",
    response_model=SubscriptionCreatedOut,
    status_code=201,
    responses=error_responses(400, 401, 404, 409, 422),
)
async def subscribe(
    body: SubscribeIn, user: CurrentUser, session: DbSession, idem: Idempotency, state: StateDep
) -> Response:
    """Subscribe to a master (its first monthly fee is charged now). The license token is in
    this answer only; a replay under the same Idempotency-Key answers without it."""
    sub, issued = await _services(session, state).subscribe(user, body.master_id)
    replay = SubscriptionCreatedOut(
        subscription_id=sub.id, license_token=None, message=REPLAY_MESSAGE
    )
    await idem.respond(replay, status_code=201)  # what a replay gets: never the token
    shown = SubscriptionCreatedOut(subscription_id=sub.id, license_token=issued.token)
    return Response(shown.model_dump_json(), status_code=201, media_type="application/json")


@route("GET", "/subscriptions", response_model=list[SubscriptionOut])
async def list_subscriptions(
    user: CurrentUser, session: DbSession, state: StateDep
) -> list[SubscriptionOut]:
    """The caller's subscriptions, newest first."""
    return [
        subscription_out(sub, name) for sub, name in await _services(session, state).of_user(user)
    ]


@route(
    "GET",
    "/subscriptions/{sub_id}",
    response_model=SubscriptionOut,
    responses=error_responses(401, 404),
)
async def get_subscription(
    sub_id: SubId, user: CurrentUser, session: DbSession, state: StateDep
) -> SubscriptionOut:
    return await one_subscription_out(session, await _services(session, state).owned(user, sub_id))


@route(
    "POST",
    "/subscriptions/{sub_id}/pause",
    response_model=MessageOut,
    responses=error_responses(401, 404),
)
async def pause(
    sub_id: SubId, user: CurrentUser, session: DbSession, state: StateDep
) -> MessageOut:
    await _services(session, state).pause(user, sub_id)
    return MessageOut(message="Subscription paused successfully")


@route(
    "POST",
    "/subscriptions/{sub_id}/resume",
    response_model=MessageOut,
    responses=error_responses(400, 401, 404, 409),
)
async def resume(
    sub_id: SubId, user: CurrentUser, session: DbSession, state: StateDep
) -> MessageOut:
    """Only from PAUSED_USER (a system pause is lifted by the system, 409 otherwise)."""
    await _services(session, state).resume(user, sub_id)
    return MessageOut(message="Subscription resumed successfully")


@route(
    "POST",
    "/subscriptions/{sub_id}/cancel",
    response_model=MessageOut,
    responses=error_responses(401, 404),
)
async def cancel(
    sub_id: SubId, user: CurrentUser, session: DbSession, state: StateDep
) -> MessageOut:
    """End the subscription; its license stops working and the pair may subscribe again."""
    await _services(session, state).cancel(user, sub_id)
    return MessageOut(message="Subscription cancelled successfully")


@route(
    "POST",
    "/subscriptions/{sub_id}/license/rotate",
    response_model=LicenseOut,
    responses=error_responses(401, 404),
)
async def rotate_license(
    sub_id: SubId, user: CurrentUser, session: DbSession, state: StateDep
) -> LicenseOut:
    """A new license token, shown once; the old one fails on its next call."""
    sub, issued = await _services(session, state).rotate_license(user, sub_id)
    return LicenseOut(subscription_id=sub.id, license_token=issued.token)


@route(
    "POST",
    "/subscriptions/{sub_id}/stop-out/reset",
    response_model=SubscriptionOut,
    responses=error_responses(400, 401, 404, 409),
)
async def reset_stop_out(
    sub_id: SubId, user: CurrentUser, session: DbSession, state: StateDep
) -> SubscriptionOut:
    """The owner's explicit reset after a stop-out."""
    sub = await _services(session, state).reset_stop_out(user, sub_id)
    return await one_subscription_out(session, sub)


@route(
    "POST",
    "/subscriptions/{sub_id}/suspend",
    response_model=SubscriptionOut,
    responses=error_responses(401, 403, 404, 409),
)
async def suspend(
    sub_id: SubId,
    admin: AdminUser,
    session: DbSession,
    state: StateDep,
    body: SuspendIn | None = None,
) -> SubscriptionOut:
    sub = await _services(session, state).suspend(admin, sub_id, body.reason if body else None)
    return await one_subscription_out(session, sub)


@route(
    "POST",
    "/subscriptions/{sub_id}/unsuspend",
    response_model=SubscriptionOut,
    responses=error_responses(401, 403, 404, 409),
)
async def unsuspend(
    sub_id: SubId, admin: AdminUser, session: DbSession, state: StateDep
) -> SubscriptionOut:
    sub = await _services(session, state).unsuspend(admin, sub_id)
    return await one_subscription_out(session, sub)


@route(
    "GET",
    "/subscriptions/{sub_id}/policy",
    response_model=PolicyOut,
    responses=error_responses(401, 404),
)
async def get_policy(
    sub_id: SubId, user: CurrentUser, session: DbSession, state: StateDep
) -> PolicyOut:
    sub = await _services(session, state).owned(user, sub_id)
    return PolicyOut.of(policy_of(sub), sub.policy_version)


@route(
    "PUT",
    "/subscriptions/{sub_id}/policy",
    response_model=PolicyOut,
    responses=error_responses(401, 404, 422),
)
async def put_policy(
    sub_id: SubId, body: PolicyIn, user: CurrentUser, session: DbSession, state: StateDep
) -> PolicyOut:
    """Replace the risk policy; its version goes up and the bot must heartbeat with it."""
    sub = await _services(session, state).set_policy(user, sub_id, body)
    return PolicyOut.of(policy_of(sub), sub.policy_version)


def result_out(result: Any) -> ResultOut:
    return ResultOut(
        subscription_id=result.subscription_id,
        period=result.period,
        profit=money_out(result.profit),
        change=money_out(result.change),
        high_water_mark_before=money_out(result.hwm_before),
        high_water_mark=money_out(result.hwm_after),
        fee=money_out(result.fee),
        fee_pct=bps_to_pct(result.fee_bps),
        created_at=result.created_at,
    )


@route(
    "POST",
    "/subscriptions/{sub_id}/results",
    response_model=ResultOut,
    status_code=201,
    responses=error_responses(400, 401, 404, 409, 422),
)
async def report_result(
    sub_id: SubId,
    body: ResultIn,
    user: CurrentUser,
    session: DbSession,
    state: StateDep,
    response: Response,
) -> ResultOut:
    """The master (of this follower) or an admin reports the cumulative profit level at the
    close of a period; the performance fee above the high-water mark is charged. The same
    report again answers 200 with the stored result; a different one for the period is 409."""
    sub, master = await _services(session, state).for_result(user, sub_id)
    result, created = await FeeService(session, state.settings).report_result(
        sub, master, period=body.period, profit=body.profit, reporter=user.id, now=utcnow()
    )
    if not created:
        response.status_code = 200
    return result_out(result)


@route(
    "GET",
    "/subscriptions/{sub_id}/fees/preview",
    response_model=FeePreviewOut,
    responses=error_responses(401, 404, 422),
)
async def preview_fees(
    sub_id: SubId,
    user: CurrentUser,
    session: DbSession,
    state: StateDep,
    profit: Annotated[str, Query(max_length=40, description="A cumulative profit level")] = "0",
) -> FeePreviewOut:
    """What a reported result would cost: the fee above the high-water mark, and the next
    monthly charge. The follower and its master may ask."""
    try:
        cents = _signed(profit)
    except ValueError as exc:
        raise PolicyInvalid(f"profit: {exc}", code="invalid_profit") from None
    sub = await CopytradingRepository(session).get_subscription(sub_id)
    if sub is None or user.id not in (sub.subscriber_id, sub.master_id):
        raise SubscriptionNotFound()
    master = await MasterService(session).get(sub.master_id)
    computed = performance_fee(cents, sub.high_water_mark, master.performance_fee_bps)
    return FeePreviewOut(
        subscription_id=sub.id,
        profit=money_out(cents),
        high_water_mark=money_out(sub.high_water_mark),
        profit_above_hwm=money_out(computed.profit_above_hwm),
        fee_pct=bps_to_pct(master.performance_fee_bps),
        fee=money_out(computed.fee),
        new_high_water_mark=money_out(computed.hwm_after),
        monthly_fee=money_out(master.monthly_fee),
        next_charge_at=sub.paid_until if sub.is_active else None,
    )


@route(
    "GET",
    "/subscriptions/{sub_id}/trust",
    response_model=TrustOut,
    responses=error_responses(401, 404),
)
async def explain_trust(
    sub_id: SubId,
    user: CurrentUser,
    session: DbSession,
    state: StateDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> TrustOut:
    """The score and the events and recoveries that moved it, newest first."""
    sub = await _services(session, state).owned(user, sub_id)
    changes = await CopytradingRepository(session).trust_changes(sub.id, limit)
    return TrustOut(
        subscription_id=sub.id,
        score=sub.trust_score,
        state=sub.state,
        toxic_below=TOXIC_BELOW,
        recovery_per_24h=RECOVERY_STEP,
        changes=[
            TrustChangeOut(
                cause=change.cause,
                reason=change.reason,
                event_id=change.event_id,
                delta=change.delta,
                score_after=change.score_after,
                state_after=change.state_after,
                at=change.created_at,
            )
            for change in changes
        ],
    )


def _reason_counts(rows: Any) -> list[ReasonCount]:
    return [
        ReasonCount(reason=reason, count=int(count), avg_latency_ms=round(float(avg or 0), 2))
        for reason, count, avg in rows
    ]


@route(
    "GET",
    "/subscriptions/{sub_id}/quality",
    response_model=QualityOut,
    responses=error_responses(401, 404),
)
async def quality(
    sub_id: SubId, user: CurrentUser, session: DbSession, state: StateDep, hours: Hours = 24
) -> QualityOut:
    """Execution quality over the window: latency and deviation of the refusals the bot
    reported, and refusals per 100 signals the master published."""
    sub = await _services(session, state).owned(user, sub_id)
    repo = CopytradingRepository(session)
    since = utcnow() - timedelta(hours=hours)
    measures = await repo.event_measures(sub.id, since)
    latencies = [float(latency) for latency, _ in measures]
    deviations = [float(dev) for _, dev in measures if dev is not None]
    signals = await repo.signal_count(sub.master_id, since)
    return QualityOut(
        subscription_id=sub.id,
        time_window_hours=hours,
        signals=signals,
        events=len(measures),
        events_per_100_signals=round(100 * len(measures) / signals, 2) if signals else 0.0,
        latency_ms=LatencyOut(
            p50=percentile(latencies, 50),
            p95=percentile(latencies, 95),
            p99=percentile(latencies, 99),
        ),
        price_deviation_p95=percentile(deviations, 95),
        events_by_reason=_reason_counts(await repo.summary(since, subscription_id=sub.id)),
    )


# --- protection events (owner's view) -------------------------------------------------------


@route(
    "GET", "/protection-events/summary", response_model=SummaryOut, responses=error_responses(401)
)
async def events_summary(user: CurrentUser, session: DbSession, hours: Hours = 24) -> SummaryOut:
    """Events per reason in the window, most frequent first."""
    rows = await CopytradingRepository(session).summary(
        utcnow() - timedelta(hours=hours), user_id=user.id
    )
    return SummaryOut(time_window_hours=hours, events_by_reason=_reason_counts(rows))


@route(
    "GET",
    "/protection-events",
    response_model=list[ProtectionEventOut],
    responses=error_responses(401, 404),
)
async def list_events(
    user: CurrentUser,
    session: DbSession,
    state: StateDep,
    subscription_id: Annotated[str | None, Query(max_length=36)] = None,
    hours: Hours = 24,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ProtectionEventOut]:
    """The caller's events in the window, newest first (one subscription's if given)."""
    if subscription_id is not None:
        await _services(session, state).owned(user, subscription_id)
    events = await CopytradingRepository(session).events(
        user.id, utcnow() - timedelta(hours=hours), limit, subscription_id
    )
    return [
        ProtectionEventOut(
            event_id=event.id,
            subscription_id=event.subscription_id,
            reason=event.reason,
            signal_sequence=event.signal_sequence,
            latency_ms=event.latency_ms,
            price_deviation=event.price_deviation,
            event_time=event.event_time,
            current_state=event.current_state,
            metadata=event.meta or {},
        )
        for event in events
    ]


# --- the bot API ----------------------------------------------------------------------------


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


@route("GET", "/ea/status", response_model=EaStatusOut, responses=error_responses(401, 403, 429))
async def ea_status(
    request: Request, caller: FollowerBot, session: DbSession, state: StateDep
) -> Response:
    """What the bot needs to trade safely; answers 304 to a matching `If-None-Match`."""
    view = await CopytradingRepository(session).poll_view(caller.subscription_id or "")
    if view is None:
        raise SubscriptionNotFound()
    sub, master_last = view
    policy = PolicyOut.of(policy_of(sub), sub.policy_version)
    body = (
        EaStatusOut(
            subscription_id=sub.id,
            state=sub.state,
            can_trade=sub.is_active and can_trade(sub.state),
            max_ttl_ms=policy.max_ttl_ms,
            max_price_deviation=policy.max_price_deviation,
            last_sequence=master_last,
            policy=policy,
            policy_version=sub.policy_version,
            stop_out_action=sub.stop_out_action,
            trust_score=sub.trust_score,
        )
        .model_dump_json()
        .encode()
    )
    etag = _etag(body)
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    tags = {
        tag.strip().removeprefix("W/")
        for tag in request.headers.get("if-none-match", "").split(",")
    }
    if etag in tags:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


@route(
    "POST",
    "/ea/heartbeat",
    response_model=HeartbeatOut,
    responses=error_responses(401, 403, 422, 429),
)
async def ea_heartbeat(
    request: Request, body: HeartbeatIn, caller: FollowerBot, session: DbSession, state: StateDep
) -> HeartbeatOut:
    """Equity and the policy version the bot runs: a stale version marks DEGRADED_GAP, the
    equity floor or daily loss cap stops the subscription out."""
    sub = await BotService(session, state.settings).heartbeat(caller, body)
    if body.ea_instance_id:
        await CopytradingRepository(session).touch_license(
            caller.license_id,
            utcnow(),
            request.client.host if request.client else None,
            body.ea_instance_id,
        )
    return HeartbeatOut(
        subscription_id=sub.id,
        state=sub.state,
        can_trade=can_trade(sub.state),
        policy_version=sub.policy_version,
        stop_out_action=sub.stop_out_action,
        stop_out_reason=sub.stop_out_reason,
    )


@route(
    "POST",
    "/protection-events",
    response_model=ProtectionEventCreatedOut,
    status_code=201,
    responses=error_responses(401, 403, 404, 422, 429),
)
async def post_event(
    body: ProtectionEventIn, caller: FollowerBot, session: DbSession, state: StateDep
) -> ProtectionEventCreatedOut:
    """A signal the bot refused; the subscription is the license's. Its penalty moves the
    trust score in this same transaction."""
    event, score, sub_state = await BotService(session, state.settings).record_event(caller, body)
    return ProtectionEventCreatedOut(
        event_id=event.id,
        subscription_id=event.subscription_id,
        user_id=event.user_id,
        signal_sequence=event.signal_sequence,
        reason=event.reason,
        latency_ms=event.latency_ms,
        event_time=event.event_time,
        trust_score=score,
        state=sub_state,
    )


@route(
    "POST",
    "/signals",
    response_model=SignalAcceptedOut,
    status_code=201,
    responses=error_responses(401, 403, 409, 422, 429),
)
async def publish_signal(
    body: SignalIn,
    caller: MasterBot,
    token: LicenseToken,
    session: DbSession,
    state: StateDep,
    background: BackgroundTasks,
) -> SignalAcceptedOut:
    """The master's bot publishes a signal, HMAC-signed, with a strictly increasing sequence."""
    assert token is not None
    signal = await state.relay.publish(session, caller, token, body)
    background.add_task(state.relay.wake, caller.master_id)  # after the commit
    return SignalAcceptedOut(
        signal_id=signal.id, sequence_number=signal.sequence, received_at=signal.received_at
    )


@route("GET", "/signals/poll", response_model=PollOut, responses=error_responses(401, 403, 429))
async def poll_signals(
    caller: FollowerBot,
    state: StateDep,
    last_seq: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    wait: Annotated[float, Query(ge=0, le=120, description="Long-poll seconds")] = 0,
) -> PollOut:
    """The master's signals after `last_seq`, oldest first; empty unless the subscription can
    trade. `wait` holds the request until a signal arrives (at most the configured wait)."""
    return await state.relay.poll(caller, last_seq, limit, wait)


__all__ = ["State", "router"]
