"""The family module's settings (`FamilySettings`, env prefix `TESSERA_FAMILY_`).

- `default_timezone` (TESSERA_FAMILY_DEFAULT_TIMEZONE, Europe/Paris): a new family's IANA zone
  when its creator names none; the seed's household lives in France
- `reward_hour` (TESSERA_FAMILY_REWARD_HOUR, 0): the local hour at which the previous day is
  settled (0 = midnight in the family's zone)
- `catch_up_days` (TESSERA_FAMILY_CATCH_UP_DAYS, 3): how many finished days the reward job
  looks back for contracts no run has settled yet (a service that was down at midnight)
- `reprocess_max_days` (TESSERA_FAMILY_REPROCESS_MAX_DAYS, 30): how far back, and how many
  days at once, a parent may re-run the rewards
- `task_window_days` (TESSERA_FAMILY_TASK_WINDOW_DAYS, 366): recurring tasks have their
  instances generated this many days ahead of today; a daily job extends the window
- `default_recurrence_days` (TESSERA_FAMILY_DEFAULT_RECURRENCE_DAYS, 365): a recurring task
  with no end date ends this many days after its start (the seed's one year)
- `invitation_days` (TESSERA_FAMILY_INVITATION_DAYS, 30): an invitation expires after this
- `feed_rate` (TESSERA_FAMILY_FEED_RATE, 60/minute): calendar-feed fetches per address
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from limits import parse
from pydantic import field_validator
from pydantic_settings import SettingsConfigDict

from tessera.core.config import ModuleSettings

CURRENCY = "EUR"  # child wallets hold virtual euros (the seed's unit)


def check_timezone(name: str) -> str:
    """The IANA zone name, or ValueError (e.g. "Europe/Parsi")."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {name!r}") from None
    return name


class FamilySettings(ModuleSettings):
    model_config = SettingsConfigDict(env_prefix="TESSERA_FAMILY_")

    default_timezone: str = "Europe/Paris"
    reward_hour: int = 0
    catch_up_days: int = 3
    reprocess_max_days: int = 30
    task_window_days: int = 366
    default_recurrence_days: int = 365
    invitation_days: int = 30
    feed_rate: str = "60/minute"

    @field_validator("default_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("reward_hour")
    @classmethod
    def _hour(cls, value: int) -> int:
        if not 0 <= value <= 23:
            raise ValueError("TESSERA_FAMILY_REWARD_HOUR must be in [0, 23]")
        return value

    @field_validator("catch_up_days", "reprocess_max_days", "invitation_days")
    @classmethod
    def _positive(cls, value: int) -> int:
        if not 1 <= value <= 366:
            raise ValueError("must be between 1 and 366 days")
        return value

    @field_validator("task_window_days", "default_recurrence_days")
    @classmethod
    def _window(cls, value: int) -> int:
        if not 1 <= value <= 3660:
            raise ValueError("must be between 1 and 3660 days")
        return value

    @field_validator("feed_rate")
    @classmethod
    def _rate(cls, value: str) -> str:
        parse(value)
        return value
