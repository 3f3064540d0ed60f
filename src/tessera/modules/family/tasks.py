"""Tasks: one row per child (a task given to two children is two tasks, each completed on its
own), one-off or recurring by ISO weekdays or an RFC 5545 RRULE with exception dates.

A recurring task is its template row (the first occurrence) plus instance rows generated up to
`task_window_days` ahead of today; a daily job moves the window on. Changing a recurring task
touches today and later only: past instances, done or not, are history (rewards were settled on
them). An optional parent approval makes a child's "done" count only once a parent approves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.audit import record
from tessera.core.db.base import utcnow
from tessera.modules.family.access import (
    FamilyCaller,
    child_of_family,
    local_today,
    readable_child,
)
from tessera.modules.family.config import FamilySettings
from tessera.modules.family.errors import (
    InvalidRecurrence,
    InvalidTaskState,
    NotAuthorized,
    TaskNotFound,
)
from tessera.modules.family.models import Task
from tessera.modules.family.recurrence import Recurrence, check_weekdays, parse_rule
from tessera.modules.family.repository import FamilyRepository
from tessera.modules.family.schemas import TaskCreate, TaskOut, TaskUpdate

RECURRENCE_FIELDS = frozenset({"weekdays", "end_date", "rrule", "exdates"})
PROPAGATED_FIELDS = ("title", "description", "assigned_to", "requires_approval")
REQUIRED_FIELDS = ("title", "assigned_to", "due_date", "completed", "requires_approval")


def task_out(task: Task, caller: FamilyCaller) -> TaskOut:
    return TaskOut(
        id=task.id,
        title=task.title,
        description=task.description,
        assigned_to=[task.assigned_to],
        due_date=task.due_date,
        completed=task.completed,
        created_by=task.created_by,
        created_at=task.created_at,
        is_recurring=task.is_recurring,
        weekdays=task.weekdays,
        end_date=task.end_date,
        parent_task_id=task.parent_task_id,
        rrule=task.rrule,
        exdates=task.exdates,
        requires_approval=task.requires_approval,
        approval_status=task.approval_status,
        rejection_reason=task.rejection_reason,
        can_modify=caller.is_parent or task.assigned_to == caller.id,
    )


@dataclass(frozen=True)
class Schedule:
    weekdays: list[int] | None
    rrule: str | None
    exdates: list[str] | None
    end_date: date


def _schedule(
    start: date,
    weekdays: list[int] | None,
    rule: str | None,
    exdates: list[date] | list[str] | None,
    end: date | None,
    settings: FamilySettings,
) -> Schedule:
    """Validate a recurrence; the end defaults to the rule's own (UNTIL/COUNT) or one year."""
    try:
        if rule:
            text, rule_end = parse_rule(rule, start)
            days = None
        else:
            text, rule_end = None, None
            days = list(check_weekdays(weekdays or []))
    except ValueError as exc:
        raise InvalidRecurrence(str(exc)) from None
    last = end or rule_end or start + timedelta(days=settings.default_recurrence_days)
    if rule_end is not None and rule_end < last:
        last = rule_end
    if last < start:
        raise InvalidRecurrence("endDate must not be before dueDate")
    if (last - start).days > 10 * 366:
        raise InvalidRecurrence("a recurring task spans at most ten years")
    skipped = sorted({str(d) for d in exdates or []})
    return Schedule(weekdays=days, rrule=text, exdates=skipped or None, end_date=last)


def _recurrence(template: Task) -> Recurrence:
    assert template.end_date is not None
    return Recurrence(
        start=template.due_date,
        end=template.end_date,
        weekdays=tuple(template.weekdays or ()),
        rule=template.rrule,
        exdates=frozenset(date.fromisoformat(d) for d in template.exdates or []),
    )


