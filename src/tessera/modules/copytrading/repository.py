"""All SQL of the copy-trading module. Nothing here commits: the request or the job does.

Concurrency: every rule that must hold under parallel requests is one conditional statement
(`UPDATE … WHERE <state allows> RETURNING …`, `INSERT … ON CONFLICT DO NOTHING`), so it holds
on PostgreSQL (READ COMMITTED, any number of replicas) and on SQLite (writers serialised).
Lock order: a transaction that changes a subscription locks its row *before* it appends audit
rows or moves money (which take the audit chain lock, then ledger accounts), so no cycle can
form between a subscription row and the chain lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.db.base import new_uuid
from tessera.core.db.engine import insert_for
from tessera.core.identity.models import User
from tessera.modules.copytrading.models import (
    FeeCharge,
    License,
    Master,
    PeriodResult,
    ProtectionEvent,
    Signal,
    Subscription,
    TrustChange,
)
from tessera.modules.copytrading.states import TOXIC_BELOW, State

_TRADING_VIEW = (
    Subscription.is_active,
    Subscription.state,
    Subscription.stop_out_action,
    Subscription.policy,
    Subscription.last_equity,
    Master.last_sequence,
)


class CopytradingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    # --- masters ----------------------------------------------------------------------------

    async def get_master(self, user_id: str) -> Master | None:
        return await self.session.scalar(select(Master).where(Master.user_id == user_id))

    async def upsert_master(self, user_id: str, fields: dict[str, Any], now: datetime) -> Master:
        stmt = insert_for(self.dialect, Master).values(
            user_id=user_id, created_at=now, updated_at=now, **fields
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["user_id"], set_={**fields, "updated_at": now}
        )
        await self.session.execute(stmt)
        master = await self.session.scalar(
            select(Master)
            .where(Master.user_id == user_id)
            .execution_options(populate_existing=True)
        )
        assert master is not None
        return master

    async def list_masters(self, limit: int, offset: int) -> tuple[Sequence[Master], int]:
        rows = await self.session.scalars(
            select(Master)
            .order_by(Master.verified.desc(), Master.created_at, Master.user_id)
            .limit(limit)
            .offset(offset)
        )
        total = await self.session.scalar(select(func.count()).select_from(Master))
        return rows.all(), int(total or 0)

    async def master_counts(self, master_ids: Sequence[str]) -> dict[str, tuple[int, int, int]]:
        """master → (signals published, active subscribers, mean trust of those)."""
        if not master_ids:
            return {}
        signals = dict(
            (
                await self.session.execute(
                    select(Signal.master_id, func.count())
                    .where(Signal.master_id.in_(master_ids))
                    .group_by(Signal.master_id)
                )
            ).all()
        )
        subs = {
            row[0]: (int(row[1]), round(float(row[2])))
            for row in (
                await self.session.execute(
                    select(
                        Subscription.master_id,
                        func.count(),
                        func.avg(Subscription.trust_score),
                    )
                    .where(Subscription.master_id.in_(master_ids), Subscription.is_active)
                    .group_by(Subscription.master_id)
                )
            ).all()
        }
        return {
            master_id: (
                int(signals.get(master_id, 0)),
                subs.get(master_id, (0, 100))[0],
                subs.get(master_id, (0, 100))[1],
            )
            for master_id in master_ids
        }

    async def master_period_changes(
        self, master_ids: Sequence[str], limit_per_master: int = 500
    ) -> dict[str, list[tuple[str, int]]]:
        """master → [(period, change)] of its followers' reported results, oldest first."""
        if not master_ids:
            return {}
        rows = await self.session.execute(
            select(PeriodResult.master_id, PeriodResult.period, PeriodResult.change)
            .where(PeriodResult.master_id.in_(master_ids))
            .order_by(PeriodResult.master_id, PeriodResult.period)
            .limit(limit_per_master * len(master_ids))
        )
        found: dict[str, list[tuple[str, int]]] = {}
        for master_id, period, change in rows.all():
            found.setdefault(master_id, []).append((period, int(change)))
        return found

    async def subscribers_of(self, master_id: str) -> list[tuple[Subscription, str]]:
        rows = await self.session.execute(
            select(Subscription, User.email)
            .join(User, User.id == Subscription.subscriber_id)
            .where(Subscription.master_id == master_id)
            .order_by(Subscription.created_at.desc(), Subscription.id)
        )
        return [(sub, str(email)) for sub, email in rows.all()]

    async def advance_sequence(self, master_id: str, sequence: int) -> bool:
        """Record `sequence` as the master's last if it is greater (one conditional write)."""
        result = await self.session.execute(
            update(Master)
            .where(Master.user_id == master_id, Master.last_sequence < sequence)
            .values(last_sequence=sequence)
            .returning(Master.user_id)
        )
        return result.scalar_one_or_none() is not None

    # --- subscriptions ----------------------------------------------------------------------

    async def insert_subscription(self, sub: Subscription) -> bool:
        """False if the pair already has an active subscription (the partial unique index)."""
        try:
            async with self.session.begin_nested():
                self.session.add(sub)
                await self.session.flush()
        except IntegrityError:
            return False
        return True

    async def get_subscription(self, sub_id: str, *, lock: bool = False) -> Subscription | None:
        stmt = select(Subscription).where(Subscription.id == sub_id)
        if lock:
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        return await self.session.scalar(stmt)

    async def refresh(self, sub: Subscription) -> None:
        await self.session.refresh(sub)

    async def subscriptions_of(self, user_id: str) -> list[tuple[Subscription, str]]:
        rows = await self.session.execute(
            select(Subscription, Master.display_name)
            .join(Master, Master.user_id == Subscription.master_id)
            .where(Subscription.subscriber_id == user_id)
            .order_by(Subscription.created_at.desc(), Subscription.id)
        )
        return [(sub, str(name)) for sub, name in rows.all()]

    async def master_name(self, master_id: str) -> str:
        return str(
            await self.session.scalar(
                select(Master.display_name).where(Master.user_id == master_id)
            )
            or ""
        )

    async def pair_marks(self, subscriber_id: str, master_id: str) -> tuple[int, int]:
        """(high-water mark, last profit level) of the pair's latest earlier subscription."""
        row = (
            await self.session.execute(
                select(Subscription.high_water_mark, Subscription.last_profit)
                .where(
                    Subscription.subscriber_id == subscriber_id,
                    Subscription.master_id == master_id,
                )
                .order_by(Subscription.created_at.desc())
                .limit(1)
            )
        ).first()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    async def lowest_active_trust(self, user_id: str) -> int | None:
        value = await self.session.scalar(
            select(func.min(Subscription.trust_score)).where(
                Subscription.subscriber_id == user_id, Subscription.is_active
            )
        )
        return None if value is None else int(value)

    async def transition(
        self,
        sub_id: str,
        *,
        from_states: Iterable[str],
        to_state: str,
        values: dict[str, Any] | None = None,
    ) -> bool:
        """Move the subscription to `to_state` only if it is in one of `from_states`."""
        result = await self.session.execute(
            update(Subscription)
            .where(Subscription.id == sub_id, Subscription.state.in_(list(from_states)))
            .values(state=to_state, **(values or {}))
            .returning(Subscription.id)
            .execution_options(synchronize_session=False)
        )
        return result.scalar_one_or_none() is not None

    async def apply_penalty(
        self, sub_id: str, penalty: int, now: datetime, movable: Iterable[str]
    ) -> tuple[int, str, bool]:
        """Subtract `penalty` (clamped at 0) in one statement; below the toxic line a movable
        state becomes PAUSED_TOXIC. Returns (score, state, whether it was paused just now)."""
        new_score = case(
            (Subscription.trust_score - penalty < 0, 0),
            else_=Subscription.trust_score - penalty,
        )
        pauses = and_(
            Subscription.trust_score - penalty < TOXIC_BELOW,
            Subscription.state.in_(list(movable)),
        )
        result = await self.session.execute(
            update(Subscription)
            .where(Subscription.id == sub_id)
            .values(
                trust_score=new_score,
                last_incident_at=now,
                state=case((pauses, State.PAUSED_TOXIC.value), else_=Subscription.state),
                paused_at=case((pauses, now), else_=Subscription.paused_at),
                paused_reason=case(
                    (pauses, "Trust score below 50"), else_=Subscription.paused_reason
                ),
                updated_at=now,
            )
            .returning(Subscription.trust_score, Subscription.state, Subscription.paused_at)
            .execution_options(synchronize_session=False)
        )
        score, state, paused_at = result.one()
        return int(score), str(state), state == State.PAUSED_TOXIC and paused_at == now

    async def recovery_candidates(self, quiet_since: datetime) -> Sequence[str]:
        rows = await self.session.scalars(
            select(Subscription.id).where(
                Subscription.is_active,
                Subscription.trust_score < 100,
                or_(
                    Subscription.last_incident_at.is_(None),
                    Subscription.last_incident_at <= quiet_since,
                ),
                or_(
                    Subscription.last_recovery_at.is_(None),
                    Subscription.last_recovery_at <= quiet_since,
                ),
            )
        )
        return rows.all()

    async def due_for_fee(self, now: datetime, limit: int = 1000) -> Sequence[str]:
        """Subscriptions whose paid period has ended: renewals first, then the locked ones
        (retried until their wallet can pay), so many locked ones never starve renewals."""
        locked_last = case((Subscription.state == State.LOCKED_NO_FUNDS.value, 1), else_=0)
        rows = await self.session.scalars(
            select(Subscription.id)
            .where(
                Subscription.is_active,
                Subscription.state != State.SUSPENDED_ADMIN.value,
                Subscription.paid_until.is_not(None),
                Subscription.paid_until <= now,
            )
            .order_by(locked_last, Subscription.paid_until)
            .limit(limit)
        )
        return rows.all()

    async def heartbeat_overdue(self, before: datetime) -> Sequence[str]:
        rows = await self.session.scalars(
            select(Subscription.id).where(
                Subscription.is_active,
                Subscription.state == State.SYNCED.value,
                Subscription.last_heartbeat_at.is_not(None),
                Subscription.last_heartbeat_at < before,
            )
        )
        return rows.all()

    # --- fees and results -------------------------------------------------------------------

    async def claim_fee(
        self, sub_id: str, kind: str, period: str, amount: int, master_share: int
    ) -> str | None:
        """Insert the (subscription, kind, period) charge row; None if it exists already."""
        stmt = (
            insert_for(self.dialect, FeeCharge)
            .values(
                id=new_uuid(),
                subscription_id=sub_id,
                kind=kind,
                period=period,
                amount=amount,
                master_share=master_share,
            )
            .on_conflict_do_nothing(index_elements=["subscription_id", "kind", "period"])
            .returning(FeeCharge.id)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def set_fee_transaction(self, charge_id: str, transaction_id: str) -> None:
        await self.session.execute(
            update(FeeCharge)
            .where(FeeCharge.id == charge_id)
            .values(ledger_transaction_id=transaction_id)
        )

    async def fee_charges(self, sub_id: str) -> Sequence[FeeCharge]:
        rows = await self.session.scalars(
            select(FeeCharge)
            .where(FeeCharge.subscription_id == sub_id)
            .order_by(FeeCharge.created_at)
        )
        return rows.all()

    async def get_result(
        self, subscriber_id: str, master_id: str, period: str
    ) -> PeriodResult | None:
        return await self.session.scalar(
            select(PeriodResult).where(
                PeriodResult.subscriber_id == subscriber_id,
                PeriodResult.master_id == master_id,
                PeriodResult.period == period,
            )
        )

    async def add(self, obj: Any) -> None:
        self.session.add(obj)
        await self.session.flush()

    # --- licenses ---------------------------------------------------------------------------

    async def license_by_hash(self, token_hash: str) -> License | None:
        return await self.session.scalar(
            select(License).where(License.token_hash == token_hash, License.is_active)
        )

    async def revoke_licenses(
        self,
        *,
        subscription_id: str | None = None,
        master_id: str | None = None,
        reason: str,
        now: datetime,
    ) -> int:
        owner = (
            License.subscription_id == subscription_id
            if subscription_id is not None
            else License.master_id == master_id
        )
        result = await self.session.execute(
            update(License)
            .where(owner, License.is_active)
            .values(is_active=False, revoked_at=now, revoked_reason=reason)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def touch_license(
        self, license_id: str, now: datetime, ip: str | None, ea_instance_id: str | None
    ) -> None:
        values: dict[str, Any] = {"last_used_at": now, "ip_address": ip}
        if ea_instance_id:
            values["ea_instance_id"] = ea_instance_id
        await self.session.execute(update(License).where(License.id == license_id).values(**values))

    # --- protection events and trust --------------------------------------------------------

    async def events(
        self, user_id: str, since: datetime, limit: int, subscription_id: str | None
    ) -> Sequence[ProtectionEvent]:
        stmt = select(ProtectionEvent).where(
            ProtectionEvent.user_id == user_id, ProtectionEvent.event_time >= since
        )
        if subscription_id is not None:
            stmt = stmt.where(ProtectionEvent.subscription_id == subscription_id)
        rows = await self.session.scalars(
            stmt.order_by(ProtectionEvent.event_time.desc(), ProtectionEvent.id).limit(limit)
        )
        return rows.all()

    async def summary(
        self, since: datetime, *, user_id: str | None = None, subscription_id: str | None = None
    ) -> list[tuple[str, int, float]]:
        stmt = select(
            ProtectionEvent.reason, func.count(), func.avg(ProtectionEvent.latency_ms)
        ).where(ProtectionEvent.event_time >= since)
        if user_id is not None:
            stmt = stmt.where(ProtectionEvent.user_id == user_id)
        if subscription_id is not None:
            stmt = stmt.where(ProtectionEvent.subscription_id == subscription_id)
        rows = await self.session.execute(
            stmt.group_by(ProtectionEvent.reason).order_by(
                func.count().desc(), ProtectionEvent.reason
            )
        )
        return [(str(r), int(c), float(a or 0)) for r, c, a in rows.all()]

    async def event_measures(
        self, subscription_id: str, since: datetime, limit: int = 100_000
    ) -> list[tuple[int, float | None]]:
        rows = await self.session.execute(
            select(ProtectionEvent.latency_ms, ProtectionEvent.price_deviation)
            .where(
                ProtectionEvent.subscription_id == subscription_id,
                ProtectionEvent.event_time >= since,
            )
            .limit(limit)
        )
        return [(int(latency), dev) for latency, dev in rows.all()]

    async def trust_changes(self, sub_id: str, limit: int) -> Sequence[TrustChange]:
        rows = await self.session.scalars(
            select(TrustChange)
            .where(TrustChange.subscription_id == sub_id)
            .order_by(TrustChange.created_at.desc(), TrustChange.id)
            .limit(limit)
        )
        return rows.all()

    async def purge_events(self, before: datetime) -> int:
        result = await self.session.execute(
            delete(ProtectionEvent).where(ProtectionEvent.event_time < before)
        )
        changes = await self.session.execute(
            delete(TrustChange).where(TrustChange.created_at < before)
        )
        return int(getattr(result, "rowcount", 0) or 0) + int(getattr(changes, "rowcount", 0) or 0)

    # --- signals ----------------------------------------------------------------------------

    async def signals_after(self, master_id: str, after: int, limit: int) -> Sequence[Signal]:
        rows = await self.session.scalars(
            select(Signal)
            .where(Signal.master_id == master_id, Signal.sequence > after)
            .order_by(Signal.sequence)
            .limit(limit)
        )
        return rows.all()

    async def signal_count(self, master_id: str, since: datetime) -> int:
        value = await self.session.scalar(
            select(func.count()).where(Signal.master_id == master_id, Signal.received_at >= since)
        )
        return int(value or 0)

    async def recent_signals(self, master_id: str, limit: int) -> Sequence[Signal]:
        rows = await self.session.scalars(
            select(Signal)
            .where(Signal.master_id == master_id)
            .order_by(Signal.sequence.desc())
            .limit(limit)
        )
        return rows.all()

    async def stream_floor(self, before: datetime) -> list[tuple[str, int]]:
        """Per master, the highest sequence received before `before` (the stream keeps the rest)."""
        rows = await self.session.execute(
            select(Signal.master_id, func.max(Signal.sequence))
            .where(Signal.received_at < before)
            .group_by(Signal.master_id)
        )
        return [(str(master_id), int(floor)) for master_id, floor in rows.all()]

    async def purge_signals(self, before: datetime) -> int:
        result = await self.session.execute(delete(Signal).where(Signal.received_at < before))
        return int(getattr(result, "rowcount", 0) or 0)

    async def bot_view(self, token_hash: str) -> Any | None:
        """The live license with its subscription's trading view and the master's last
        sequence, in one query (the bots' hot path)."""
        master_key = func.coalesce(Subscription.master_id, License.master_id)
        stmt = (
            select(
                License.id.label("license_id"),
                License.kind,
                License.token_hash,
                License.expires_at,
                License.last_used_at,
                License.ip_address,
                master_key.label("master_id"),
                Subscription.id.label("subscription_id"),
                Subscription.subscriber_id,
                *_TRADING_VIEW,
            )
            .select_from(License)
            .outerjoin(Subscription, Subscription.id == License.subscription_id)
            .outerjoin(Master, Master.user_id == master_key)
            .where(License.token_hash == token_hash, License.is_active)
        )
        return (await self.session.execute(stmt)).first()

    async def trading_view(self, sub_id: str) -> Any | None:
        """What a poll needs to decide what to deliver, in one query."""
        stmt = (
            select(*_TRADING_VIEW)
            .select_from(Subscription)
            .join(Master, Master.user_id == Subscription.master_id)
            .where(Subscription.id == sub_id)
        )
        return (await self.session.execute(stmt)).first()

    async def poll_view(self, sub_id: str) -> tuple[Subscription, int] | None:
        """The subscription and its master's last published sequence, in one query."""
        row = (
            await self.session.execute(
                select(Subscription, Master.last_sequence)
                .join(Master, Master.user_id == Subscription.master_id)
                .where(Subscription.id == sub_id)
            )
        ).first()
        return None if row is None else (row[0], int(row[1]))
