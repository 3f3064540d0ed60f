"""Request and response bodies: the seed's web client's exact shapes (SPEC §7 and §12).

Money arrives as a JSON number or decimal string (USD, at most 2 decimals) and leaves as a JSON
number with the currency's decimals; storage is integer cents. Unknown extra fields on the
seed's faces are ignored. Instants carry their offset.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from tessera.core.kit.money import format_amount, parse_amount
from tessera.core.kit.time import UtcDateTime
from tessera.modules.copytrading.states import Reason, State, StopOutAction

CURRENCY = "USD"
MAX_METADATA_BYTES = 4096
SYMBOL = re.compile(r"^[A-Za-z0-9._#-]{1,20}$")


def _cents(value: Any, *, signed: bool) -> int:
    if isinstance(value, float):
        value = Decimal(repr(value))
    if isinstance(value, (int, Decimal, str)) and not isinstance(value, bool):
        text = value.strip() if isinstance(value, str) else value
        try:
            if Decimal(text) == 0:
                return 0
        except ArithmeticError:
            pass
    return parse_amount(value, CURRENCY, signed=signed)


def _non_negative(value: Any) -> int:
    return _cents(value, signed=False)


def _signed(value: Any) -> int:
    return _cents(value, signed=True)


Money = Annotated[int, BeforeValidator(_non_negative)]  # ≥ 0, number or string
SignedMoney = Annotated[int, BeforeValidator(_signed)]


def money_out(cents: int | None) -> float:
    return float(format_amount(cents or 0, CURRENCY))


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


# --- masters -----------------------------------------------------------------------------------


class MasterProfileIn(Body):
    display_name: str = Field(min_length=3, max_length=100)
    strategy_name: str = Field(min_length=3, max_length=100)
    monthly_fee: Money = 0
    bio: str | None = Field(None, max_length=1000)
    performance_fee_pct: Decimal = Field(Decimal(20), ge=0, le=100, decimal_places=2)

    @field_validator("display_name", "strategy_name")
    @classmethod
    def _trimmed(cls, value: str) -> str:
        value = value.strip()
        if len(value) < 3:
            raise ValueError("must be at least 3 characters")
        return value


class PeriodPoint(BaseModel):
    period: str
    profit: float


class MasterOut(BaseModel):
    user_id: str
    display_name: str
    strategy_name: str
    bio: str | None
    monthly_fee: float
    performance_fee_pct: float
    verified: bool
    trust_score: int
    win_rate: float
    avg_profit: float
    total_signals: int
    subscriber_count: int
    performance_history: list[PeriodPoint]
    created_at: datetime


class SubscriberOut(BaseModel):
    subscription_id: str
    email: str
    state: str
    is_active: bool
    created_at: datetime


class MasterLicenseOut(BaseModel):
    license_id: str
    license_token: str
    signing_secret: str
    expires_at: datetime | None = None
    message: str = "Save this token - it won't be shown again"


# --- subscriptions -----------------------------------------------------------------------------


class SubscribeIn(Body):
    master_id: str = Field(min_length=1, max_length=36)


class SubscriptionCreatedOut(BaseModel):
    subscription_id: str
    license_token: str | None
    expires_at: datetime | None = None
    message: str = "Save this token - it won't be shown again"


class SubscriptionOut(BaseModel):
    subscription_id: str
    subscriber_id: str
    master_id: str
    master_name: str
    state: str
    is_active: bool
    created_at: datetime
    paused_at: datetime | None
    paused_reason: str | None
    trust_score: int
    policy_version: int
    stop_out_action: str | None
    paid_until: datetime | None
    high_water_mark: float
    total_fees_paid: float


class MessageOut(BaseModel):
    message: str


class LicenseOut(BaseModel):
    subscription_id: str
    license_token: str
    expires_at: datetime | None = None
    message: str = "Save this token - it won't be shown again"


class SuspendIn(Body):
    reason: str | None = Field(None, max_length=200)


# --- risk policy -------------------------------------------------------------------------------


class Sizing(Body):
    """`fixed`: `value` lots per signal; `multiplier`: the master's volume × `value`;
    `equity_ratio`: `value` lots per 10,000 of the follower's last reported equity."""

    mode: Literal["fixed", "multiplier", "equity_ratio"] = "multiplier"
    value: Decimal = Field(Decimal(1), gt=0, le=1000, max_digits=12, decimal_places=4)


