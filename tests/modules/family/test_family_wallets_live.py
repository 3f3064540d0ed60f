"""Wallets over real HTTP against a real server process: conversions racing each other never
overdraw a wallet, and the ledger stays consistent."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx2
import pytest
from tests.helpers.cli import database_env, run_tessera
from tests.modules.family.conftest import make_household

from tessera.core.config import Settings
from tessera.core.ledger import Ledger

# PostgreSQL, the replicated deployment: row locks, not SQLite's one writer, decide the race.
pytestmark = pytest.mark.parametrize("engine", ["postgresql"], indirect=True)


async def test_twenty_parallel_conversions_never_overdraw(
    client: httpx2.AsyncClient, runtime: Any, live_server: str, settings: Settings
) -> None:
    home = await make_household(client, runtime)
    child = home.children[0]
    async with runtime.db.session() as session:  # five euros of rewards
        await Ledger(session).credit_user(child.id, 500, "EUR", kind="DAILY_REWARD")

    limits = httpx2.Limits(max_connections=20, keepalive_expiry=1.0)
    async with httpx2.AsyncClient(base_url=live_server, limits=limits, timeout=60) as http:
        over = await http.post(
            f"/api/wallets/{child.id}/convert", json={"amount": 5.01}, headers=home.parent.headers
        )
        assert over.status_code == 400 and over.json()["detail"] == "Invalid amount"
        answers = await asyncio.gather(
            *(
                http.post(
                    f"/api/wallets/{child.id}/convert",
                    json={"amount": 1},
                    headers=home.parent.headers,
                )
                for _ in range(20)
            )
        )
        counts = Counter(a.status_code for a in answers)
        assert counts == {200: 5, 400: 15}, [a.text for a in answers if a.status_code != 400]
        assert {a.json()["detail"] for a in answers if a.status_code == 400} == {"Invalid amount"}
        wallet = (await http.get(f"/api/wallets/{child.id}", headers=child.headers)).json()
    assert wallet["balance"] == 0
    conversions = [t for t in wallet["transactions"] if t["amount"] < 0]
    assert len(conversions) == 5
    assert {t["reason"] for t in conversions} == {"Conversion en euros réels"}

    check = await run_tessera("ledger", "check", env=database_env(settings.resolved_database_url))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "ledger consistent" in check.stdout
