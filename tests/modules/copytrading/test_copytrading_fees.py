"""Fees through the core ledger: the monthly fee at subscribe time and by the job (exactly once
per period), LOCKED_NO_FUNDS and its recovery after a deposit, the high-water mark."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select
from tests.conftest import make_settings
from tests.helpers.identity import make_admin, register_and_login
from tests.modules.copytrading.conftest import API, balance, deposit, subscribed_pair

from tessera.app import create_app
from tessera.core.db.base import utcnow
from tessera.core.jobs import Scheduler
from tessera.modules.copytrading.billing import performance_fee
from tessera.modules.copytrading.config import CopytradingSettings
from tessera.modules.copytrading.jobs import JOBS
from tessera.modules.copytrading.models import FeeCharge

CHARGE = next(job for job in JOBS if job.name == "copytrading.charge_fees")


@pytest.mark.parametrize(
    ("levels", "fees", "marks"),
    [
        ([100_000, -50_000, 150_000], [20_000, 0, 10_000], [100_000, 100_000, 150_000]),
        ([-10_000, 5_000, 5_000, 4_999], [0, 1_000, 0, 0], [0, 5_000, 5_000, 5_000]),
    ],
)
def test_high_water_mark_table(levels: list[int], fees: list[int], marks: list[int]) -> None:
    hwm = 0
    for level, fee, mark in zip(levels, fees, marks, strict=True):
        computed = performance_fee(level, hwm, 2000)
        assert (computed.fee, computed.hwm_after) == (fee, mark)
        hwm = computed.hwm_after


async def charges(runtime: Any, sub_id: str) -> list[tuple[str, int]]:
    async with runtime.db.session(write=False) as session:
        rows = await session.execute(
            select(FeeCharge.kind, FeeCharge.amount)
            .where(FeeCharge.subscription_id == sub_id)
            .order_by(FeeCharge.created_at)
        )
        return [(kind, int(amount)) for kind, amount in rows.all()]


async def test_seed_worked_example_over_http(
    client: httpx2.AsyncClient, runtime: Any, engine: str
) -> None:
    pair = await subscribed_pair(client, fee="0", funds="1000.00")
    url = f"{API}/subscriptions/{pair.sub_id}/results"
    table = [
        ("2026-01", "1000", 200.0, 1000.0),
        ("2026-02", "-500", 0.0, 1000.0),
        ("2026-03", "1500", 100.0, 1500.0),
    ]
    preview = await client.get(
        f"{API}/subscriptions/{pair.sub_id}/fees/preview",
        params={"profit": "1000"},
        headers=pair.follower.headers,
    )
    assert preview.json()["fee"] == 200.0 and preview.json()["profit_above_hwm"] == 1000.0
    for period, profit, fee, mark in table:
        response = await client.post(
            url, json={"period": period, "profit": profit}, headers=pair.master.headers
        )
        assert response.status_code == 201, response.text
        assert (response.json()["fee"], response.json()["high_water_mark"]) == (fee, mark)
    # 700 left for the follower, 300 earned by the master; the same report again is a replay.
    assert await balance(client, pair.follower) == Decimal("700.00")
    assert await balance(client, pair.master) == Decimal("300.00")
    replay = await client.post(
        url, json={"period": "2026-03", "profit": "1500"}, headers=pair.master.headers
    )
    assert replay.status_code == 200 and replay.json()["fee"] == 100.0
    conflict = await client.post(
        url, json={"period": "2026-03", "profit": "1600"}, headers=pair.master.headers
    )
    assert conflict.status_code == 409
    assert await balance(client, pair.follower) == Decimal("700.00")
    # Only the master of this follower (or an admin) reports.
    refused = await client.post(
        url, json={"period": "2026-04", "profit": "9999"}, headers=pair.follower.headers
    )
    assert refused.status_code == 404
    # The high-water mark survives cancel and re-subscription of the pair.
    await client.post(f"{API}/subscriptions/{pair.sub_id}/cancel", headers=pair.follower.headers)
    again = await client.post(
        f"{API}/subscriptions", json={"master_id": pair.master.id}, headers=pair.follower.headers
    )
    new_id = again.json()["subscription_id"]
    below = await client.post(
        f"{API}/subscriptions/{new_id}/results",
        json={"period": "2026-04", "profit": "1400"},
        headers=pair.master.headers,
    )
    assert below.json()["fee"] == 0.0 and below.json()["high_water_mark_before"] == 1500.0
    admin = await make_admin(client, runtime)
    above = await client.post(
        f"{API}/subscriptions/{new_id}/results",
        json={"period": "2026-05", "profit": "2000"},
        headers=admin.headers,
    )
    assert above.status_code == 201 and above.json()["fee"] == 100.0
    statement = await client.get(f"{API}/wallet/transactions", headers=pair.follower.headers)
    kinds = [entry["entry_type"] for entry in statement.json()]
    assert kinds.count("FEE_PERFORMANCE") == 3
    master_view = (await client.get(f"{API}/masters/{pair.master.id}")).json()
    assert [p["period"] for p in master_view["performance_history"]] == [
        "2026-01",
        "2026-02",
        "2026-03",
        "2026-04",
        "2026-05",
    ]
    assert master_view["win_rate"] == 60.0


async def test_monthly_fee_job_locks_and_a_deposit_unlocks(
    client: httpx2.AsyncClient, runtime: Any, engine: str
) -> None:
    pair = await subscribed_pair(client, fee="25.00", funds="40.00")
    assert await balance(client, pair.follower) == Decimal("15.00")
    scheduler = Scheduler(
        runtime.db, [CHARGE], runtime, clock=lambda: utcnow() + timedelta(days=31)
    )
    assert await scheduler.run_job(CHARGE)
    sub = (
        await client.get(f"{API}/subscriptions/{pair.sub_id}", headers=pair.follower.headers)
    ).json()
    assert sub["state"] == "LOCKED_NO_FUNDS"
    assert (await client.get(f"{API}/ea/status", headers=pair.bot)).json()["can_trade"] is False
    assert await balance(client, pair.follower) == Decimal("15.00")  # nothing half-charged
    # Not resumable by the owner.
    resume = await client.post(
        f"{API}/subscriptions/{pair.sub_id}/resume", headers=pair.follower.headers
    )
    assert resume.status_code == 409
    await deposit(client, pair.follower, "20.00")
    later = Scheduler(
        runtime.db, [CHARGE], runtime, clock=lambda: utcnow() + timedelta(days=31, minutes=2)
    )
    assert await later.run_job(CHARGE)
    sub = (
        await client.get(f"{API}/subscriptions/{pair.sub_id}", headers=pair.follower.headers)
    ).json()
    assert sub["state"] == "SYNCED" and sub["total_fees_paid"] == 50.0
    assert await balance(client, pair.follower) == Decimal("10.00")
    assert [kind for kind, _ in await charges(runtime, pair.sub_id)] == ["FEE_SUBSCRIPTION"] * 2


async def test_two_fee_runners_at_the_boundary_charge_once(
    client: httpx2.AsyncClient, runtime: Any, engine: str
) -> None:
    pairs = [await subscribed_pair(client, fee="10.00", funds="100.00") for _ in range(3)]
    at = utcnow() + timedelta(days=30, seconds=1)
    # Same period on two replicas, and two different period keys racing: each subscription's
    # next period is charged exactly once.
    runners = [
        Scheduler(runtime.db, [CHARGE], runtime, clock=lambda: at, worker_name=f"replica-{i}")
        for i in range(2)
    ]
    ran = await asyncio.gather(
        runners[0].run_job(CHARGE),
        runners[1].run_job(CHARGE),
        runners[0].run_job(CHARGE, key="manual-a"),
        runners[1].run_job(CHARGE, key="manual-b"),
    )
    assert ran.count(True) == 3  # the shared period once, plus the two manual keys
    for pair in pairs:
        assert await charges(runtime, pair.sub_id) == [("FEE_SUBSCRIPTION", 1000)] * 2
        assert await balance(client, pair.follower) == Decimal("80.00")
    async with runtime.db.session(write=False) as session:
        total = await session.scalar(select(func.count()).select_from(FeeCharge))
    assert total == 6


async def test_platform_share(database_url: str, tmp_path: Path, engine: str) -> None:
    settings = make_settings(
        database_url, tmp_path, module_settings=[CopytradingSettings(platform_fee_pct=Decimal(10))]
    )
    application = create_app(settings)
    async with LifespanManager(application):
        transport = httpx2.ASGITransport(app=application, client=("203.0.113.9", 5000))
        async with httpx2.AsyncClient(transport=transport, base_url="http://t") as http:
            pair = await subscribed_pair(http, fee="25.00", funds="30.00")
            assert await balance(http, pair.follower) == Decimal("5.00")
            assert await balance(http, pair.master) == Decimal("22.50")
            loner = await register_and_login(http)
            assert await balance(http, loner) == Decimal("0.00")