class PolicyIn(Body):
    sizing: Sizing = Field(default_factory=Sizing)
    symbol_map: dict[str, str] = Field(default_factory=dict, max_length=200)
    allow_symbols: list[str] = Field(default_factory=list, max_length=500)
    block_symbols: list[str] = Field(default_factory=list, max_length=500)
    max_price_deviation: Decimal = Field(Decimal("0.0050"), gt=0, le=1, decimal_places=6)
    max_ttl_ms: int = Field(500, ge=10, le=600_000)
    equity_floor: Money | None = None
    daily_loss_cap: Money | None = None
    stop_out_action: StopOutAction = StopOutAction.CLOSE_ONLY

    @field_validator("allow_symbols", "block_symbols")
    @classmethod
    def _symbols(cls, values: list[str]) -> list[str]:
        for value in values:
            if not SYMBOL.match(value):
                raise ValueError(f"invalid symbol {value!r}")
        return sorted(set(values))

    @field_validator("symbol_map")
    @classmethod
    def _map(cls, mapping: dict[str, str]) -> dict[str, str]:
        for key, value in mapping.items():
            if not SYMBOL.match(key) or not SYMBOL.match(value):
                raise ValueError(f"invalid symbol mapping {key!r} → {value!r}")
        return mapping

    def stored(self) -> dict[str, Any]:
        """The JSON kept on the subscription: decimals as exact strings, money in cents."""
        return {
            "sizing": {"mode": self.sizing.mode, "value": str(self.sizing.value)},
            "symbol_map": self.symbol_map,
            "allow_symbols": self.allow_symbols,
            "block_symbols": self.block_symbols,
            "max_price_deviation": str(self.max_price_deviation),
            "max_ttl_ms": self.max_ttl_ms,
            "equity_floor": self.equity_floor,
            "daily_loss_cap": self.daily_loss_cap,
            "stop_out_action": str(self.stop_out_action),
        }


DEFAULT_POLICY: dict[str, Any] = PolicyIn().stored()


class SizingOut(BaseModel):
    mode: str
    value: float


class PolicyOut(BaseModel):
    version: int
    sizing: SizingOut
    symbol_map: dict[str, str]
    allow_symbols: list[str]
    block_symbols: list[str]
    max_price_deviation: float
    max_ttl_ms: int
    equity_floor: float | None
    daily_loss_cap: float | None
    stop_out_action: str

    @classmethod
    def of(cls, policy: dict[str, Any], version: int) -> PolicyOut:
        merged = {**DEFAULT_POLICY, **policy}
        floor, cap = merged["equity_floor"], merged["daily_loss_cap"]
        return cls(
            version=version,
            sizing=SizingOut(
                mode=merged["sizing"]["mode"], value=float(Decimal(merged["sizing"]["value"]))
            ),
            symbol_map=merged["symbol_map"],
            allow_symbols=merged["allow_symbols"],
            block_symbols=merged["block_symbols"],
            max_price_deviation=float(Decimal(merged["max_price_deviation"])),
            max_ttl_ms=merged["max_ttl_ms"],
            equity_floor=None if floor is None else money_out(floor),
            daily_loss_cap=None if cap is None else money_out(cap),
            stop_out_action=merged["stop_out_action"],
        )


# --- the bot API -------------------------------------------------------------------------------


class EaStatusOut(BaseModel):
    subscription_id: str
    state: str
    can_trade: bool
    max_ttl_ms: int
    max_price_deviation: float
    last_sequence: int
    policy: PolicyOut
    policy_version: int
    stop_out_action: str | None
    trust_score: int


