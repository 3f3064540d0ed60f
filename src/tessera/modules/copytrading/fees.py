"""Fees through the core ledger: the monthly subscription fee (at subscribe time, then each
billing period by the `copytrading.charge_fees` job) and the high-water-mark performance fee.

A fee debits the follower's wallet into the `revenue:copytrading` system account
(FEE_SUBSCRIPTION / FEE_PERFORMANCE on the follower's statement) and credits the master's
share from there to the master's wallet (FEE_EARNED); the platform's share stays behind.
Each (subscription, kind, period) is charged once: a unique `copytrading_fee_charges` row is
inserted in the same savepoint as the money movement, so a refused charge leaves neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.audit import record
from tessera.core.ledger import InsufficientFunds, Ledger
from tessera.modules.copytrading.billing import performance_fee, platform_share
from tessera.modules.copytrading.config import CopytradingSettings
from tessera.modules.copytrading.errors import ResultConflict
from tessera.modules.copytrading.models import Master, PeriodResult, Subscription
from tessera.modules.copytrading.repository import CopytradingRepository
from tessera.modules.copytrading.states import State, resting_state

CURRENCY = "USD"
FEE_ACCOUNT = "revenue:copytrading"
FEE_SUBSCRIPTION = "FEE_SUBSCRIPTION"
FEE_PERFORMANCE = "FEE_PERFORMANCE"
FEE_EARNED = "FEE_EARNED"
# States the fee job may lock for want of funds (an owner's pause, a stop-out and a
# suspension keep their state; they are billed when they resume).
LOCKABLE = (State.SYNCED, State.DEGRADED_GAP, State.PAUSED_TOXIC)


@dataclass(frozen=True)
class Charge:
    amount: int
    master_share: int
    transaction_id: str | None


class FeeService:
    def __init__(self, session: AsyncSession, settings: CopytradingSettings) -> None:
        self.session = session
        self.settings = settings
        self.repo = CopytradingRepository(session)
        self.ledger = Ledger(session)

    @property
    def period(self) -> timedelta:
        return timedelta(days=self.settings.billing_period_days)

    async def _charge(
        self, sub: Subscription, master: Master, *, kind: str, period: str, amount: int
    ) -> Charge | None:
        """Charge `amount` once for (sub, kind, period); None if already charged. Raises
        `InsufficientFunds` leaving nothing behind."""
        share = amount - platform_share(amount, self.settings.platform_fee_pct)
        async with self.session.begin_nested():
            charge_id = await self.repo.claim_fee(sub.id, kind, period, amount, share)
            if charge_id is None:
                return None
            reference = f"copytrading:{sub.id}:{kind}:{period}"
            details = {"subscription_id": sub.id, "master_id": master.user_id, "period": period}
            txn = await self.ledger.charge_user(
                sub.subscriber_id,
                amount,
                CURRENCY,
                kind=kind,
                to_account=FEE_ACCOUNT,
                reference=reference,
                metadata=details,
                description=f"{master.display_name}: {kind.removeprefix('FEE_').lower()} fee",
                actor_type="system",
            )
            if share > 0:
                await self.ledger.credit_user(
                    master.user_id,
                    share,
                    CURRENCY,
                    kind=FEE_EARNED,
                    from_account=FEE_ACCOUNT,
                    reference=reference,
                    metadata=details,
                    description=f"{kind.removeprefix('FEE_').lower()} fee from a follower",
                    actor_type="system",
                )
            await self.repo.set_fee_transaction(charge_id, txn.id)
        sub.total_fees_paid += amount
        return Charge(amount, share, txn.id)

    async def charge_first_period(self, sub: Subscription, master: Master, now: datetime) -> None:
        """At subscribe time: the first period, paid up front (InsufficientFunds → 400)."""
        if master.monthly_fee > 0:
            await self._charge(
                sub, master, kind=FEE_SUBSCRIPTION, period=_key(now), amount=master.monthly_fee
            )
        sub.paid_until = now + self.period

    async def charge_due(self, sub_id: str, now: datetime) -> str:
        """Charge the subscription's next period if it is due. Returns what happened:
        `charged`, `locked` (no funds), or `skipped` (not due, already charged, not billable).
        The subscription row is locked first (see the repository's lock order)."""
        sub = await self.repo.get_subscription(sub_id, lock=True)
        if sub is None or not sub.is_active or sub.state == State.SUSPENDED_ADMIN:
            return "skipped"
        if sub.paid_until is None or sub.paid_until > now:
            return "skipped"
        master = await self.repo.get_master(sub.master_id)
        assert master is not None
        # A locked subscription restarts its billing when it can pay: no bill for the time
        # it could not copy. Until its wallet holds the fee, it is not tried again (a refused
        # movement still takes the ledger's locks).
        start = now if sub.state == State.LOCKED_NO_FUNDS else sub.paid_until
        if sub.state == State.LOCKED_NO_FUNDS and not await self._can_pay(sub, master.monthly_fee):
            return "skipped"
        try:
            if master.monthly_fee > 0:
                await self._charge(
                    sub,
                    master,
                    kind=FEE_SUBSCRIPTION,
                    period=_key(start),
                    amount=master.monthly_fee,
                )
        except InsufficientFunds:
            if sub.state in LOCKABLE:
                sub.state = State.LOCKED_NO_FUNDS
                sub.paused_at, sub.paused_reason = now, "Insufficient funds for the monthly fee"
                await self.session.flush()
                await record(
                    self.session,
                    "copytrading.subscription_locked",
                    actor_type="system",
                    user_id=sub.subscriber_id,
                    target_type="copytrading_subscription",
                    target_id=sub.id,
                    details={"amount": master.monthly_fee, "currency": CURRENCY},
                )
                return "locked"
            return "skipped"
        sub.paid_until = start + self.period
        if sub.state == State.LOCKED_NO_FUNDS:
            sub.state = resting_state(sub.trust_score)
            sub.paused_at = now if sub.state == State.PAUSED_TOXIC else None
            sub.paused_reason = "Trust score below 50" if sub.state == State.PAUSED_TOXIC else None
            await self.session.flush()
            await record(
                self.session,
                "copytrading.subscription_unlocked",
                actor_type="system",
                user_id=sub.subscriber_id,
                target_type="copytrading_subscription",
                target_id=sub.id,
                details={"state": sub.state},
            )
        await self.session.flush()
        return "charged"

    async def _can_pay(self, sub: Subscription, amount: int) -> bool:
        wallet = await self.ledger.wallet_for(sub.subscriber_id, CURRENCY)
        return wallet is not None and await self.ledger.balance(wallet.id) >= amount

    async def ensure_paid(self, sub: Subscription, now: datetime) -> None:
        """Before a paused subscription copies again: pay a lapsed period (or refuse, 400)."""
        if sub.paid_until is not None and sub.paid_until <= now:
            master = await self.repo.get_master(sub.master_id)
            assert master is not None
            if master.monthly_fee > 0:
                await self._charge(
                    sub, master, kind=FEE_SUBSCRIPTION, period=_key(now), amount=master.monthly_fee
                )
            sub.paid_until = now + self.period

    # --- performance fees -------------------------------------------------------------------

    async def report_result(
        self,
        sub: Subscription,
        master: Master,
        *,
        period: str,
        profit: int,
        reporter: str,
        now: datetime,
    ) -> tuple[PeriodResult, bool]:
        """Record the pair's cumulative profit level at the close of `period` and charge the
        fee above the high-water mark. Idempotent per (pair, period): the same report again
        returns the stored result (False); a different one is a 409."""
        existing = await self.repo.get_result(sub.subscriber_id, sub.master_id, period)
        if existing is not None:
            if existing.profit != profit:
                raise ResultConflict()
            return existing, False
        computed = performance_fee(profit, sub.high_water_mark, master.performance_fee_bps)
        result = PeriodResult(
            subscription_id=sub.id,
            subscriber_id=sub.subscriber_id,
            master_id=sub.master_id,
            period=period,
            profit=profit,
            change=profit - sub.last_profit,
            hwm_before=computed.hwm_before,
            hwm_after=computed.hwm_after,
            fee=computed.fee,
            fee_bps=master.performance_fee_bps,
            reported_by=reporter,
            created_at=now,
        )
        await self.repo.add(result)
        if computed.fee > 0:
            await self._charge(
                sub, master, kind=FEE_PERFORMANCE, period=period, amount=computed.fee
            )
        sub.high_water_mark = computed.hwm_after
        sub.last_profit = profit
        await self.session.flush()
        await record(
            self.session,
            "copytrading.result_reported",
            actor_id=reporter,
            user_id=sub.subscriber_id,
            target_type="copytrading_subscription",
            target_id=sub.id,
            details={"period": period, "profit": profit, "fee": computed.fee},
        )
        return result, True


def _key(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")
