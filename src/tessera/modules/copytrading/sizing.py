"""What a follower's bot should do with one master signal under its risk policy (pure).

- symbol: the follower's `symbol_map` renames it (`XAUUSD` → `GOLD`); `allow_symbols` (when
  not empty) and `block_symbols` filter on the master's symbol;
- volume: `fixed` lots, `multiplier` × the master's lots, or `equity_ratio` lots per 10,000
  of the follower's last reported equity; rounded down to 0.01 lots, never below 0.01;
- a stop-out with `close_only` lets CLOSE signals through and marks the rest skipped.

A filtered signal is still delivered, marked `skipped` with the reason, so the bot's sequence
stays contiguous and a real gap stays visible.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

LOT_STEP = Decimal("0.01")


@dataclass(frozen=True)
class Plan:
    symbol: str
    volume: Decimal
    skipped: bool
    skip_reason: str | None


def volume_for(master_volume: Decimal, sizing: dict[str, Any], equity_cents: int | None) -> Decimal:
    mode, value = sizing.get("mode", "multiplier"), Decimal(str(sizing.get("value", "1")))
    if mode == "fixed":
        volume = value
    elif mode == "equity_ratio":
        equity = Decimal(equity_cents or 0) / 100
        volume = value * equity / Decimal(10_000)
    else:
        volume = master_volume * value
    return max(LOT_STEP, volume.quantize(LOT_STEP, rounding=ROUND_DOWN))


def plan(
    *,
    symbol: str,
    order_type: str,
    master_volume: Decimal,
    policy: dict[str, Any],
    equity_cents: int | None,
    close_only: bool,
) -> Plan:
    mapped = dict(policy.get("symbol_map") or {}).get(symbol, symbol)
    volume = volume_for(master_volume, dict(policy.get("sizing") or {}), equity_cents)
    allow = set(policy.get("allow_symbols") or ())
    block = set(policy.get("block_symbols") or ())
    reason = None
    if allow and symbol not in allow:
        reason = "symbol not in allow list"
    elif symbol in block:
        reason = "symbol blocked"
    elif close_only and order_type != "CLOSE":
        reason = "stopped out: close only"
    return Plan(mapped, volume, reason is not None, reason)