class ProtectionEventIn(Body):
    signal_sequence: int = Field(ge=0, le=2**62)
    signal_generated_at: UtcDateTime
    server_arrival_time: UtcDateTime
    reason: Reason
    latency_ms: int = Field(ge=0, le=86_400_000)
    current_state: State
    price_deviation: float | None = Field(None, ge=0, le=1e6, allow_inf_nan=False)
    metadata: dict[str, Any] | None = None

    @field_validator("metadata")
    @classmethod
    def _small(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        plain: dict[str, Any] = _plain_json(value)
        if len(orjson.dumps(plain)) > MAX_METADATA_BYTES:
            raise ValueError(f"metadata must be at most {MAX_METADATA_BYTES} bytes of JSON")
        return plain


def _plain_json(value: Any) -> Any:
    """Metadata as plain JSON: exact-decimal numbers become floats (it is not money)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {str(key): _plain_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain_json(item) for item in value]
    return value


class ProtectionEventCreatedOut(BaseModel):
    event_id: str
    subscription_id: str
    user_id: str
    signal_sequence: int
    reason: str
    latency_ms: int
    event_time: datetime
    trust_score: int
    state: str


class ProtectionEventOut(BaseModel):
    event_id: str
    subscription_id: str
    reason: str
    signal_sequence: int
    latency_ms: int
    price_deviation: float | None
    event_time: datetime
    current_state: str
    metadata: dict[str, Any]


class ReasonCount(BaseModel):
    reason: str
    count: int
    avg_latency_ms: float


class SummaryOut(BaseModel):
    time_window_hours: int
    events_by_reason: list[ReasonCount]


class HeartbeatIn(Body):
    equity: Money
    balance: Money
    policy_version: int = Field(ge=0)
    ea_instance_id: str | None = Field(None, max_length=100)


class HeartbeatOut(BaseModel):
    subscription_id: str
    state: str
    can_trade: bool
    policy_version: int
    stop_out_action: str | None
    stop_out_reason: str | None


def _epoch_ms(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("generated_at must be epoch milliseconds or an ISO 8601 instant")
    if isinstance(value, int):
        if not 0 < value < 10**15:
            raise ValueError("generated_at must be epoch milliseconds")
        return datetime.fromtimestamp(value / 1000, UTC)
    return value


class SignalIn(Body):
    sequence_number: int = Field(ge=1, le=2**62)
    symbol: str = Field(pattern=SYMBOL.pattern)
    order_type: Literal["BUY", "SELL", "CLOSE"]
    volume: Decimal = Field(gt=0, le=100_000, max_digits=20, decimal_places=8)
    price: Decimal = Field(gt=0, max_digits=24, decimal_places=10)
    stop_loss: Decimal | None = Field(None, ge=0, max_digits=24, decimal_places=10)
    take_profit: Decimal | None = Field(None, ge=0, max_digits=24, decimal_places=10)
    generated_at: Annotated[UtcDateTime, BeforeValidator(_epoch_ms)]
    signature: str = Field(pattern=r"^[0-9a-fA-F]{64}$")


class SignalAcceptedOut(BaseModel):
    signal_id: str
    sequence_number: int
    received_at: datetime


class SignalOut(BaseModel):
    sequence_number: int
    symbol: str
    master_symbol: str
    order_type: str
    volume: float
    master_volume: float
    price: float
    stop_loss: float | None
    take_profit: float | None
    generated_at: int  # epoch ms
    server_arrival_time: int  # epoch ms
    signature: str
    skipped: bool = False
    skip_reason: str | None = None


class PollOut(BaseModel):
    has_signals: bool
    signals: list[SignalOut]
    last_sequence: int
    master_last_sequence: int


# --- fees, results, trust, quality -------------------------------------------------------------


class ResultIn(Body):
    period: str = Field(pattern=r"^[0-9A-Za-z:._-]{1,40}$")
    profit: SignedMoney  # the cumulative profit level at the close of the period


class ResultOut(BaseModel):
    subscription_id: str
    period: str
    profit: float
    change: float
    high_water_mark_before: float
    high_water_mark: float
    fee: float
    fee_pct: float
    created_at: datetime


class FeePreviewOut(BaseModel):
    subscription_id: str
    profit: float
    high_water_mark: float
    profit_above_hwm: float
    fee_pct: float
    fee: float
    new_high_water_mark: float
    monthly_fee: float
    next_charge_at: datetime | None


class TrustChangeOut(BaseModel):
    cause: str
    reason: str | None
    event_id: str | None
    delta: int
    score_after: int
    state_after: str
    at: datetime


class TrustOut(BaseModel):
    subscription_id: str
    score: int
    state: str
    toxic_below: int
    recovery_per_24h: int
    changes: list[TrustChangeOut]


class LatencyOut(BaseModel):
    p50: float
    p95: float
    p99: float


class QualityOut(BaseModel):
    subscription_id: str
    time_window_hours: int
    signals: int
    events: int
    events_per_100_signals: float
    latency_ms: LatencyOut
    price_deviation_p95: float
    events_by_reason: list[ReasonCount]
