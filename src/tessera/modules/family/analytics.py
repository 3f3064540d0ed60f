"""Monthly analytics of a child, for the month asked and the one before (seeds-spec §5.7).

- perfectDays: days with at least one task due, every one done (approved where required),
  and no violation. Stricter than the reward rule, which pays a day with no task: a day
  without chores earns its reward but is not "perfect" (kept as in the seed, see docs).
- longestStreak: the longest run of consecutive perfect days; an excused day neither breaks
  nor lengthens a run.
- taskCompletionRate: percentage of the tasks due in the period that are done (one decimal).
- infractions: distinct days with at least one violation.
- privilegesEarned: privileges of the period marked earned.
- rewardsEarned: euros paid for days of the period (by the day they reward).
The current month stops at today (in the family's zone); a future month is all zeros.
"""

from __future__ import annotations

import re
from calendar import monthrange
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.modules.family.access import FamilyCaller, readable_child
from tessera.modules.family.errors import InvalidMonth
from tessera.modules.family.repository import FamilyRepository
from tessera.modules.family.schemas import AnalyticsOut, Measure, money

MONTH = re.compile(r"^(\d{4})-(\d{2})$")
MEASURES = (
    "perfect_days",
    "longest_streak",
    "task_completion_rate",
    "infractions",
    "privileges_earned",
    "rewards_earned",
)


def parse_month(text: str) -> date:
    match = MONTH.match(text or "")
    if not match or not 1 <= int(match.group(2)) <= 12 or not 1900 <= int(match.group(1)) <= 2999:
        raise InvalidMonth()
    return date(int(match.group(1)), int(match.group(2)), 1)


def _previous(first: date) -> date:
    return (first - timedelta(days=1)).replace(day=1)


async def _measures(
    repo: FamilyRepository, family_id: str, child_id: str, first: date, today: date
) -> dict[str, float]:
    last = min(first.replace(day=monthrange(first.year, first.month)[1]), today)
    zero = dict.fromkeys(MEASURES, 0.0)
    if last < first:
        return zero
    tasks = await repo.tasks_between(family_id, child_id, first, last)
    violations = await repo.violations_between(family_id, child_id, first, last)
    excused = {row.day for row in await repo.excused_days(child_id, first, last)}
    privileges = await repo.privileges_between(family_id, child_id, first, last)
    paid = [
        row
        for row in await repo.reward_days_of_child(child_id, first, last)
        if row.outcome == "paid"
    ]
    by_day: dict[date, list[bool]] = {}
    for task in tasks:
        by_day.setdefault(task.due_date, []).append(task.done)
    broken = {v.date for v in violations}
    perfect = longest = run = 0
    day = first
    while day <= last:
        if day not in excused:
            done = by_day.get(day, [])
            if done and all(done) and day not in broken:
                perfect += 1
                run += 1
                longest = max(longest, run)
            else:
                run = 0
        day += timedelta(days=1)
    done_count = sum(task.done for task in tasks)
    return {
        "perfect_days": perfect,
        "longest_streak": longest,
        "task_completion_rate": round(100 * done_count / len(tasks), 1) if tasks else 0.0,
        "infractions": len(broken),
        "privileges_earned": sum(p.earned for p in privileges),
        "rewards_earned": money(sum(row.amount_cents for row in paid)),
    }


async def monthly(
    session: AsyncSession, caller: FamilyCaller, month: str, child_id: str | None
) -> AnalyticsOut:
    first = parse_month(month)
    repo = FamilyRepository(session)
    target = child_id or caller.id
    today = caller.today()
    if target == caller.id and caller.is_parent:  # a parent asking about themself: no tasks
        current = previous = dict.fromkeys(MEASURES, 0.0)
    else:
        await readable_child(repo, caller, target)
        current = await _measures(repo, caller.family_id, target, first, today)
        previous = await _measures(repo, caller.family_id, target, _previous(first), today)
    return AnalyticsOut.model_validate(
        {name: Measure(current=current[name], previous=previous[name]) for name in MEASURES}
    )
