"""Masters and subscriptions: the rules of SPEC §7. Takes the request's session, never commits.

Transitions (anything else is refused):

    subscribe            → SYNCED (the first monthly fee paid up front)
    pause  (owner)       SYNCED | DEGRADED_GAP | LOCKED_NO_FUNDS | PAUSED_TOXIC | STOPPED_OUT
                         → PAUSED_USER
    resume (owner)       PAUSED_USER → SYNCED (PAUSED_TOXIC if the score is below 50)
    reset stop-out       STOPPED_OUT → SYNCED (owner; PAUSED_TOXIC if below 50)
    suspend (admin)      any but CANCELLED → SUSPENDED_ADMIN
    unsuspend (admin)    SUSPENDED_ADMIN → SYNCED (PAUSED_TOXIC if below 50)
    cancel (owner)       any but CANCELLED → CANCELLED (license revoked, pair free again)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter

from tessera.core.audit import record
from tessera.core.db.base import utcnow
from tessera.core.identity.models import User
from tessera.core.identity.secret_tokens import new_secret, sha256_hex
from tessera.core.modules import AnySelect, ProfileFields
from tessera.modules.copytrading import billing
from tessera.modules.copytrading.config import CopytradingSettings
from tessera.modules.copytrading.errors import (
    ActiveSubscriptionExists,
    ActiveSubscriptionNotFound,
    InvalidTransition,
    MasterNotFound,
    MastersOnly,
    NotAMaster,
    NotUserResumable,
    SelfSubscription,
    SubscriptionNotFound,
)
from tessera.modules.copytrading.fees import FeeService
from tessera.modules.copytrading.models import License, Master, Subscription
from tessera.modules.copytrading.repository import CopytradingRepository
from tessera.modules.copytrading.schemas import DEFAULT_POLICY, MasterProfileIn, PolicyIn
from tessera.modules.copytrading.signing import signing_secret
from tessera.modules.copytrading.states import State, resting_state

PAUSABLE = (
    State.SYNCED,
    State.DEGRADED_GAP,
    State.LOCKED_NO_FUNDS,
    State.PAUSED_TOXIC,
    State.STOPPED_OUT,
)
LIVE = tuple(state for state in State if state is not State.CANCELLED)
TARGET = "copytrading_subscription"


@dataclass(frozen=True)
class Issued:
    """A license token as shown once."""

    license_id: str
    token: str


@dataclass(frozen=True)
class MasterStats:
    total_signals: int
    subscriber_count: int
    trust_score: int
    win_rate: float
    avg_profit: float
    history: list[tuple[str, int]]


def _issue() -> tuple[str, str]:
    token = new_secret()  # 32 random bytes, base64url: 43 characters
    return token, sha256_hex(token)


class MasterService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.repo = CopytradingRepository(session)

    async def upsert(self, user: User, body: MasterProfileIn) -> Master:
        now = utcnow()
        fields: dict[str, Any] = {
            "display_name": body.display_name,
            "strategy_name": body.strategy_name,
            "bio": body.bio,
            "monthly_fee": body.monthly_fee,
            "performance_fee_bps": billing.pct_to_bps(body.performance_fee_pct),
        }
        existed = await self.repo.get_master(user.id) is not None
        master = await self.repo.upsert_master(user.id, fields, now)
        await record(
            self.session,
            "copytrading.master_updated" if existed else "copytrading.master_created",
            actor_id=user.id,
            target_type="copytrading_master",
            target_id=user.id,
            details={key: value for key, value in fields.items() if key != "bio"},
        )
        return master

    async def get(self, user_id: str) -> Master:
        master = await self.repo.get_master(user_id)
        if master is None:
            raise MasterNotFound()
        return master

    async def mine(self, user: User) -> Master:
        master = await self.repo.get_master(user.id)
        if master is None:
            raise NotAMaster()
        return master

    async def require_master(self, user: User) -> Master:
        master = await self.repo.get_master(user.id)
        if master is None:
            raise MastersOnly()
        return master

    async def stats(self, masters: list[Master]) -> dict[str, MasterStats]:
        ids = [master.user_id for master in masters]
        counts = await self.repo.master_counts(ids)
        changes = await self.repo.master_period_changes(ids)
        found = {}
        for master_id in ids:
            signals, subscribers, trust = counts.get(master_id, (0, 0, 100))
            by_period: dict[str, int] = {}
            for period, change in changes.get(master_id, []):
                by_period[period] = by_period.get(period, 0) + change
            values = list(by_period.values())
            wins = sum(1 for value in values if value > 0)
            found[master_id] = MasterStats(
                total_signals=signals,
                subscriber_count=subscribers,
                trust_score=trust,
                win_rate=round(100 * wins / len(values), 2) if values else 0.0,
                avg_profit=round(sum(values) / len(values) / 100, 2) if values else 0.0,
                history=sorted(by_period.items())[-24:],
            )
        return found

    async def set_verified(self, admin: User, user_id: str, verified: bool) -> Master:
        """An operator vouches for (or withdraws from) a master's track record."""
        master = await self.get(user_id)
        master.verified = verified
        await self.session.flush()
        await record(
            self.session,
            "copytrading.master_verified" if verified else "copytrading.master_unverified",
            actor_id=admin.id,
            user_id=user_id,
            target_type="copytrading_master",
            target_id=user_id,
        )
        return master

    async def issue_license(self, user: User) -> Issued:
        """A new master license (the previous one stops working); shown once."""
        master = await self.require_master(user)
        now = utcnow()
        await self.repo.revoke_licenses(master_id=master.user_id, reason="rotated", now=now)
        token, token_hash = _issue()
        license_ = License(kind="master", master_id=master.user_id, token_hash=token_hash)
        await self.repo.add(license_)
        await record(
            self.session,
            "copytrading.master_license_issued",
            actor_id=user.id,
            target_type="copytrading_license",
            target_id=license_.id,
        )
        return Issued(license_.id, token)


