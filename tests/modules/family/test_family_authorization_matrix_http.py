"""Who may call what: every family route, for a parent, their own child, another child of the
same family, the parent of another family and an anonymous caller.

The routes come from the app's route table, so a new route without a row here fails the test.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx2
from fastapi.routing import APIRoute
from tests.modules.family.conftest import Person, World

from tessera.core.ledger import Ledger
from tessera.modules.family import module as family

OK = "ok"  # any 2xx
ROLES = ("parent", "own_child", "other_child", "other_parent", "anonymous")
PARENT_ONLY = (OK, 403, 403, 404, 401)  # another family's ids do not exist for its parent
CHILD_READS = (OK, OK, 403, 404, 401)  # the child's own records: parent and that child
FAMILY_LIST = (OK, 403, 403, OK, 401)  # a parent's whole-family list (the other parent: theirs)
ANY_MEMBER = (OK, OK, OK, OK, 401)  # a view each member gets, filtered to what they may see

EXPECTED: dict[tuple[str, str], tuple[Any, ...]] = {
    ("POST", "/api/families"): (409, 409, 409, 409, 401),  # everyone here has a family
    ("GET", "/api/families/{family_id}"): (OK, OK, OK, 404, 401),
    ("PUT", "/api/families/{family_id}"): PARENT_ONLY,
    ("GET", "/api/families/{family_id}/invitations"): PARENT_ONLY,
    ("POST", "/api/families/{family_id}/invitations"): PARENT_ONLY,
    ("DELETE", "/api/families/{family_id}/invitations/{invitation_id}"): PARENT_ONLY,
    ("PUT", "/api/families/{family_id}/members/{user_id}"): PARENT_ONLY,
    ("DELETE", "/api/families/{family_id}/members/{user_id}"): PARENT_ONLY,
    ("GET", "/api/users/family"): ANY_MEMBER,
    ("POST", "/api/children/{child_id}/excused-days"): PARENT_ONLY,
    ("GET", "/api/children/{child_id}/excused-days"): CHILD_READS,
    ("DELETE", "/api/children/{child_id}/excused-days/{excused_id}"): PARENT_ONLY,
    ("GET", "/api/children/{child_id}/days/{day}"): CHILD_READS,
    ("POST", "/api/admin/reprocess-rewards"): FAMILY_LIST,
    ("GET", "/api/wallets/{child_id}"): CHILD_READS,
    ("GET", "/api/wallets/{child_id}/transactions"): CHILD_READS,
    ("POST", "/api/wallets/{child_id}/convert"): PARENT_ONLY,
    ("GET", "/api/analytics/monthly"): CHILD_READS,
    ("POST", "/api/calendar/feeds"): ANY_MEMBER,
    ("GET", "/api/calendar/feeds"): ANY_MEMBER,
    ("DELETE", "/api/calendar/feeds/{feed_id}"): (OK, 404, 404, 404, 401),  # one's own feeds
    ("GET", "/api/calendar/{token}.ics"): (OK, OK, OK, OK, OK),  # the token is the credential
    ("GET", "/api/tasks"): FAMILY_LIST,
    ("GET", "/api/tasks/calendar"): ANY_MEMBER,
    ("GET", "/api/tasks/calendar/range"): ANY_MEMBER,
    ("GET", "/api/tasks/id/{task_id}"): CHILD_READS,
    ("GET", "/api/tasks/user/{user_id}"): CHILD_READS,
    ("GET", "/api/tasks/date/{day}"): ANY_MEMBER,
    ("POST", "/api/tasks"): PARENT_ONLY,
    ("PUT", "/api/tasks/{task_id}"): CHILD_READS,  # the body is {completed: false}
    ("PUT", "/api/tasks/{task_id}/complete"): CHILD_READS,
    ("POST", "/api/tasks/{task_id}/approve"): PARENT_ONLY,
    ("POST", "/api/tasks/{task_id}/reject"): PARENT_ONLY,
    ("DELETE", "/api/tasks/{task_id}"): PARENT_ONLY,
    ("GET", "/api/privileges"): FAMILY_LIST,
    ("GET", "/api/privileges/calendar"): ANY_MEMBER,
    ("GET", "/api/privileges/calendar/range"): ANY_MEMBER,
    ("GET", "/api/privileges/user/{user_id}"): CHILD_READS,
    ("GET", "/api/privileges/date/{day}"): FAMILY_LIST,
    ("POST", "/api/privileges"): PARENT_ONLY,
    ("PUT", "/api/privileges/{privilege_id}"): PARENT_ONLY,
    ("DELETE", "/api/privileges/{privilege_id}"): PARENT_ONLY,
    ("GET", "/api/rules"): ANY_MEMBER,
    ("GET", "/api/rules/{rule_id}"): (OK, OK, OK, 404, 401),
    ("POST", "/api/rules"): (OK, 403, 403, OK, 401),
    ("PUT", "/api/rules/{rule_id}"): PARENT_ONLY,
    ("DELETE", "/api/rules/{rule_id}"): PARENT_ONLY,
    ("GET", "/api/rule-violations"): FAMILY_LIST,
    ("GET", "/api/rule-violations/calendar"): ANY_MEMBER,
    ("GET", "/api/rule-violations/calendar/range"): ANY_MEMBER,
    ("GET", "/api/rule-violations/child/{child_id}"): CHILD_READS,
    ("GET", "/api/rule-violations/date/{day}"): FAMILY_LIST,
    ("POST", "/api/rule-violations"): PARENT_ONLY,
    ("DELETE", "/api/rule-violations/{violation_id}"): PARENT_ONLY,
    ("GET", "/api/contracts"): FAMILY_LIST,
    ("GET", "/api/contracts/child/{child_id}"): CHILD_READS,
    ("GET", "/api/contracts/{contract_id}"): CHILD_READS,
    ("POST", "/api/contracts"): PARENT_ONLY,
    ("PUT", "/api/contracts/{contract_id}"): PARENT_ONLY,
    ("PUT", "/api/contracts/{contract_id}/deactivate"): PARENT_ONLY,
    ("DELETE", "/api/contracts/{contract_id}"): PARENT_ONLY,
}


def family_routes(app: Any) -> list[tuple[str, str]]:
    """The routes the app serves from the family module's routers."""
    mounted = [getattr(entry, "original_router", entry) for entry in app.routes]
    found: list[tuple[str, str]] = []
    for router in mounted:
        if any(router is own for own in family.routers):
            for route in router.routes:
                assert isinstance(route, APIRoute)
                found.extend((method, route.path) for method in sorted(route.methods or ()))
    return found


