"""Calendar feeds (parsed with `icalendar`, dead once revoked) and the monthly analytics on a
scripted month."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import httpx2
from icalendar import Calendar
from tests.modules.family.conftest import Person, World

from tessera.core.jobs import Scheduler
from tessera.modules.family.jobs import JOBS


async def _post(client: httpx2.AsyncClient, who: Person, path: str, body: Any) -> Any:
    response = await client.post(path, json=body, headers=who.headers)
    assert response.status_code == 201, response.text
    return response.json()


def _events(body: bytes) -> dict[str, tuple[date, date]]:
    calendar = Calendar.from_ical(body)
    return {
        str(event["summary"]): (event.decoded("dtstart"), event.decoded("dtend"))
        for event in calendar.walk("VEVENT")
    }


async def test_a_feed_shows_what_its_owner_may_see_and_dies_on_revocation(
    client: httpx2.AsyncClient, world: World
) -> None:
    parent = world.a.parent
    child, other = world.a.children
    day = world.a.today()
    await _post(
        client,
        parent,
        "/api/tasks",
        {"title": "Piano", "assignedTo": [child.id], "dueDate": day.isoformat()},
    )
    await _post(
        client,
        parent,
        "/api/tasks",
        {"title": "Judo", "assignedTo": [other.id], "dueDate": day.isoformat()},
    )
    await _post(
        client,
        parent,
        "/api/privileges",
        {"title": "Cinéma", "assignedTo": child.id, "date": day.isoformat()},
    )
    await _post(
        client,
        parent,
        "/api/contracts",
        {
            "title": "Contrat",
            "childId": child.id,
            "dailyReward": 1,
            "startDate": day.isoformat(),
            "endDate": day.isoformat(),
        },
    )
    feed = await _post(client, child, "/api/calendar/feeds", {"name": "Téléphone"})
    path = feed["url"].removeprefix("http://testserver")
    response = await client.get(path)  # no credentials: the token is the credential
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    events = _events(response.content)
    assert set(events) == {"Piano", "Privilège : Cinéma", "Contrat : Contrat (1.00 €/jour)"}
    assert events["Piano"][0] == day and (events["Piano"][1] - day).days == 1

    family_feed = await _post(client, parent, "/api/calendar/feeds", {})
    family_events = _events(
        (await client.get(family_feed["url"].removeprefix("http://testserver"))).content
    )
    assert {"Piano (" + child.name + ")", "Judo (" + other.name + ")"} <= set(family_events)

    listed = (await client.get("/api/calendar/feeds", headers=child.headers)).json()
    assert [f["id"] for f in listed] == [feed["id"]] and "url" not in listed[0]
    revoked = await client.delete(f"/api/calendar/feeds/{feed['id']}", headers=child.headers)
    assert revoked.status_code == 200 and revoked.json()["revokedAt"]
    assert (await client.get(path)).status_code == 404
    assert (await client.get("/api/calendar/not-a-token.ics")).status_code == 404


async def test_monthly_analytics_on_a_scripted_month(
    client: httpx2.AsyncClient, runtime: Any, world: World
) -> None:
    parent = world.a.parent
    child = world.a.children[0]
    rule = await _post(client, parent, "/api/rules", {"description": "Pas de violence"})

    async def task(day: int, done: bool, month: int = 2) -> None:
        made = await _post(
            client,
            parent,
            "/api/tasks",
            {"title": f"T{day}", "assignedTo": [child.id], "dueDate": f"2026-{month:02}-{day:02}"},
        )
        if done:
            await client.put(f"/api/tasks/{made['id']}/complete", headers=child.headers)

    for day, done in [
        (2, 1),
        (3, 1),
        (4, 1),
        (5, 0),
        (6, 1),
        (9, 1),
        (10, 1),
        (11, 0),
        (12, 1),
        (13, 1),
    ]:
        await task(day, bool(done))
    await task(15, True, month=1)
    for day in (6, 6, 20):
        body = {"ruleId": rule["id"], "childId": child.id, "date": f"2026-02-{day:02}"}
        await _post(client, parent, "/api/rule-violations", body)
    await _post(
        client,
        parent,
        f"/api/children/{child.id}/excused-days",
        {"date": "2026-02-11", "reason": "malade"},
    )
    for n, earned in enumerate((True, True, False)):
        body = {"title": f"P{n}", "assignedTo": child.id, "date": f"2026-02-1{n}", "earned": earned}
        await _post(client, parent, "/api/privileges", body)
    await _post(
        client,
        parent,
        "/api/contracts",
        {
            "title": "Février",
            "childId": child.id,
            "dailyReward": 0.5,
            "startDate": "2026-02-01",
            "endDate": "2026-02-28",
        },
    )
    at = datetime(2026, 2, 13, 23, 5, tzinfo=UTC)  # settles 11 (excused), 12 and 13 February
    await Scheduler(runtime.db, JOBS, runtime, clock=lambda: at).run_job(JOBS[0])

    response = await client.get(
        "/api/analytics/monthly", params={"month": "2026-02"}, headers=child.headers
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "perfectDays": {"current": 7, "previous": 1},  # 2-4, 9, 10, 12, 13 / 15 January
        "longestStreak": {"current": 4, "previous": 1},  # 9, 10, (11 excused), 12, 13
        "taskCompletionRate": {"current": 80.0, "previous": 100.0},
        "infractions": {"current": 2, "previous": 0},  # two distinct days
        "privilegesEarned": {"current": 2, "previous": 0},
        "rewardsEarned": {"current": 1.0, "previous": 0},
    }
    as_parent = await client.get(
        "/api/analytics/monthly",
        params={"month": "2026-02", "child_id": child.id},
        headers=parent.headers,
    )
    assert as_parent.json() == response.json()
    other = await client.get(
        "/api/analytics/monthly",
        params={"month": "2026-02", "child_id": child.id},
        headers=world.a.children[1].headers,
    )
    assert other.status_code == 403
    bad = await client.get(
        "/api/analytics/monthly", params={"month": "2026-2"}, headers=child.headers
    )
    assert bad.status_code == 400 and bad.json()["detail"] == "Invalid month format. Use YYYY-MM"
