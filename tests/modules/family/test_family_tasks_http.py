"""Tasks: fan-out per child, weekday and RRULE series, changes that touch only the future,
deletions, completion rules and the parent's approval."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx2
from tests.modules.family.conftest import World

from tessera.core.jobs import Scheduler
from tessera.modules.family.jobs import JOBS


async def _create(client: httpx2.AsyncClient, world: World, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/tasks", json=body, headers=world.a.parent.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _dates(client: httpx2.AsyncClient, world: World, child: int = 0) -> list[str]:
    response = await client.get("/api/tasks/calendar", headers=world.a.children[child].headers)
    assert response.status_code == 200, response.text
    return [task["dueDate"] for task in response.json()]


async def test_a_task_for_two_children_is_two_tasks(
    client: httpx2.AsyncClient, world: World
) -> None:
    first, second = world.a.children
    day = world.a.today().isoformat()
    created = await _create(
        client,
        world,
        title="Ranger la chambre",
        assignedTo=[first.id, second.id],
        dueDate=day,
        completed=True,  # the client sends it; the server decides
        createdBy=second.id,
    )
    assert created["assignedTo"] == [first.id] and created["completed"] is False
    assert created["createdBy"] == world.a.parent.id
    mine = (await client.get("/api/tasks/calendar", headers=first.headers)).json()
    theirs = (await client.get("/api/tasks/calendar", headers=second.headers)).json()
    assert len(mine) == len(theirs) == 1 and mine[0]["id"] != theirs[0]["id"]
    assert mine[0]["canModify"] is True
    done = await client.put(f"/api/tasks/{mine[0]['id']}/complete", headers=first.headers)
    assert done.json()["completed"] is True
    theirs = (await client.get("/api/tasks/calendar", headers=second.headers)).json()
    assert theirs[0]["completed"] is False  # each child completes their own copy
    page = await client.get("/api/tasks", params={"limit": 1}, headers=world.a.parent.headers)
    assert page.json()["total"] == 2 and len(page.json()["tasks"]) == 1


async def test_an_unknown_or_foreign_child_is_404_not_500(
    client: httpx2.AsyncClient, world: World
) -> None:
    day = world.a.today().isoformat()
    for child_id in ("no-such-child", world.b.children[0].id, world.a.parent.id):
        response = await client.post(
            "/api/tasks",
            json={"title": "x", "assignedTo": [child_id], "dueDate": day},
            headers=world.a.parent.headers,
        )
        assert response.status_code == 404, response.text
        assert response.json()["error"] == "child_not_found"


async def test_weekdays_default_to_one_year(client: httpx2.AsyncClient, world: World) -> None:
    start = world.a.today()
    created = await _create(
        client,
        world,
        title="Poubelles",
        assignedTo=[world.a.children[0].id],
        dueDate=start.isoformat(),
        isRecurring=True,
        weekdays=[1, 4],  # Mondays and Thursdays
    )
    end = start + timedelta(days=365)
    assert created["endDate"] == end.isoformat() and created["weekdays"] == [1, 4]
    dates = [date.fromisoformat(d) for d in await _dates(client, world)]
    expected = [start] + [
        start + timedelta(days=i)
        for i in range(1, 366)
        if (start + timedelta(days=i)).isoweekday() in (1, 4)
    ]
    assert dates == expected
    assert await _dates(client, world, child=1) == []


async def test_rrule_monthly_with_an_exception(client: httpx2.AsyncClient, world: World) -> None:
    start = date(world.a.today().year, world.a.today().month, 1)
    await _create(
        client,
        world,
        title="Argent de poche",
        assignedTo=[world.a.children[0].id],
        dueDate=start.isoformat(),
        isRecurring=True,
        rrule="FREQ=MONTHLY;BYMONTHDAY=1;COUNT=4",
        exdates=[(start.replace(day=28) + timedelta(days=4)).replace(day=1).isoformat()],
    )
    dates = [date.fromisoformat(d) for d in await _dates(client, world)]
    assert len(dates) == 3 and all(d.day == 1 for d in dates)  # 4 occurrences less 1
    assert dates[0] == start and (dates[1].month - start.month) % 12 == 2


async def test_every_n_days_across_a_dst_week(client: httpx2.AsyncClient, world: World) -> None:
    # Paris changes to summer time on Sunday 2026-03-29: a 23-hour day, still one date.
    await _create(
        client,
        world,
        title="Arroser les plantes",
        assignedTo=[world.a.children[0].id],
        dueDate="2026-03-26",
        isRecurring=True,
        rrule="FREQ=DAILY;INTERVAL=1",
        endDate="2026-04-01",
    )
    assert await _dates(client, world) == [f"2026-03-{d}" for d in range(26, 32)] + ["2026-04-01"]


async def test_bad_recurrences_are_400(client: httpx2.AsyncClient, world: World) -> None:
    child = world.a.children[0].id
    day = world.a.today().isoformat()
    extras: tuple[dict[str, Any], ...] = (
        {"weekdays": [0, 8]},
        {"weekdays": []},
        {"rrule": "FREQ=HOURLY"},
        {"rrule": "FREQ=WEEKLY;BYDAY=XX"},
        {"weekdays": [1], "endDate": "2000-01-01"},
    )
    for extra in extras:
        response = await client.post(
            "/api/tasks",
            json={
                "title": "x",
                "assignedTo": [child],
                "dueDate": day,
                "isRecurring": True,
                **extra,
            },
            headers=world.a.parent.headers,
        )
        assert response.status_code == 400, (extra, response.text)
        assert response.json()["error"] == "invalid_recurrence"


async def test_changes_reach_today_and_later_only(client: httpx2.AsyncClient, world: World) -> None:
    today = world.a.today()
    child = world.a.children[0]
    template = await _create(
        client,
        world,
        title="Vaisselle",
        assignedTo=[child.id],
        dueDate=(today - timedelta(days=3)).isoformat(),
        isRecurring=True,
        rrule="FREQ=DAILY",
        endDate=(today + timedelta(days=3)).isoformat(),
    )
    tasks = (await client.get("/api/tasks/calendar", headers=child.headers)).json()
    past = next(t for t in tasks if t["dueDate"] == (today - timedelta(days=1)).isoformat())
    await client.put(f"/api/tasks/{past['id']}/complete", headers=child.headers)

    response = await client.put(
        f"/api/tasks/{template['id']}",
        json={"title": "Vaisselle du soir", "rrule": "FREQ=DAILY;INTERVAL=2"},
        headers=world.a.parent.headers,
    )
    assert response.status_code == 200, response.text
    tasks = (await client.get("/api/tasks/calendar", headers=child.headers)).json()
    by_day = {t["dueDate"]: t for t in tasks}
    history = [(today - timedelta(days=n)).isoformat() for n in (3, 2, 1)]
    assert all(by_day[d]["title"] == "Vaisselle" for d in history[1:])  # history untouched
    assert by_day[history[2]]["completed"] is True
    future = sorted(d for d in by_day if d >= today.isoformat())
    assert all(by_day[d]["title"] == "Vaisselle du soir" for d in future)
    start = today - timedelta(days=3)
    expected = [
        (start + timedelta(days=n)).isoformat()
        for n in range(0, 7, 2)
        if start + timedelta(days=n) >= today
    ]
    assert future == expected


async def test_delete_an_instance_alone_or_with_the_future(
    client: httpx2.AsyncClient, world: World
) -> None:
    today = world.a.today()
    child = world.a.children[0]
    template = await _create(
        client,
        world,
        title="Lit",
        assignedTo=[child.id],
        dueDate=today.isoformat(),
        isRecurring=True,
        rrule="FREQ=DAILY",
        endDate=(today + timedelta(days=9)).isoformat(),
    )
    tasks = (await client.get("/api/tasks/calendar", headers=child.headers)).json()
    by_day = {t["dueDate"]: t["id"] for t in tasks}
    alone = by_day[(today + timedelta(days=2)).isoformat()]
    gone = await client.delete(f"/api/tasks/{alone}", headers=world.a.parent.headers)
    assert gone.status_code == 200 and gone.json() == {"success": True}
    cut = by_day[(today + timedelta(days=5)).isoformat()]
    response = await client.delete(
        f"/api/tasks/{cut}", params={"delete_future": "true"}, headers=world.a.parent.headers
    )
    assert response.status_code == 200
    left = sorted(
        t["dueDate"]
        for t in (await client.get("/api/tasks/calendar", headers=child.headers)).json()
    )
    assert left == [(today + timedelta(days=n)).isoformat() for n in (0, 1, 3, 4)]
    series = (await client.get(f"/api/tasks/id/{template['id']}", headers=child.headers)).json()
    assert series["endDate"] == (today + timedelta(days=4)).isoformat()
    assert (today + timedelta(days=2)).isoformat() in series["exdates"]
    # A later change of the series does not bring the deleted day back.
    await client.put(
        f"/api/tasks/{template['id']}", json={"rrule": "FREQ=DAILY"}, headers=world.a.parent.headers
    )
    left = sorted(
        t["dueDate"]
        for t in (await client.get("/api/tasks/calendar", headers=child.headers)).json()
    )
    assert left == [(today + timedelta(days=n)).isoformat() for n in (0, 1, 3, 4)]


async def test_a_child_completes_and_only_uncompletes(
    client: httpx2.AsyncClient, world: World
) -> None:
    child, other = world.a.children
    task = await _create(
        client, world, title="Devoirs", assignedTo=[child.id], dueDate=world.a.today().isoformat()
    )
    url = f"/api/tasks/{task['id']}"
    assert (await client.put(f"{url}/complete", headers=other.headers)).status_code == 403
    assert (await client.put(f"{url}/complete", headers=child.headers)).json()["completed"]
    renamed = await client.put(url, json={"title": "Rien"}, headers=child.headers)
    assert renamed.status_code == 403 and renamed.json()["detail"] == "Not authorized"
    undone = await client.put(url, json={"completed": False}, headers=child.headers)
    assert undone.status_code == 200 and undone.json()["completed"] is False
    redo = await client.put(url, json={"completed": True}, headers=child.headers)
    assert redo.status_code == 403


async def test_approval_flow(client: httpx2.AsyncClient, world: World) -> None:
    child = world.a.children[0]
    parent = world.a.parent.headers
    task = await _create(
        client,
        world,
        title="Aspirateur",
        assignedTo=[child.id],
        dueDate=world.a.today().isoformat(),
        requiresApproval=True,
    )
    url = f"/api/tasks/{task['id']}"
    assert (await client.post(f"{url}/approve", headers=parent)).status_code == 400  # not done
    done = (await client.put(f"{url}/complete", headers=child.headers)).json()
    assert done["completed"] is True and done["approvalStatus"] == "pending"
    assert (await client.post(f"{url}/approve", headers=child.headers)).status_code == 403
    rejected = await client.post(
        f"{url}/reject", json={"reason": "Il reste de la poussière"}, headers=parent
    )
    body = rejected.json()
    assert body["completed"] is False and body["approvalStatus"] == "rejected"
    assert body["rejectionReason"] == "Il reste de la poussière"
    await client.put(f"{url}/complete", headers=child.headers)
    approved = (await client.post(f"{url}/approve", headers=parent)).json()
    assert approved["approvalStatus"] == "approved" and approved["completed"] is True
    day = await client.get(
        f"/api/children/{child.id}/days/{world.a.today().isoformat()}", headers=parent
    )
    assert day.json()["tasks"][0]["countsAsDone"] is True


async def test_calendar_ranges_and_dates_validate(client: httpx2.AsyncClient, world: World) -> None:
    headers = world.a.parent.headers
    bad = await client.get("/api/tasks/date/2026-13-01", headers=headers)
    assert bad.status_code == 400 and bad.json()["detail"] == "Invalid date format"
    backwards = await client.get(
        "/api/tasks/calendar/range",
        params={"start_date": "2026-02-01", "end_date": "2026-01-01"},
        headers=headers,
    )
    assert backwards.status_code == 400


async def test_the_window_moves_on_with_the_days(
    client: httpx2.AsyncClient, runtime: Any, world: World
) -> None:
    today = world.a.today()
    await _create(
        client,
        world,
        title="Chat",
        assignedTo=[world.a.children[0].id],
        dueDate=today.isoformat(),
        isRecurring=True,
        rrule="FREQ=DAILY",
        endDate=(today + timedelta(days=800)).isoformat(),
    )
    dates = await _dates(client, world)
    assert dates[-1] == (today + timedelta(days=366)).isoformat() and len(dates) == 367
    later = datetime.now(UTC) + timedelta(days=10)
    scheduler = Scheduler(runtime.db, JOBS, runtime, clock=lambda: later)
    assert await scheduler.run_job(JOBS[1]) is True
    dates = await _dates(client, world)
    assert len(dates) == len(set(dates)) == 377


async def test_dates_at_the_edges_are_refused_not_500(
    client: httpx2.AsyncClient, world: World
) -> None:
    headers = world.a.parent.headers
    child = world.a.children[0].id
    far = await client.post(
        "/api/tasks",
        json={
            "title": "x",
            "assignedTo": [child],
            "dueDate": "9999-12-30",
            "isRecurring": True,
            "weekdays": [1],
        },
        headers=headers,
    )
    assert far.status_code == 422
    for path in ("/api/tasks/date/9999-12-31", "/api/tasks/date/0001-01-01"):
        assert (await client.get(path, headers=headers)).status_code == 400
    old = await client.get(
        "/api/analytics/monthly", params={"month": "0001-01", "child_id": child}, headers=headers
    )
    assert old.status_code == 400
    made = await _create(client, world, title="Lire", assignedTo=[child], dueDate="2026-05-01")
    nulls = {"title": None, "dueDate": None, "requiresApproval": None, "assignedTo": None}
    same = await client.put(f"/api/tasks/{made['id']}", json=nulls, headers=headers)
    assert same.status_code == 200, same.text
    assert (same.json()["title"], same.json()["dueDate"]) == ("Lire", "2026-05-01")
