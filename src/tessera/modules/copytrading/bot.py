"""The bots' side (Expert Advisors): license authentication, status, protection events,
heartbeats, and the trust score they drive.

A license token arrives only in the `X-License-Token` header. It is looked up by its SHA-256
(indexed) and the stored digest is compared in constant time; the plaintext is never stored,
logged or put in a URL. A follower license acts for its subscription, a master license for
the master (publishing signals).

Trust: every event subtracts the seed's penalty for its reason in the event's own
transaction, in one conditional UPDATE (clamped to 0..100), so concurrent events can neither
lose a penalty nor skip the pause at 50. The `copytrading.trust_recovery` job adds 10 for
each 24 h without an incident and lifts `PAUSED_TOXIC` back to `SYNCED` at 50.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.audit import record
from tessera.core.db.base import utcnow
from tessera.core.db.engine import Database
from tessera.core.identity.secret_tokens import sha256_hex
from tessera.modules.copytrading.config import CopytradingSettings
from tessera.modules.copytrading.errors import LicenseInvalid, SubscriptionNotFound
from tessera.modules.copytrading.fees import FeeService
from tessera.modules.copytrading.models import ProtectionEvent, Subscription, TrustChange
from tessera.modules.copytrading.repository import CopytradingRepository
from tessera.modules.copytrading.schemas import (
    DEFAULT_POLICY,
    HeartbeatIn,
    ProtectionEventIn,
)
from tessera.modules.copytrading.states import (
    MAX_SCORE,
    PENALTIES,
    RECOVERY_STEP,
    SYSTEM_MOVABLE,
    TOXIC_BELOW,
    State,
    StopOutAction,
    resting_state,
)

TOUCH_EVERY = timedelta(seconds=30)  # last_used_at is precise to this, to spare writes
QUIET = timedelta(hours=24)
# States a heartbeat's risk check may stop out (an owner's pause or a suspension stays).
STOPPABLE = (State.SYNCED, State.DEGRADED_GAP, State.PAUSED_TOXIC, State.LOCKED_NO_FUNDS)


@dataclass(frozen=True)
class TradingView:
    """A subscription's state as a poll sees it, read in the same query as the license."""

    is_active: bool
    state: str
    stop_out_action: str | None
    policy: dict[str, Any]
    last_equity: int | None
    master_last_sequence: int

    @classmethod
    def of(cls, row: Any) -> TradingView:
        return cls(
            bool(row.is_active),
            str(row.state),
            row.stop_out_action,
            {**DEFAULT_POLICY, **(row.policy or {})},
            None if row.last_equity is None else int(row.last_equity),
            int(row.last_sequence or 0),
        )


@dataclass(frozen=True)
class BotCaller:
    license_id: str
    kind: str  # follower | master
    subscription_id: str | None
    master_id: str
    subscriber_id: str | None
    last_used_at: datetime | None
    ip_address: str | None
    view: TradingView | None = None  # followers: as of authentication

    @property
    def principal(self) -> str:
        return f"license:{self.license_id}"

    def needs_touch(self, now: datetime, ip: str | None) -> bool:
        return (
            self.last_used_at is None
            or now - self.last_used_at >= TOUCH_EVERY
            or self.ip_address != ip
        )


async def authenticate(db: Database, token: str) -> BotCaller:
    """The live license behind `token`, in one query of a short read transaction."""
    digest = sha256_hex(token)
    async with db.session(write=False) as session:
        row = await CopytradingRepository(session).bot_view(digest)
    if row is None or not hmac.compare_digest(row.token_hash.encode(), digest.encode()):
        raise LicenseInvalid()
    if row.expires_at is not None and row.expires_at <= utcnow():
        raise LicenseInvalid("License token expired", code="license_token_expired")
    if row.kind == "master":
        return BotCaller(
            row.license_id,
            "master",
            None,
            row.master_id,
            None,
            row.last_used_at,
            row.ip_address,
        )
    if not row.is_active:
        raise LicenseInvalid()
    return BotCaller(
        row.license_id,
        "follower",
        row.subscription_id,
        row.master_id,
        row.subscriber_id,
        row.last_used_at,
        row.ip_address,
        TradingView.of(row),
    )


async def touch(db: Database, license_id: str, ip: str | None, ea_instance_id: str | None) -> None:
    """Record when and from where a license was last used (after the response, own write)."""
    async with db.session(write=True) as session:
        await CopytradingRepository(session).touch_license(license_id, utcnow(), ip, ea_instance_id)


def policy_of(sub: Subscription) -> dict[str, Any]:
    return {**DEFAULT_POLICY, **(sub.policy or {})}


