"""Daily rewards: each active contract pays its `dailyReward` into the child's EUR wallet for
every day on which the child did every task due (approved where approval is required) and
broke no rule — a day with no task counts. An excused day pays nothing and costs nothing.

A day is settled once per contract: the `family_reward_days` row, unique per (contract, day),
is inserted before the ledger moves a cent, in the same transaction, so the midnight job on
any number of replicas and a parent's re-run can never pay a day twice. A re-run may turn an
unpaid day into a paid one (a task was done late, a violation was removed); it never takes a
reward back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.ledger import Ledger
from tessera.modules.family.access import FamilyCaller, readable_child
from tessera.modules.family.config import CURRENCY, FamilySettings
from tessera.modules.family.errors import InvalidReprocessRange
from tessera.modules.family.models import Contract, ExcusedDay, Family, RewardDay, Task, Violation
from tessera.modules.family.repository import FamilyRepository
from tessera.modules.family.schemas import (
    DayContract,
    DayOut,
    DayTask,
    DayViolation,
    ExcusedOut,
    ReprocessDay,
    ReprocessOut,
    ReprocessSummary,
    money,
)

log = structlog.get_logger("tessera.family.rewards")

REWARD_KIND = "DAILY_REWARD"
REWARD_REASON = "Récompense journalière"
REWARDS_ACCOUNT = "family_rewards"  # the system account rewards are paid from


@dataclass(frozen=True)
class DayState:
    """What a child's day looked like, and what the reward rule makes of it."""

    tasks: Sequence[Task]
    violations: Sequence[Violation]
    excused: ExcusedDay | None

    @property
    def undone(self) -> list[Task]:
        return [task for task in self.tasks if not task.done]

    @property
    def outcome(self) -> str:
        if self.excused is not None:
            return "excused"
        return "skipped" if self.undone or self.violations else "paid"

    @property
    def perfect(self) -> bool:
        """The analytics' stricter "perfect day": at least one task, all done, no violation."""
        return bool(self.tasks) and not self.undone and not self.violations

    def explanation(self) -> str:
        if self.excused is not None:
            return f"Jour excusé ({self.excused.reason}) : ni récompense, ni pénalité"
        reasons = []
        if self.undone:
            reasons.append(f"{len(self.undone)} tâche(s) sur {len(self.tasks)} non faite(s)")
        if self.violations:
            reasons.append(f"{len(self.violations)} règle(s) non respectée(s)")
        if reasons:
            return "Pas de récompense : " + " et ".join(reasons)
        if not self.tasks:
            return "Aucune tâche ce jour-là et aucune règle enfreinte : récompense méritée"
        return "Toutes les tâches faites et aucune règle enfreinte : récompense méritée"


async def day_state(repo: FamilyRepository, family_id: str, child_id: str, day: date) -> DayState:
    return DayState(
        tasks=await repo.tasks_between(family_id, child_id, day, day),
        violations=await repo.violations_between(family_id, child_id, day, day),
        excused=await repo.excused_day(child_id, day),
    )


@dataclass
class Tally:
    processed: int = 0
    skipped: int = 0
    credited_cents: int = 0
    by_day: dict[date, list[int]] = field(default_factory=dict)

    def add(self, day: date, paid_cents: int | None) -> None:
        counts = self.by_day.setdefault(day, [0, 0, 0])
        if paid_cents is None:
            self.skipped += 1
            counts[1] += 1
        else:
            self.processed += 1
            self.credited_cents += paid_cents
            counts[0] += 1
            counts[2] += paid_cents


async def _pay(session: AsyncSession, contract: Contract, day: date, reward_day_id: str) -> None:
    txn = await Ledger(session).credit_user(
        contract.child_id,
        contract.daily_reward_cents,
        CURRENCY,
        kind=REWARD_KIND,
        from_account=REWARDS_ACCOUNT,
        reference=f"family-reward:{reward_day_id}",
        description=REWARD_REASON,
        metadata={"contract_id": contract.id, "day": day.isoformat()},
        actor_type="system",
    )
    await FamilyRepository(session).set_reward_transaction(reward_day_id, txn.id)


async def settle(
    session: AsyncSession, contract: Contract, day: date, *, rerun: bool = False
) -> int | None:
    """Settle (contract, day) if nobody has; on a re-run, pay a day that was left unpaid
    if it now qualifies. The cents paid by this call, or None."""
    repo = FamilyRepository(session)
    if not rerun and await repo.reward_day(contract.id, day) is not None:
        return None  # settled by an earlier run: the usual case every quarter hour
    state = await day_state(repo, contract.family_id, contract.child_id, day)
    outcome = state.outcome
    values: dict[str, Any] = {
        "outcome": outcome,
        "reason": state.explanation(),
        "amount_cents": contract.daily_reward_cents if outcome == "paid" else 0,
        "details": {
            "tasks": len(state.tasks),
            "undone": len(state.undone),
            "violations": len(state.violations),
        },
    }
    claimed = await repo.claim_reward_day(
        contract_id=contract.id,
        family_id=contract.family_id,
        child_id=contract.child_id,
        day=day,
        **values,
    )
    if claimed is not None:
        if outcome != "paid":
            return None
        await _pay(session, contract, day, claimed)
        return contract.daily_reward_cents
    if not rerun:
        return None
    existing = await repo.reward_day(contract.id, day)
    if existing is None or existing.outcome == "paid":
        return None
    if not await repo.settle_unpaid(existing.id, **values) or outcome != "paid":
        return None
    await _pay(session, contract, day, existing.id)
    return contract.daily_reward_cents