async def _made(client: httpx2.AsyncClient, who: Person, path: str, body: dict[str, Any]) -> Any:
    response = await client.post(path, json=body, headers=who.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_every_family_route_answers_each_role_as_expected(
    app: Any, client: httpx2.AsyncClient, runtime: Any, world: World
) -> None:
    routes = family_routes(app)
    assert set(routes) == set(EXPECTED), "every family route needs a row in EXPECTED"

    parent, child, other_child = world.a.parent, world.a.children[0], world.a.children[1]
    today = world.a.today()
    day = today.isoformat()
    yesterday = (today - timedelta(days=1)).isoformat()
    rule = await _made(client, parent, "/api/rules", {"description": "Pas de violence"})

    async def task(**extra: Any) -> str:
        body = {"title": "Ranger", "assignedTo": [child.id], "dueDate": day, **extra}
        made: dict[str, Any] = await _made(client, parent, "/api/tasks", body)
        return str(made["id"])

    approvable = [await task(requiresApproval=True) for _ in range(2)]
    for task_id in approvable:
        done = await client.put(f"/api/tasks/{task_id}/complete", headers=child.headers)
        assert done.status_code == 200, done.text
    privilege = await _made(
        client, parent, "/api/privileges", {"title": "Dessert", "assignedTo": child.id, "date": day}
    )
    violation = await _made(
        client,
        parent,
        "/api/rule-violations",
        {"ruleId": rule["id"], "childId": child.id, "date": day},
    )
    contract_body = {
        "title": "Contrat",
        "childId": child.id,
        "ruleIds": [rule["id"]],
        "dailyReward": 1,
        "startDate": day,
        "endDate": day,
    }
    contract = await _made(client, parent, "/api/contracts", contract_body)
    excused = await _made(
        client,
        parent,
        f"/api/children/{child.id}/excused-days",
        {"date": yesterday, "reason": "malade"},
    )
    invitation = await _made(
        client,
        parent,
        f"/api/families/{world.a.id}/invitations",
        {"email": "grand-mere@example.com", "role": "parent", "name": "Mamie"},
    )
    feed = await _made(client, parent, "/api/calendar/feeds", {"name": "Téléphone"})
    async with runtime.db.session() as session:  # 10 € in the child's wallet
        await Ledger(session).credit_user(child.id, 1000, "EUR", kind="DAILY_REWARD")

    ids = {
        "family_id": world.a.id,
        "invitation_id": invitation["id"],
        "user_id": child.id,
        "child_id": child.id,
        "excused_id": excused["id"],
        "day": day,
        "feed_id": feed["id"],
        "token": feed["url"].rsplit("/", 1)[1].removesuffix(".ics"),
        "task_id": await task(),
        "privilege_id": privilege["id"],
        "rule_id": rule["id"],
        "violation_id": violation["id"],
        "contract_id": contract["id"],
    }
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/api/families"): {"name": "Encore"},
        ("PUT", "/api/families/{family_id}"): {"name": "Famille A"},
        ("POST", "/api/families/{family_id}/invitations"): {
            "email": "tata@example.com",
            "name": "Tata",
        },
        ("PUT", "/api/families/{family_id}/members/{user_id}"): {"name": "Elea"},
        ("POST", "/api/children/{child_id}/excused-days"): {"date": day, "reason": "fête"},
        ("POST", "/api/admin/reprocess-rewards"): {"startDate": yesterday, "endDate": yesterday},
        ("POST", "/api/wallets/{child_id}/convert"): {"amount": 0.5},
        ("POST", "/api/calendar/feeds"): {"name": "Tablette"},
        ("POST", "/api/tasks"): {"title": "Lire", "assignedTo": [child.id], "dueDate": day},
        ("PUT", "/api/tasks/{task_id}"): {"completed": False},
        ("POST", "/api/tasks/{task_id}/reject"): {"reason": "pas fini"},
        ("POST", "/api/privileges"): {"title": "Écran", "assignedTo": child.id, "date": day},
        ("PUT", "/api/privileges/{privilege_id}"): {"earned": True},
        ("POST", "/api/rules"): {"description": "Dire bonjour"},
        ("PUT", "/api/rules/{rule_id}"): {"isTask": False},
        ("POST", "/api/rule-violations"): {"ruleId": rule["id"], "childId": child.id, "date": day},
        ("POST", "/api/contracts"): contract_body,
        ("PUT", "/api/contracts/{contract_id}"): {"title": "Contrat d'été"},
    }
    queries: dict[str, dict[str, str]] = {
        "/api/tasks/calendar/range": {"start_date": day, "end_date": day},
        "/api/privileges/calendar/range": {"start_date": day, "end_date": day},
        "/api/rule-violations/calendar/range": {"start_date": day, "end_date": day},
        "/api/analytics/monthly": {"month": day[:7], "child_id": child.id},
    }
    callers = {
        "parent": parent.headers,
        "own_child": child.headers,
        "other_child": other_child.headers,
        "other_parent": world.b.parent.headers,
        "anonymous": {},
    }

    # Deletions last (the member removal at the very end), the permitted parent last per route.
    def order(route: tuple[str, str]) -> tuple[int, str]:
        method, path = route
        return (2 if "members" in path and method == "DELETE" else int(method == "DELETE"), path)

    failures = []
    for method, path in sorted(routes, key=order):
        local_ids = dict(ids)
        if path.endswith("/approve"):
            local_ids["task_id"] = approvable[0]
        if path.endswith("/reject"):
            local_ids["task_id"] = approvable[1]
        if method == "DELETE" and "members" in path:
            local_ids["user_id"] = other_child.id
        url = path.format(**local_ids)
        expected = dict(zip(ROLES, EXPECTED[(method, path)], strict=True))
        for role in ("anonymous", "other_parent", "other_child", "own_child", "parent"):
            response = await client.request(
                method,
                url,
                headers=callers[role],
                params=queries.get(path),
                json=bodies.get((method, path)),
            )
            want = expected[role]
            ok = 200 <= response.status_code < 300 if want == OK else response.status_code == want
            if not ok:
                failures.append(f"{method} {path} as {role}: {response.status_code} (want {want})")
            elif response.status_code >= 400:
                assert set(response.json()) == {"detail", "error"}, response.text
    assert not failures, "\n".join(failures)