async def _generate(repo: FamilyRepository, template: Task, after: date, through: date) -> None:
    """Instances of `template` on its occurrences in (after, through]; existing dates stay."""
    assert template.end_date is not None
    days = _recurrence(template).occurrences(after, through)
    await repo.add_instances(
        [
            {
                "family_id": template.family_id,
                "title": template.title,
                "description": template.description,
                "assigned_to": template.assigned_to,
                "due_date": day,
                "completed": False,
                "created_by": template.created_by,
                "is_recurring": False,
                "parent_task_id": template.id,
                "requires_approval": template.requires_approval,
                "created_at": utcnow(),
            }
            for day in days
        ]
    )
    template.generated_until = max(
        template.generated_until or after, min(through, template.end_date)
    )
    await repo.flush()


async def create_tasks(
    session: AsyncSession, caller: FamilyCaller, body: TaskCreate, settings: FamilySettings
) -> Task:
    """One task per assigned child (each with its own instances); returns the first."""
    caller.require_parent()
    repo = FamilyRepository(session)
    children = [
        await child_of_family(repo, caller.family_id, child_id)
        for child_id in dict.fromkeys(body.assigned_to)
    ]
    schedule = None
    if body.is_recurring:
        schedule = _schedule(
            body.due_date, body.weekdays, body.rrule, body.exdates, body.end_date, settings
        )
    through = caller.today() + timedelta(days=settings.task_window_days)
    created: list[Task] = []
    for child in children:
        task = await repo.add(
            Task(
                family_id=caller.family_id,
                title=body.title,
                description=body.description,
                assigned_to=child.user_id,
                due_date=body.due_date,
                completed=False,
                created_by=caller.id,
                is_recurring=schedule is not None,
                weekdays=schedule.weekdays if schedule else None,
                rrule=schedule.rrule if schedule else None,
                exdates=schedule.exdates if schedule else None,
                end_date=schedule.end_date if schedule else None,
                requires_approval=body.requires_approval,
            )
        )
        if schedule is not None:
            task.generated_until = task.due_date
            await _generate(repo, task, task.due_date, through)
        created.append(task)
    await record(
        session,
        "family.task_created",
        actor_id=caller.id,
        target_type="family_task",
        target_id=created[0].id,
        details={"children": len(created), "recurring": schedule is not None},
    )
    return created[0]


async def get_task(session: AsyncSession, caller: FamilyCaller, task_id: str) -> Task:
    task = await FamilyRepository(session).task(caller.family_id, task_id)
    if task is None:
        raise TaskNotFound()
    if not caller.is_parent and task.assigned_to != caller.id:
        raise NotAuthorized()
    return task


async def update_task(
    session: AsyncSession,
    caller: FamilyCaller,
    task_id: str,
    body: TaskUpdate,
    settings: FamilySettings,
) -> Task:
    repo = FamilyRepository(session)
    task = await get_task(session, caller, task_id)
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    if not caller.is_parent:
        # A child may only take back their own "done": exactly {completed: false}.
        if changes != {"completed": False}:
            raise NotAuthorized()
        _uncomplete(task)
        await repo.flush()
        return task
    for field in REQUIRED_FIELDS:  # `null` for a field that must have a value: unchanged
        if field in changes and changes[field] is None:
            del changes[field]
    if "assigned_to" in changes:
        child = await child_of_family(repo, caller.family_id, changes["assigned_to"][0])
        changes["assigned_to"] = child.user_id
    if "completed" in changes:
        completed = changes.pop("completed")
        if completed:
            _complete(task, caller)
        elif completed is False:
            _uncomplete(task)
    changes.pop("is_recurring", None)  # a task does not turn into a series or back
    recurrence_changed = task.is_recurring and bool(RECURRENCE_FIELDS & changes.keys())
    if recurrence_changed:
        rule = changes.get("rrule", task.rrule)
        weekdays = changes.get("weekdays", task.weekdays)
        if changes.get("weekdays") and "rrule" not in changes:
            rule = None  # new weekdays replace the rule
        schedule = _schedule(
            changes.get("due_date", task.due_date),
            weekdays,
            rule,
            changes.get("exdates", task.exdates),
            changes.get("end_date", task.end_date),
            settings,
        )
        changes.update(
            weekdays=schedule.weekdays,
            rrule=schedule.rrule,
            exdates=schedule.exdates,
            end_date=schedule.end_date,
        )
    else:
        for field in RECURRENCE_FIELDS:
            changes.pop(field, None)
    for field, value in changes.items():
        setattr(task, field, value)
    await repo.flush()
    if task.is_recurring:
        today = caller.today()
        propagated = {f: getattr(task, f) for f in PROPAGATED_FIELDS if f in changes}
        await repo.update_instances(task.id, today, propagated)
        if recurrence_changed:
            # Regenerate today and later; past instances (and future ones already done) stay.
            await repo.delete_instances(task.id, today, only_open=True)
            start = max(today - timedelta(days=1), task.due_date)
            task.generated_until = start
            through = today + timedelta(days=settings.task_window_days)
            await _generate(repo, task, start, through)
    return task