def master_signing_secret(issued: Issued) -> str:
    return signing_secret(issued.token)


class SubscriptionService:
    def __init__(self, session: AsyncSession, settings: CopytradingSettings) -> None:
        self.session = session
        self.settings = settings
        self.repo = CopytradingRepository(session)
        self.fees = FeeService(session, settings)

    async def subscribe(self, user: User, master_id: str) -> tuple[Subscription, Issued]:
        if master_id == user.id:
            raise SelfSubscription()
        master = await self.repo.get_master(master_id)
        if master is None:
            raise MasterNotFound()
        now = utcnow()
        hwm, last_profit = await self.repo.pair_marks(user.id, master_id)
        sub = Subscription(
            subscriber_id=user.id,
            master_id=master_id,
            state=State.SYNCED,
            is_active=True,
            trust_score=100,
            created_at=now,
            updated_at=now,
            high_water_mark=hwm,
            last_profit=last_profit,
            total_fees_paid=0,
            policy=dict(DEFAULT_POLICY),
            policy_version=1,
        )
        if not await self.repo.insert_subscription(sub):
            raise ActiveSubscriptionExists()
        token, token_hash = _issue()
        license_ = License(kind="follower", subscription_id=sub.id, token_hash=token_hash)
        await self.repo.add(license_)
        await self.fees.charge_first_period(sub, master, now)
        await self.session.flush()
        await record(
            self.session,
            "copytrading.subscribed",
            actor_id=user.id,
            target_type=TARGET,
            target_id=sub.id,
            details={"master_id": master_id, "monthly_fee": master.monthly_fee},
        )
        return sub, Issued(license_.id, token)

    async def owned(self, user: User, sub_id: str, *, lock: bool = False) -> Subscription:
        sub = await self.repo.get_subscription(sub_id, lock=lock)
        if sub is None or sub.subscriber_id != user.id:
            raise SubscriptionNotFound()
        return sub

    async def any(self, sub_id: str, *, lock: bool = False) -> Subscription:
        sub = await self.repo.get_subscription(sub_id, lock=lock)
        if sub is None:
            raise SubscriptionNotFound()
        return sub

    async def of_user(self, user: User) -> list[tuple[Subscription, str]]:
        return await self.repo.subscriptions_of(user.id)

    async def _audit(self, actor: User, action: str, sub: Subscription, **details: Any) -> None:
        await record(
            self.session,
            f"copytrading.{action}",
            actor_id=actor.id,
            user_id=sub.subscriber_id,
            target_type=TARGET,
            target_id=sub.id,
            details=details or None,
        )

    async def pause(self, user: User, sub_id: str) -> Subscription:
        sub = await self.owned(user, sub_id, lock=True)
        if not sub.is_active or sub.state not in PAUSABLE:
            raise ActiveSubscriptionNotFound()
        before = sub.state
        now = utcnow()
        sub.state, sub.paused_at, sub.paused_reason = State.PAUSED_USER, now, "User requested pause"
        await self.session.flush()
        await self._audit(user, "subscription_paused", sub, state_before=before)
        return sub

    async def resume(self, user: User, sub_id: str) -> Subscription:
        sub = await self.owned(user, sub_id, lock=True)
        if not sub.is_active or sub.state != State.PAUSED_USER:
            if sub.is_active and sub.state != State.CANCELLED:
                raise NotUserResumable(
                    f"Paused subscription not found: a subscription in {sub.state} cannot be "
                    "resumed by its owner"
                )
            raise NotUserResumable()
        await self.fees.ensure_paid(sub, utcnow())
        self._rest(sub)
        await self.session.flush()
        await self._audit(user, "subscription_resumed", sub, state_after=sub.state)
        return sub

    def _rest(self, sub: Subscription) -> None:
        sub.state = resting_state(sub.trust_score)
        if sub.state == State.PAUSED_TOXIC:
            sub.paused_at, sub.paused_reason = utcnow(), "Trust score below 50"
        else:
            sub.paused_at, sub.paused_reason = None, None
        sub.stop_out_action, sub.stop_out_reason = None, None

    async def reset_stop_out(self, user: User, sub_id: str) -> Subscription:
        sub = await self.owned(user, sub_id, lock=True)
        if sub.state != State.STOPPED_OUT:
            raise InvalidTransition("The subscription is not stopped out")
        reason = sub.stop_out_reason
        await self.fees.ensure_paid(sub, utcnow())
        self._rest(sub)
        sub.day_anchor_date = sub.day_anchor_equity = None  # the next heartbeat re-anchors
        await self.session.flush()
        await self._audit(user, "stop_out_reset", sub, stop_out_reason=reason)
        return sub

    async def cancel(self, user: User, sub_id: str) -> Subscription:
        sub = await self.owned(user, sub_id, lock=True)
        if not sub.is_active:
            raise ActiveSubscriptionNotFound()
        now = utcnow()
        before = sub.state
        sub.state, sub.is_active, sub.cancelled_at = State.CANCELLED, False, now
        await self.repo.revoke_licenses(subscription_id=sub.id, reason="cancelled", now=now)
        await self.session.flush()
        await self._audit(user, "subscription_cancelled", sub, state_before=before)
        return sub

    async def rotate_license(self, user: User, sub_id: str) -> tuple[Subscription, Issued]:
        sub = await self.owned(user, sub_id, lock=True)
        if not sub.is_active:
            raise ActiveSubscriptionNotFound()
        now = utcnow()
        await self.repo.revoke_licenses(subscription_id=sub.id, reason="rotated", now=now)
        token, token_hash = _issue()
        license_ = License(kind="follower", subscription_id=sub.id, token_hash=token_hash)
        await self.repo.add(license_)
        await self._audit(user, "license_rotated", sub, license_id=license_.id)
        return sub, Issued(license_.id, token)

    async def suspend(self, admin: User, sub_id: str, reason: str | None) -> Subscription:
        sub = await self.any(sub_id, lock=True)
        if not sub.is_active or sub.state == State.SUSPENDED_ADMIN:
            raise InvalidTransition("Only an active, unsuspended subscription can be suspended")
        before = sub.state
        sub.state, sub.paused_at = State.SUSPENDED_ADMIN, utcnow()
        sub.paused_reason = reason or "Suspended by an administrator"
        await self.session.flush()
        await self._audit(admin, "subscription_suspended", sub, state_before=before, reason=reason)
        return sub

    async def unsuspend(self, admin: User, sub_id: str) -> Subscription:
        sub = await self.any(sub_id, lock=True)
        if sub.state != State.SUSPENDED_ADMIN:
            raise InvalidTransition("The subscription is not suspended")
        self._rest(sub)
        await self.session.flush()
        await self._audit(admin, "subscription_unsuspended", sub, state_after=sub.state)
        return sub

    async def set_policy(self, user: User, sub_id: str, body: PolicyIn) -> Subscription:
        sub = await self.owned(user, sub_id, lock=True)
        if not sub.is_active:
            raise ActiveSubscriptionNotFound()
        sub.policy = body.stored()
        sub.policy_version += 1
        await self.session.flush()
        await self._audit(user, "policy_updated", sub, version=sub.policy_version)
        return sub

    async def subscribers(self, user: User) -> list[tuple[Subscription, str]]:
        master = await MasterService(self.session).require_master(user)
        return await self.repo.subscribers_of(master.user_id)

    async def for_result(self, actor: User, sub_id: str) -> tuple[Subscription, Master]:
        """The subscription a master (its own followers only) or an admin reports on."""
        sub = await self.repo.get_subscription(sub_id, lock=True)
        if sub is None or not (actor.is_admin or sub.master_id == actor.id):
            raise SubscriptionNotFound()
        master = await self.repo.get_master(sub.master_id)
        assert master is not None
        return sub, master


def _profile_query(user_id: BindParameter[str]) -> AnySelect:
    lowest = select(func.min(Subscription.trust_score)).where(
        Subscription.subscriber_id == user_id, Subscription.is_active
    )
    return select(
        cast(user_id, String).label("user_id"),
        lowest.scalar_subquery().label("lowest_trust"),
        exists().where(Master.user_id == user_id).label("is_master"),
    )


def _profile_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    lowest = values["lowest_trust"]
    return {
        "user_id": values["user_id"],
        "role": "master" if values["is_master"] else "user",
        "trust_score": 100 if lowest is None else int(lowest),
    }


# The fields seed 001's web client reads on `/auth/me`.
profile = ProfileFields(query=_profile_query, render=_profile_fields)


def next_charge_at(sub: Subscription) -> datetime | None:
    return sub.paid_until if sub.is_active else None
