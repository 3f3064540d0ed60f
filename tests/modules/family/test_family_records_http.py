"""Rules, violations, contracts and privileges: validation, soft deletion, scoping."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx2
from tests.modules.family.conftest import World

from tessera.core.jobs import Scheduler
from tessera.modules.family.jobs import JOBS


async def _post(client: httpx2.AsyncClient, headers: dict[str, str], path: str, body: Any) -> Any:
    return await client.post(path, json=body, headers=headers)


async def test_contracts_are_validated(client: httpx2.AsyncClient, world: World) -> None:
    parent = world.a.parent.headers
    child = world.a.children[0].id
    rule = (await _post(client, parent, "/api/rules", {"description": "Politesse"})).json()
    old = (await _post(client, parent, "/api/rules", {"description": "Ancienne"})).json()
    assert (await client.delete(f"/api/rules/{old['id']}", headers=parent)).json() == {
        "message": "Rule deactivated successfully",
        "ruleId": old["id"],
    }
    foreign = (
        await _post(client, world.b.parent.headers, "/api/rules", {"description": "Ailleurs"})
    ).json()
    good = {
        "title": "Été",
        "childId": child,
        "parentId": world.a.children[1].id,  # a child as the parent: refused below
        "ruleIds": [rule["id"]],
        "dailyReward": 1.25,
        "startDate": "2026-07-01",
        "endDate": "2026-08-31",
    }
    cases: list[tuple[dict[str, Any], int]] = [
        ({"parentId": world.a.parent.id, "dailyReward": 0}, 422),
        ({"parentId": world.a.parent.id, "dailyReward": 0.001}, 422),
        ({"parentId": world.a.parent.id, "startDate": "2026-09-01"}, 400),
        ({"parentId": world.a.parent.id, "ruleIds": [old["id"]]}, 400),
        ({"parentId": world.a.parent.id, "ruleIds": [foreign["id"]]}, 400),
        ({"parentId": world.a.parent.id, "childId": world.b.children[0].id}, 404),
        ({"parentId": world.a.parent.id, "childId": world.a.parent.id}, 404),
        ({}, 400),  # parentId is a child
        ({"parentId": world.b.parent.id}, 404),
    ]
    for change, status in cases:
        response = await _post(client, parent, "/api/contracts", {**good, **change})
        assert response.status_code == status, (change, response.text)
    invalid = await _post(
        client, parent, "/api/contracts", {**good, "parentId": None, "ruleIds": [old["id"]]}
    )
    assert invalid.json()["detail"] == "One or more rule IDs are invalid or inactive"
    made = await _post(client, parent, "/api/contracts", {**good, "parentId": None})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["parentId"] == world.a.parent.id and body["dailyReward"] == 1.25
    assert body["rules"] == [{"id": rule["id"], "description": "Politesse", "isTask": False}]
    own = await client.get(f"/api/contracts/child/{child}", headers=world.a.children[0].headers)
    assert [c["id"] for c in own.json()] == [body["id"]]  # a child reads their own contracts
    off = await client.put(f"/api/contracts/{body['id']}/deactivate", headers=parent)
    assert off.json()["active"] is False
    backwards = await client.put(
        f"/api/contracts/{body['id']}", json={"endDate": "2026-06-01"}, headers=parent
    )
    assert backwards.status_code == 400


async def test_violations_name_an_active_rule_of_the_family(
    client: httpx2.AsyncClient, world: World
) -> None:
    parent = world.a.parent.headers
    child = world.a.children[0].id
    rule = (await _post(client, parent, "/api/rules", {"description": "Pas de cris"})).json()
    foreign = (
        await _post(client, world.b.parent.headers, "/api/rules", {"description": "B"})
    ).json()
    base = {"childId": child, "date": "2026-05-04", "description": "dans la voiture"}
    for rule_id in (foreign["id"], "rule1", "not-a-rule"):
        response = await _post(client, parent, "/api/rule-violations", {**base, "ruleId": rule_id})
        assert response.status_code == 400, response.text
    made = await _post(client, parent, "/api/rule-violations", {**base, "ruleId": rule["id"]})
    assert made.status_code == 201
    assert (await client.get("/api/rules", headers=parent)).json()[0]["id"] == rule["id"]
    await client.delete(f"/api/rules/{rule['id']}", headers=parent)
    assert (await client.get("/api/rules", headers=parent)).json() == []
    assert (await client.get(f"/api/rules/{rule['id']}", headers=parent)).json()["active"] is False
    again = await _post(client, parent, "/api/rule-violations", {**base, "ruleId": rule["id"]})
    assert again.status_code == 400
    mine = await client.get(
        f"/api/rule-violations/child/{child}", headers=world.a.children[0].headers
    )
    assert [v["id"] for v in mine.json()] == [made.json()["id"]]
    theirs = await client.get("/api/rule-violations/calendar", headers=world.a.children[1].headers)
    assert theirs.json() == []  # the calendar shows a child only their own rows


async def test_privileges_pages_and_calendars(client: httpx2.AsyncClient, world: World) -> None:
    parent = world.a.parent.headers
    child, other = world.a.children
    for n in range(3):
        body = {"title": f"Dessert {n}", "assignedTo": child.id, "date": f"2026-05-0{n + 1}"}
        assert (await _post(client, parent, "/api/privileges", body)).status_code == 201
    page = await client.get("/api/privileges", params={"page": 2, "limit": 2}, headers=parent)
    assert page.json()["total"] == 3 and len(page.json()["privileges"]) == 1
    own = await client.get("/api/privileges/calendar", headers=child.headers)
    assert len(own.json()) == 3
    assert {(p["canModify"], p["canView"]) for p in own.json()} == {(False, True)}
    assert (await client.get("/api/privileges/calendar", headers=other.headers)).json() == []
    bad = await client.get("/api/privileges/date/05-2026", headers=parent)
    assert bad.status_code == 400 and bad.json()["detail"] == "Invalid date format"


async def test_deleting_a_contract_keeps_its_rewards(
    client: httpx2.AsyncClient, runtime: Any, world: World
) -> None:
    parent = world.a.parent.headers
    child = world.a.children[0]
    made = await _post(
        client,
        parent,
        "/api/contracts",
        {
            "title": "Mars",
            "childId": child.id,
            "dailyReward": "0.50",
            "startDate": "2026-03-10",
            "endDate": "2026-03-10",
        },
    )
    at = datetime(2026, 3, 10, 23, 5, tzinfo=UTC)
    await Scheduler(runtime.db, JOBS, runtime, clock=lambda: at).run_job(JOBS[0])
    wallet = (await client.get(f"/api/wallets/{child.id}", headers=parent)).json()
    assert wallet["transactions"][0]["contractId"] == made.json()["id"]
    gone = await client.delete(f"/api/contracts/{made.json()['id']}", headers=parent)
    assert gone.json() == {
        "message": "Contract deleted successfully",
        "contractId": made.json()["id"],
    }
    wallet = (await client.get(f"/api/wallets/{child.id}", headers=parent)).json()
    assert wallet["balance"] == 0.5 and wallet["transactions"][0]["contractId"] is None