class BotService:
    def __init__(self, session: AsyncSession, settings: CopytradingSettings) -> None:
        self.session = session
        self.settings = settings
        self.repo = CopytradingRepository(session)

    async def subscription(self, caller: BotCaller, *, lock: bool = False) -> Subscription:
        assert caller.subscription_id is not None
        sub = await self.repo.get_subscription(caller.subscription_id, lock=lock)
        if sub is None or not sub.is_active:
            raise SubscriptionNotFound()
        return sub

    async def record_event(
        self, caller: BotCaller, body: ProtectionEventIn
    ) -> tuple[ProtectionEvent, int, str]:
        sub = await self.subscription(caller)
        now = utcnow()
        penalty = PENALTIES[body.reason]
        score, state, paused_now = await self.repo.apply_penalty(
            sub.id, penalty, now, [s.value for s in SYSTEM_MOVABLE]
        )
        gap = body.reason == "SEQUENCE_GAP" and state == State.SYNCED
        if gap and await self.repo.transition(
            sub.id, from_states=[State.SYNCED], to_state=State.DEGRADED_GAP
        ):
            state = State.DEGRADED_GAP
        event = ProtectionEvent(
            subscription_id=sub.id,
            user_id=sub.subscriber_id,
            event_time=now,
            signal_sequence=body.signal_sequence,
            signal_generated_at=body.signal_generated_at,
            server_arrival_time=body.server_arrival_time,
            reason=body.reason,
            latency_ms=body.latency_ms,
            price_deviation=body.price_deviation,
            current_state=body.current_state,
            penalty=penalty,
            trust_after=score,
            meta=body.metadata or {},
        )
        self.session.add(event)
        self.session.add(
            TrustChange(
                subscription_id=sub.id,
                cause="event",
                reason=body.reason,
                event_id=event.id,
                delta=-penalty,
                score_after=score,
                state_after=state,
                created_at=now,
            )
        )
        await self.session.flush()
        if paused_now:
            await record(
                self.session,
                "copytrading.subscription_auto_paused",
                actor_type="system",
                user_id=sub.subscriber_id,
                target_type="copytrading_subscription",
                target_id=sub.id,
                details={"trust_score": score, "reason": body.reason},
            )
        return event, score, state

    async def heartbeat(self, caller: BotCaller, body: HeartbeatIn) -> Subscription:
        sub = await self.subscription(caller, lock=True)
        now = utcnow()
        today = now.date().isoformat()
        sub.last_heartbeat_at = now
        sub.last_equity, sub.last_balance = body.equity, body.balance
        if sub.day_anchor_date != today or sub.day_anchor_equity is None:
            sub.day_anchor_date, sub.day_anchor_equity = today, body.equity
        if sub.state == State.LOCKED_NO_FUNDS:
            await self.session.flush()
            await FeeService(self.session, self.settings).charge_due(sub.id, now)
            await self.session.refresh(sub)
        stop_reason = self._stop_out_reason(sub, body.equity)
        if stop_reason is not None and sub.state in STOPPABLE:
            action = policy_of(sub)["stop_out_action"]
            before = sub.state
            sub.state = State.STOPPED_OUT
            sub.stop_out_action = StopOutAction(action).value
            sub.stop_out_reason = stop_reason
            sub.paused_at, sub.paused_reason = now, stop_reason
            await self.session.flush()
            await record(
                self.session,
                "copytrading.stopped_out",
                actor_type="system",
                user_id=sub.subscriber_id,
                target_type="copytrading_subscription",
                target_id=sub.id,
                details={
                    "reason": stop_reason,
                    "action": sub.stop_out_action,
                    "equity": body.equity,
                    "state_before": before,
                },
            )
        elif body.policy_version != sub.policy_version:
            if sub.state == State.SYNCED:
                sub.state = State.DEGRADED_GAP
        elif sub.state == State.DEGRADED_GAP:
            # The bot runs the current policy and is heartbeating: it is in sync again.
            sub.state = resting_state(sub.trust_score)
        await self.session.flush()
        return sub

    @staticmethod
    def _stop_out_reason(sub: Subscription, equity: int) -> str | None:
        policy = policy_of(sub)
        floor, cap = policy.get("equity_floor"), policy.get("daily_loss_cap")
        if floor is not None and equity < int(floor):
            return "Equity below the floor"
        anchor = sub.day_anchor_equity
        if cap is not None and anchor is not None and anchor - equity >= int(cap):
            return "Daily loss cap reached"
        return None


# --- jobs ---------------------------------------------------------------------------------------


async def recover_trust(session: AsyncSession, now: datetime) -> int:
    """+10 for every subscription incident-free for 24 h since its last incident and its last
    recovery step; a toxic pause lifts at 50. Returns how many moved."""
    repo = CopytradingRepository(session)
    quiet_since = now - QUIET
    moved = 0
    for sub_id in await repo.recovery_candidates(quiet_since):
        sub = await repo.get_subscription(sub_id, lock=True)
        if sub is None or not sub.is_active or sub.trust_score >= MAX_SCORE:
            continue
        last = max(filter(None, (sub.last_incident_at, sub.last_recovery_at)), default=None)
        if last is not None and last > quiet_since:
            continue
        before = sub.trust_score
        sub.trust_score = min(MAX_SCORE, before + RECOVERY_STEP)
        sub.last_recovery_at = now
        if sub.state == State.PAUSED_TOXIC and sub.trust_score >= TOXIC_BELOW:
            sub.state, sub.paused_at, sub.paused_reason = State.SYNCED, None, None
        session.add(
            TrustChange(
                subscription_id=sub.id,
                cause="recovery",
                reason=None,
                event_id=None,
                delta=sub.trust_score - before,
                score_after=sub.trust_score,
                state_after=sub.state,
                created_at=now,
            )
        )
        moved += 1
    await session.flush()
    return moved


async def mark_silent(session: AsyncSession, now: datetime, silence: timedelta) -> int:
    """SYNCED bots that stopped heartbeating become DEGRADED_GAP."""
    repo = CopytradingRepository(session)
    moved = 0
    for sub_id in await repo.heartbeat_overdue(now - silence):
        if await repo.transition(sub_id, from_states=[State.SYNCED], to_state=State.DEGRADED_GAP):
            moved += 1
    return moved
