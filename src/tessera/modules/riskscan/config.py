"""The module's settings (`RiskscanSettings`, env prefix `TESSERA_RISKSCAN_`, the seed's names
as aliases).

- `ai_service_url` (TESSERA_RISKSCAN_AI_SERVICE_URL or AI_SERVICE_URL, http://127.0.0.1:8082):
  any service with the seed's `/scan` contract
- `ai_timeout_seconds` (AI_TIMEOUT_SECONDS, 60): one overall deadline per call (connect, upload,
  analysis and reply); past it the scan answers 504
- `scan_max_bytes` (SCAN_MAX_BYTES, 10 MiB): the largest file; larger uploads are 413 before
  the body is read
- `max_reply_bytes` (TESSERA_RISKSCAN_MAX_REPLY_BYTES, 16 MiB): a larger AI reply is 502
- `scan_rate` (TESSERA_RISKSCAN_SCAN_RATE, 10/minute per user) and `max_in_flight`
  (TESSERA_RISKSCAN_MAX_IN_FLIGHT, 3 scans per user at once): 429 with Retry-After past either
- `queue_workers` (TESSERA_RISKSCAN_QUEUE_WORKERS, 1 per process; 0 turns the runner off),
  `queue_poll_seconds` (1), `lease_seconds` (180), `max_attempts` (3)
- `document_deadline_seconds` (TESSERA_RISKSCAN_DOCUMENT_DEADLINE_SECONDS, 900): an async scan
  still running then keeps what it found, marked partial
- `chunk_chars` (TESSERA_RISKSCAN_CHUNK_CHARS, 4000): async scans send text in chunks of this size
"""

from __future__ import annotations

from limits import parse
from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import SettingsConfigDict

from tessera.core.config import ModuleSettings

MIB = 1024 * 1024


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class RiskscanSettings(ModuleSettings):
    model_config = SettingsConfigDict(env_prefix="TESSERA_RISKSCAN_")

    ai_service_url: str = Field(
        "http://127.0.0.1:8082",
        validation_alias=_env("TESSERA_RISKSCAN_AI_SERVICE_URL", "AI_SERVICE_URL"),
    )
    ai_timeout_seconds: float = Field(
        60.0,
        gt=0,
        validation_alias=_env("TESSERA_RISKSCAN_AI_TIMEOUT_SECONDS", "AI_TIMEOUT_SECONDS"),
    )
    scan_max_bytes: int = Field(
        10 * MIB, ge=1, validation_alias=_env("TESSERA_RISKSCAN_SCAN_MAX_BYTES", "SCAN_MAX_BYTES")
    )
    max_reply_bytes: int = Field(16 * MIB, ge=1024)
    scan_rate: str = "10/minute"
    max_in_flight: int = Field(3, ge=1)
    queue_workers: int = Field(1, ge=0, le=16)
    queue_poll_seconds: float = Field(1.0, gt=0)
    lease_seconds: float = Field(180.0, gt=0)
    max_attempts: int = Field(3, ge=1)
    document_deadline_seconds: float = Field(900.0, gt=0)
    chunk_chars: int = Field(4000, ge=200)

    @field_validator("scan_rate")
    @classmethod
    def _rate(cls, value: str) -> str:
        parse(value)  # a typo stops the service at start-up
        return value

    @field_validator("ai_service_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("AI_SERVICE_URL must be an http(s) URL")
        return value.rstrip("/")
