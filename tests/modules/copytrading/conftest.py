"""Helpers for the copy-trading tests: masters, funded followers, subscriptions, bots that
sign signals exactly as docs/copytrading.md tells a master's bot to."""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx2
from tests.helpers.identity import AuthedUser, register_and_login

from tessera.modules.copytrading import signing

API = "/api/v1"


@dataclass
class MasterBot:
    user: AuthedUser
    token: str
    secret: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-License-Token": self.token}

    def signal(self, sequence: int, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "sequence_number": sequence,
            "symbol": "EURUSD",
            "order_type": "BUY",
            "volume": "0.10",
            "price": "1.08450",
            "stop_loss": "1.08000",
            "take_profit": None,
            "generated_at": int(time.time() * 1000),
        }
        body.update(overrides)
        message = signing.canonical(
            sequence_number=body["sequence_number"],
            symbol=body["symbol"],
            order_type=body["order_type"],
            volume=Decimal(str(body["volume"])),
            price=Decimal(str(body["price"])),
            stop_loss=None if body["stop_loss"] is None else Decimal(str(body["stop_loss"])),
            take_profit=None if body["take_profit"] is None else Decimal(str(body["take_profit"])),
            generated_at_ms=body["generated_at"],
        )
        body["signature"] = signing.sign(self.secret, message)
        return body


async def become_master(
    client: httpx2.AsyncClient, user: AuthedUser, *, fee: str = "25.00", pct: Any = 20
) -> dict[str, Any]:
    response = await client.post(
        f"{API}/masters/profile",
        json={
            "display_name": "Alpha Trader",
            "strategy_name": "EURUSD trend",
            "monthly_fee": fee,
            "bio": "Trend following since 2015",
            "performance_fee_pct": pct,
        },
        headers=user.headers,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def master_bot(client: httpx2.AsyncClient, user: AuthedUser) -> MasterBot:
    response = await client.post(f"{API}/masters/license", headers=user.headers)
    assert response.status_code == 201, response.text
    body = response.json()
    return MasterBot(user, body["license_token"], body["signing_secret"])


async def deposit(client: httpx2.AsyncClient, user: AuthedUser, amount: str) -> None:
    response = await client.post(
        f"{API}/wallet/deposit", json={"amount_usd": amount}, headers=user.headers
    )
    assert response.status_code == 200, response.text


async def balance(client: httpx2.AsyncClient, user: AuthedUser) -> Decimal:
    response = await client.get(f"{API}/wallet", headers=user.headers)
    assert response.status_code == 200, response.text
    return Decimal(str(response.json()["balance_usd"]))


async def subscribe(
    client: httpx2.AsyncClient, follower: AuthedUser, master: AuthedUser
) -> tuple[str, dict[str, str]]:
    response = await client.post(
        f"{API}/subscriptions", json={"master_id": master.id}, headers=follower.headers
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return body["subscription_id"], {"X-License-Token": body["license_token"]}


@dataclass
class Pair:
    master: AuthedUser
    follower: AuthedUser
    sub_id: str
    bot: dict[str, str]


async def subscribed_pair(
    client: httpx2.AsyncClient, *, fee: str = "25.00", funds: str = "100.00"
) -> Pair:
    master = await register_and_login(client)
    await become_master(client, master, fee=fee)
    follower = await register_and_login(client)
    if funds != "0":
        await deposit(client, follower, funds)
    sub_id, bot = await subscribe(client, follower, master)
    return Pair(master, follower, sub_id, bot)


def event(reason: str, sequence: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "signal_sequence": sequence,
        "signal_generated_at": "2026-01-05T10:00:00.000Z",
        "server_arrival_time": "2026-01-05T10:00:00.120Z",
        "reason": reason,
        "latency_ms": 120,
        "current_state": "SYNCED",
        **extra,
    }
