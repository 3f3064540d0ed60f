"""The module's settings (`CopytradingSettings`, env prefix `TESSERA_COPYTRADING_`).

- `platform_fee_pct` (0): the platform's share of every fee; the rest is credited to the
  master's wallet
- `billing_period_days` (30): how long one monthly fee pays for
- `ea_rate` ("1200/minute"): calls per license token (bots poll often)
- `license_guess_rate` ("60/minute"): unknown license tokens per IP before 429
- `poll_max_wait_seconds` (20): the longest long-poll a bot may ask for
- `poll_interval_ms` (200): how often a long-poll re-reads the database when there is no Redis
- `heartbeat_timeout_seconds` (300): no heartbeat for this long marks a bot `DEGRADED_GAP`
- `event_retention_days` (90), `signal_retention_days` (365): what the purge job keeps
- `stream_retention_hours` (24): how long signals stay in the Redis stream (then the database
  archive serves them)
"""

from __future__ import annotations

from decimal import Decimal

from limits import parse
from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from tessera.core.config import ModuleSettings


class CopytradingSettings(ModuleSettings):
    model_config = SettingsConfigDict(env_prefix="TESSERA_COPYTRADING_")

    platform_fee_pct: Decimal = Field(Decimal(0), ge=0, le=100)
    billing_period_days: int = Field(30, ge=1, le=366)
    ea_rate: str = "1200/minute"
    license_guess_rate: str = "60/minute"
    poll_max_wait_seconds: float = Field(20, ge=0, le=120)
    poll_interval_ms: int = Field(200, ge=10, le=10_000)
    heartbeat_timeout_seconds: int = Field(300, ge=5)
    event_retention_days: int = Field(90, ge=1)
    signal_retention_days: int = Field(365, ge=1)
    stream_retention_hours: int = Field(24, ge=1)

    @field_validator("ea_rate", "license_guess_rate")
    @classmethod
    def _rate(cls, value: str) -> str:
        parse(value)  # a typo stops the service at start-up
        return value
