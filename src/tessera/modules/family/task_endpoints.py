"""`/api/tasks…`: HTTP only; the rules are in `tasks.py`."""

from __future__ import annotations

from fastapi import APIRouter, status

from tessera.core.db import DbSession
from tessera.core.errors import error_responses
from tessera.modules.family import tasks
from tessera.modules.family.deps import MemberDep, SettingsDep
from tessera.modules.family.params import DayRangeDep, SeedPageDep, parse_day
from tessera.modules.family.schemas import (
    Camel,
    RejectIn,
    TaskCreate,
    TaskOut,
    TaskPage,
    TaskUpdate,
)

router = APIRouter(prefix="/api/tasks", tags=["family: tasks"], responses=error_responses(401, 403))
NOT_FOUND = error_responses(404)


class Success(Camel):
    success: bool = True


@router.get("", response_model=TaskPage)
async def list_tasks(caller: MemberDep, session: DbSession, page: SeedPageDep) -> TaskPage:
    rows, total = await tasks.tasks_page(session, caller, None, page.page, page.limit)
    return TaskPage(tasks=[tasks.task_out(t, caller) for t in rows], total=total)


@router.get("/calendar", response_model=list[TaskOut])
async def calendar(caller: MemberDep, session: DbSession) -> list[TaskOut]:
    rows = await tasks.visible_tasks(session, caller, None, None)
    return [tasks.task_out(t, caller) for t in rows]


@router.get("/calendar/range", response_model=list[TaskOut], responses=error_responses(400))
async def calendar_range(caller: MemberDep, session: DbSession, span: DayRangeDep) -> list[TaskOut]:
    rows = await tasks.visible_tasks(session, caller, span.start, span.end)
    return [tasks.task_out(t, caller) for t in rows]


@router.get("/id/{task_id}", response_model=TaskOut, responses=NOT_FOUND)
async def get_task(task_id: str, caller: MemberDep, session: DbSession) -> TaskOut:
    return tasks.task_out(await tasks.get_task(session, caller, task_id), caller)


@router.get("/user/{user_id}", response_model=TaskPage, responses=NOT_FOUND)
async def tasks_of_user(
    user_id: str, caller: MemberDep, session: DbSession, page: SeedPageDep
) -> TaskPage:
    rows, total = await tasks.tasks_page(session, caller, user_id, page.page, page.limit)
    return TaskPage(tasks=[tasks.task_out(t, caller) for t in rows], total=total)


@router.get("/date/{day}", response_model=list[TaskOut], responses=error_responses(400))
async def tasks_on(day: str, caller: MemberDep, session: DbSession) -> list[TaskOut]:
    when = parse_day(day)
    rows = await tasks.visible_tasks(session, caller, when, when)
    return [tasks.task_out(t, caller) for t in rows]


@router.post(
    "",
    response_model=TaskOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 404, 422),
)
async def create_task(
    body: TaskCreate, caller: MemberDep, session: DbSession, settings: SettingsDep
) -> TaskOut:
    return tasks.task_out(await tasks.create_tasks(session, caller, body, settings), caller)


@router.put("/{task_id}", response_model=TaskOut, responses=error_responses(400, 404, 422))
async def update_task(
    task_id: str, body: TaskUpdate, caller: MemberDep, session: DbSession, settings: SettingsDep
) -> TaskOut:
    task = await tasks.update_task(session, caller, task_id, body, settings)
    return tasks.task_out(task, caller)


@router.put("/{task_id}/complete", response_model=TaskOut, responses=NOT_FOUND)
async def complete_task(task_id: str, caller: MemberDep, session: DbSession) -> TaskOut:
    return tasks.task_out(await tasks.complete_task(session, caller, task_id), caller)


@router.post("/{task_id}/approve", response_model=TaskOut, responses=error_responses(400, 404))
async def approve_task(task_id: str, caller: MemberDep, session: DbSession) -> TaskOut:
    task = await tasks.review_task(session, caller, task_id, approve=True)
    return tasks.task_out(task, caller)


@router.post("/{task_id}/reject", response_model=TaskOut, responses=error_responses(400, 404))
async def reject_task(
    task_id: str, caller: MemberDep, session: DbSession, body: RejectIn | None = None
) -> TaskOut:
    reason = body.reason if body else ""
    task = await tasks.review_task(session, caller, task_id, approve=False, reason=reason)
    return tasks.task_out(task, caller)


@router.delete("/{task_id}", response_model=Success, responses=NOT_FOUND)
async def delete_task(
    task_id: str, caller: MemberDep, session: DbSession, delete_future: bool = False
) -> Success:
    await tasks.delete_task(session, caller, task_id, delete_future=delete_future)
    return Success()
