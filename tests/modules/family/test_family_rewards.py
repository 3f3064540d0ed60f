"""The daily reward job: who is paid for a day, exactly once, in the family's own time zone;
excused days; a parent's re-run and its limits; a day explained."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import select
from tests.conftest import make_settings, settings_env
from tests.modules.family.conftest import Household, Person, make_household

from tessera.core.config import Settings
from tessera.core.jobs import Scheduler
from tessera.modules.family.config import FamilySettings
from tessera.modules.family.jobs import JOBS
from tessera.modules.family.models import RewardDay

DAY = date(2026, 3, 10)
# 00:05 on 11 March in Paris (CET, UTC+1): 10 March is over.
AFTER_MIDNIGHT_PARIS = datetime(2026, 3, 10, 23, 5, tzinfo=UTC)
REWARDS = JOBS[0]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, module_settings=[FamilySettings(catch_up_days=1)])


async def run_rewards(runtime: Any, at: datetime, key: str | None = None) -> bool:
    scheduler = Scheduler(runtime.db, JOBS, runtime, clock=lambda: at)
    return await scheduler.run_job(REWARDS, key=key)


async def post(client: httpx2.AsyncClient, who: Person, path: str, body: Any) -> Any:
    response = await client.post(path, json=body, headers=who.headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


async def contract(
    client: httpx2.AsyncClient, home: Household, child: Person, reward: str, **extra: Any
) -> Any:
    body = {
        "title": f"Contrat {reward}",
        "childId": child.id,
        "dailyReward": reward,
        "startDate": "2026-03-01",
        "endDate": "2026-03-31",
        "ruleIds": [],
        **extra,
    }
    return await post(client, home.parent, "/api/contracts", body)


async def task(client: httpx2.AsyncClient, home: Household, child: Person, day: date) -> Any:
    body = {"title": "Ranger", "assignedTo": [child.id], "dueDate": day.isoformat()}
    return await post(client, home.parent, "/api/tasks", body)


async def balance(client: httpx2.AsyncClient, home: Household, child: Person) -> float:
    response = await client.get(f"/api/wallets/{child.id}", headers=home.parent.headers)
    assert response.status_code == 200, response.text
    value: float = response.json()["balance"]
    return value


async def explain(client: httpx2.AsyncClient, home: Household, child: Person, day: date) -> Any:
    response = await client.get(
        f"/api/children/{child.id}/days/{day.isoformat()}", headers=child.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_who_is_paid_for_a_day_and_only_once(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    home = await make_household(client, runtime, children=5)
    done, undone, violent, free, excused = home.children
    rule = await post(client, home.parent, "/api/rules", {"description": "Pas de violence"})
    for child in home.children:
        await contract(client, home, child, "1.50", ruleIds=[rule["id"]], startDate="2026-03-10")
    await contract(client, home, free, "0.25", startDate="2026-03-10")  # paid separately
    for child in (done, undone, violent):
        made = await task(client, home, child, DAY)
        if child is not undone:
            await client.put(f"/api/tasks/{made['id']}/complete", headers=child.headers)
    await task(client, home, excused, DAY)  # not done, but the day is excused
    await post(
        client,
        home.parent,
        "/api/rule-violations",
        {
            "ruleId": rule["id"],
            "childId": violent.id,
            "date": DAY.isoformat(),
            "reportedBy": free.id,
        },
    )
    await post(
        client,
        home.parent,
        f"/api/children/{excused.id}/excused-days",
        {"date": DAY.isoformat(), "reason": "malade"},
    )

    assert (await explain(client, home, done, DAY))["contracts"][0]["outcome"] == "not_settled"
    before = AFTER_MIDNIGHT_PARIS - timedelta(minutes=10)  # 23:55 on the 10th in Paris
    assert await run_rewards(runtime, before) is True
    assert await balance(client, home, done) == 0  # the day is not over yet

    assert await run_rewards(runtime, AFTER_MIDNIGHT_PARIS) is True
    assert await run_rewards(runtime, AFTER_MIDNIGHT_PARIS) is False  # the period is claimed
    # Another period (and a forced re-run) finds every (contract, day) settled already.
    assert await run_rewards(runtime, AFTER_MIDNIGHT_PARIS + timedelta(minutes=15)) is True
    assert await run_rewards(runtime, AFTER_MIDNIGHT_PARIS, key="manual:again") is True

    assert [await balance(client, home, c) for c in home.children] == [1.5, 0, 0, 1.75, 0]
    wallet = (await client.get(f"/api/wallets/{done.id}", headers=done.headers)).json()
    [credit] = wallet["transactions"]
    assert credit["reason"] == "Récompense journalière" and credit["amount"] == 1.5
    assert credit["rewardDay"] == DAY.isoformat() and credit["contractId"]

    outcomes = {c.name: (await explain(client, home, c, DAY)) for c in home.children}
    assert outcomes[done.name]["ruleMet"] is True
    assert outcomes[undone.name]["contracts"][0]["outcome"] == "skipped"
    assert "1 tâche(s) sur 1 non faite(s)" in outcomes[undone.name]["explanation"]
    assert outcomes[violent.name]["violations"][0]["rule"] == "Pas de violence"
    assert outcomes[violent.name]["contracts"][0]["outcome"] == "skipped"
    assert [c["outcome"] for c in outcomes[free.name]["contracts"]] == ["paid", "paid"]
    assert outcomes[excused.name]["excused"]["reason"] == "malade"
    assert outcomes[excused.name]["contracts"][0]["outcome"] == "excused"

    violation = (await client.get("/api/rule-violations", headers=home.parent.headers)).json()[0]
    assert violation["reportedBy"] == home.parent.id  # the caller, not the client's field


async def test_each_family_is_paid_for_its_own_local_day(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    auckland = await make_household(client, runtime, timezone="Pacific/Auckland")
    angeles = await make_household(client, runtime, timezone="America/Los_Angeles")
    for home in (auckland, angeles):
        await contract(client, home, home.children[0], "1")
    # 11:05 UTC on 10 March: 00:05 on the 11th in Auckland (NZDT, UTC+13) and 04:05 on the
    # 10th in Los Angeles (PDT since 8 March, UTC-7).
    await run_rewards(runtime, datetime(2026, 3, 10, 11, 5, tzinfo=UTC))
    nz = auckland.children[0]
    la = angeles.children[0]
    assert (await explain(client, auckland, nz, date(2026, 3, 10)))["contracts"][0][
        "outcome"
    ] == "paid"
    assert (await explain(client, angeles, la, date(2026, 3, 9)))["contracts"][0][
        "outcome"
    ] == "paid"
    assert (await explain(client, angeles, la, date(2026, 3, 10)))["contracts"][0][
        "outcome"
    ] == "not_settled"
    assert await balance(client, auckland, nz) == await balance(client, angeles, la) == 1


async def test_the_short_dst_day_is_paid_after_its_own_midnight(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    home = await make_household(client, runtime)  # Europe/Paris: 29 March 2026 has 23 hours
    child = home.children[0]
    await contract(client, home, child, "1")
    sunday = date(2026, 3, 29)
    await run_rewards(runtime, datetime(2026, 3, 29, 21, 55, tzinfo=UTC))  # 23:55 CEST
    assert (await explain(client, home, child, sunday))["contracts"][0]["outcome"] == "not_settled"
    await run_rewards(runtime, datetime(2026, 3, 29, 22, 5, tzinfo=UTC))  # 00:05 on the 30th
    assert (await explain(client, home, child, sunday))["contracts"][0]["outcome"] == "paid"


async def test_concurrent_runs_of_one_day_pay_once(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    """Two runs with different period keys race on the (contract, day) unique row."""
    home = await make_household(client, runtime, children=2)
    for child in home.children:
        await contract(client, home, child, "2")
    ran = await asyncio.gather(
        *(run_rewards(runtime, AFTER_MIDNIGHT_PARIS, key=f"manual:{n}") for n in range(4))
    )
    assert ran == [True] * 4
    assert [await balance(client, home, c) for c in home.children] == [2, 2]
    async with runtime.db.session(write=False) as session:
        rows = list(await session.scalars(select(RewardDay).where(RewardDay.day == DAY)))
    assert len(rows) == 2 and all(r.outcome == "paid" and r.ledger_transaction_id for r in rows)


async def test_reprocess_limits_and_late_completion(
    client: httpx2.AsyncClient, runtime: Any
) -> None:
    home = await make_household(client, runtime)
    child = home.children[0]
    today = home.today()
    yesterday = today - timedelta(days=1)
    await contract(
        client,
        home,
        child,
        "1",
        startDate=(today - timedelta(days=40)).isoformat(),
        endDate=(today + timedelta(days=10)).isoformat(),
    )
    late = await task(client, home, child, yesterday)

    async def reprocess(start: date, end: date) -> httpx2.Response:
        return await client.post(
            "/api/admin/reprocess-rewards",
            json={"startDate": start.isoformat(), "endDate": end.isoformat()},
            headers=home.parent.headers,
        )

    for start, end in (
        (yesterday, yesterday - timedelta(days=1)),  # backwards
        (yesterday, today),  # today is not over
        (today + timedelta(days=1), today + timedelta(days=2)),  # the future
        (today - timedelta(days=31), yesterday),  # more than 30 days
        (today - timedelta(days=35), today - timedelta(days=33)),  # too far back
    ):
        response = await reprocess(start, end)
        assert response.status_code == 400, (start, end, response.text)
        assert response.json()["error"] == "invalid_reprocess_range"
    forbidden = await client.post(
        "/api/admin/reprocess-rewards",
        json={"startDate": yesterday.isoformat(), "endDate": yesterday.isoformat()},
        headers=child.headers,
    )
    assert forbidden.status_code == 403

    first = (await reprocess(yesterday - timedelta(days=1), yesterday)).json()
    assert first["success"] is True
    assert first["summary"] == {
        "total_rewards_processed": 1,  # the day before yesterday: no task, paid
        "total_rewards_skipped": 1,  # yesterday: the task is not done
        "total_amount_credited": 1.0,
        "days_processed": 2,
    }
    assert [d["rewards_processed"] for d in first["daily_results"]] == [1, 0]
    await client.put(f"/api/tasks/{late['id']}/complete", headers=child.headers)
    second = (await reprocess(yesterday - timedelta(days=1), yesterday)).json()
    assert second["summary"]["total_rewards_processed"] == 1  # yesterday, now earned
    assert second["daily_results"][1]["total_amount_credited"] == 1.0
    third = (await reprocess(yesterday - timedelta(days=1), yesterday)).json()
    assert third["summary"]["total_rewards_processed"] == 0
    assert await balance(client, home, child) == 2


@pytest.mark.slow  # two service processes start up: ~15 s on each engine
async def test_two_replicas_at_midnight_pay_each_contract_once(
    client: httpx2.AsyncClient, runtime: Any, settings: Settings, tmp_path: Path
) -> None:
    home = await make_household(client, runtime, children=2)
    for child in home.children:
        await contract(client, home, child, "1", startDate=DAY.isoformat())
    barrier = tmp_path / "go"
    replica = Path(__file__).with_name("_reward_replica.py")
    env = {**os.environ, **settings_env(settings), "TESSERA_LOG_LEVEL": "ERROR"}
    procs = [
        subprocess.Popen(
            [sys.executable, str(replica), AFTER_MIDNIGHT_PARIS.isoformat(), str(barrier)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for proc in procs:  # both are up, built and waiting at the barrier
        assert proc.stdout is not None
        assert (await asyncio.to_thread(proc.stdout.readline)).strip() == "READY"
    barrier.touch()
    outputs = [await asyncio.to_thread(proc.communicate, timeout=60) for proc in procs]
    verdicts = sorted(out.strip().splitlines()[-1] for out, _ in outputs)
    assert verdicts == ["RAN", "SKIPPED"], outputs
    assert [await balance(client, home, c) for c in home.children] == [1, 1]