def last_finished_day(family: Family, now: datetime, reward_hour: int) -> date:
    """The latest local day of the family that is over (at `reward_hour` the next day)."""
    local = now.astimezone(ZoneInfo(family.timezone))
    return (local - timedelta(hours=reward_hour)).date() - timedelta(days=1)


async def settle_due_days(session: AsyncSession, settings: FamilySettings, now: datetime) -> Tally:
    """The job's work: every family's finished days not settled yet (the last few)."""
    repo = FamilyRepository(session)
    tally = Tally()
    for family in await repo.families():
        last = last_finished_day(family, now, settings.reward_hour)
        for back in range(settings.catch_up_days - 1, -1, -1):
            day = last - timedelta(days=back)
            for contract in await repo.contracts_covering(family.id, day):
                tally.add(day, await settle(session, contract, day))
    return tally


async def reprocess(
    session: AsyncSession,
    caller: FamilyCaller,
    start: date,
    end: date,
    settings: FamilySettings,
) -> ReprocessOut:
    caller.require_parent()
    today = caller.today()
    limit = settings.reprocess_max_days
    if start > end:
        raise InvalidReprocessRange("startDate must be before or equal to endDate")
    if end >= today:
        raise InvalidReprocessRange("Only past days can be reprocessed (not today or later)")
    if (end - start).days + 1 > limit or start < today - timedelta(days=limit):
        raise InvalidReprocessRange(f"At most the last {limit} days can be reprocessed")
    repo = FamilyRepository(session)
    tally = Tally()
    day = start
    while day <= end:
        tally.by_day.setdefault(day, [0, 0, 0])
        for contract in await repo.contracts_covering(caller.family_id, day):
            tally.add(day, await settle(session, contract, day, rerun=True))
        day += timedelta(days=1)
    days = len(tally.by_day)
    return ReprocessOut(
        success=True,
        message=f"Récompenses retraitées pour {days} jour(s)",
        summary=ReprocessSummary(
            total_rewards_processed=tally.processed,
            total_rewards_skipped=tally.skipped,
            total_amount_credited=money(tally.credited_cents),
            days_processed=days,
        ),
        daily_results=[
            ReprocessDay(
                date=d,
                rewards_processed=counts[0],
                rewards_skipped=counts[1],
                total_amount_credited=money(counts[2]),
            )
            for d, counts in sorted(tally.by_day.items())
        ],
    )


def excused_out(row: ExcusedDay) -> ExcusedOut:
    return ExcusedOut(
        id=row.id, child_id=row.child_id, date=row.day, reason=row.reason, created_by=row.created_by
    )


async def explain_day(
    session: AsyncSession, caller: FamilyCaller, child_id: str, day: date
) -> DayOut:
    repo = FamilyRepository(session)
    await readable_child(repo, caller, child_id)
    state = await day_state(repo, caller.family_id, child_id, day)
    names = await repo.rule_descriptions([v.rule_id for v in state.violations])
    contracts = await repo.contracts_covering(caller.family_id, day, child_id, active_only=False)
    settled: dict[str, RewardDay] = {
        row.contract_id: row
        for row in await repo.reward_days_of_child(child_id, day, day)
        if row.contract_id is not None
    }
    return DayOut(
        child_id=child_id,
        date=day,
        excused=excused_out(state.excused) if state.excused else None,
        tasks=[
            DayTask(
                id=t.id,
                title=t.title,
                completed=t.completed,
                requires_approval=t.requires_approval,
                approval_status=t.approval_status,
                counts_as_done=t.done,
            )
            for t in state.tasks
        ],
        violations=[
            DayViolation(
                id=v.id, rule_id=v.rule_id, rule=names.get(v.rule_id, ""), description=v.description
            )
            for v in state.violations
        ],
        rule_met=state.outcome == "paid",
        explanation=state.explanation(),
        contracts=[_day_contract(c, settled.get(c.id)) for c in contracts],
    )


def _day_contract(contract: Contract, row: RewardDay | None) -> DayContract:
    if row is None:
        outcome, reason, amount = "not_settled", "Jour pas encore réglé", 0
        if not contract.active:
            reason = "Contrat inactif : jour non réglé"
    else:
        outcome, reason, amount = row.outcome, row.reason, row.amount_cents
        if row.outcome == "paid":
            reason = f"Récompense versée : {row.reason}"
    return DayContract(
        contract_id=contract.id,
        title=contract.title,
        daily_reward=money(contract.daily_reward_cents),
        outcome=outcome,  # type: ignore[arg-type]
        reason=reason,
        amount_credited=money(amount) if row is not None and row.outcome == "paid" else 0.0,
    )