def _complete(task: Task, caller: FamilyCaller) -> None:
    task.completed = True
    task.completed_at = utcnow()
    if task.requires_approval:
        task.approval_status = "approved" if caller.is_parent else "pending"
        task.reviewed_by = caller.id if caller.is_parent else None
        task.rejection_reason = None


def _uncomplete(task: Task) -> None:
    task.completed = False
    task.completed_at = None
    if task.requires_approval:
        task.approval_status = None
        task.reviewed_by = None


async def complete_task(session: AsyncSession, caller: FamilyCaller, task_id: str) -> Task:
    task = await get_task(session, caller, task_id)
    _complete(task, caller)
    await FamilyRepository(session).flush()
    return task


async def review_task(
    session: AsyncSession,
    caller: FamilyCaller,
    task_id: str,
    *,
    approve: bool,
    reason: str = "",
) -> Task:
    caller.require_parent()
    task = await get_task(session, caller, task_id)
    if not task.requires_approval or not task.completed:
        raise InvalidTaskState()
    if approve:
        task.approval_status, task.rejection_reason = "approved", None
    else:
        task.completed, task.completed_at = False, None
        task.approval_status, task.rejection_reason = "rejected", reason or None
    task.reviewed_by = caller.id
    await FamilyRepository(session).flush()
    return task


async def delete_task(
    session: AsyncSession, caller: FamilyCaller, task_id: str, *, delete_future: bool
) -> None:
    """An instance alone (remembered as an exception date, so no regeneration brings it
    back) or with every later one (the series then ends the day before); a template with or
    without its instances from today on (the older ones stay as history); a plain task."""
    caller.require_parent()
    repo = FamilyRepository(session)
    task = await repo.task(caller.family_id, task_id)
    if task is None:
        raise TaskNotFound()
    template = (
        await repo.task(caller.family_id, task.parent_task_id) if task.parent_task_id else None
    )
    if template is not None:
        if delete_future:
            await repo.delete_instances(template.id, task.due_date)
            template.end_date = task.due_date - timedelta(days=1)
            if template.generated_until and template.generated_until > template.end_date:
                template.generated_until = template.end_date
            await repo.flush()
            return
        template.exdates = sorted({*(template.exdates or []), str(task.due_date)})
    elif task.is_recurring and delete_future:
        await repo.delete_instances(task.id, caller.today())
    await repo.delete(task)


async def tasks_page(
    session: AsyncSession, caller: FamilyCaller, child_id: str | None, page: int, limit: int
) -> tuple[list[Task], int]:
    repo = FamilyRepository(session)
    if child_id is None:
        caller.require_parent()
    else:
        await readable_child(repo, caller, child_id)
    return await repo.tasks_page(caller.family_id, child_id, limit, (page - 1) * limit)


async def visible_tasks(
    session: AsyncSession, caller: FamilyCaller, start: date | None, end: date | None
) -> list[Task]:
    repo = FamilyRepository(session)
    return list(await repo.tasks_between(caller.family_id, caller.visible_child(), start, end))


async def extend_windows(session: AsyncSession, settings: FamilySettings, now: datetime) -> int:
    """Move every series' window on to the family's today + the window; returns how many."""
    repo = FamilyRepository(session)
    extended = 0
    for family in await repo.families():
        through = local_today(family, now) + timedelta(days=settings.task_window_days)
        for template in await repo.templates_to_extend(family.id, through):
            await _generate(repo, template, template.generated_until or template.due_date, through)
            extended += 1
    return extended
