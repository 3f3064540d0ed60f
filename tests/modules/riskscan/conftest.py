"""Fixtures of the risk-scan tests: the API configured against the real reference AI service
(one process per run), or against a misbehaving upstream where a test file says so by
overriding `riskscan_settings`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.aiservice.servers import ai_service_url, upstream
from tests.conftest import make_settings

from tessera.core.config import Settings
from tessera.modules.riskscan.config import RiskscanSettings

__all__ = ["ai_service_url", "upstream"]


def riskscan(**values: Any) -> RiskscanSettings:
    defaults: dict[str, Any] = {"scan_rate": "1000/minute", "queue_workers": 0, "max_in_flight": 5}
    return RiskscanSettings(_env_file=None, **{**defaults, **values})  # type: ignore[call-arg]


@pytest.fixture
def riskscan_settings(ai_service_url: str) -> RiskscanSettings:
    return riskscan(ai_service_url=ai_service_url)


@pytest.fixture
def settings(database_url: str, tmp_path: Path, riskscan_settings: RiskscanSettings) -> Settings:
    return make_settings(database_url, tmp_path, module_settings=[riskscan_settings])
