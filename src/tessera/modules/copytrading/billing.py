"""Fee arithmetic in integer cents (pure).

High-water mark (the seed's `calculate_performance_fee`): the reported `profit` is the
cumulative profit level of the copied account; only the part above the best level already
billed is charged, and the mark never goes down. The seed's worked example at 20 %:

    level +1000 → fee 200 (mark 1000);  −500 → 0 (mark 1000);  +1500 → 100 (mark 1500)
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

BPS = 10_000


@dataclass(frozen=True)
class PerformanceFee:
    profit: int
    hwm_before: int
    profit_above_hwm: int
    fee: int
    hwm_after: int


def performance_fee(profit: int, hwm: int, fee_bps: int) -> PerformanceFee:
    above = max(0, profit - hwm)
    fee = above * fee_bps // BPS  # rounded down: never bill a fraction of a cent
    return PerformanceFee(profit, hwm, above, fee, max(hwm, profit))


def platform_share(amount: int, platform_pct: Decimal) -> int:
    """The platform's cents of a fee (rounded down: the master keeps the fraction)."""
    return int((Decimal(amount) * platform_pct / 100).to_integral_value(ROUND_DOWN))


def pct_to_bps(pct: Decimal) -> int:
    return int((pct * 100).to_integral_value(ROUND_DOWN))


def bps_to_pct(bps: int) -> float:
    return bps / 100
