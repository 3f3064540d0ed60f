import json
from pathlib import Path

import httpx2
import pytest
import structlog
from asgi_lifespan import LifespanManager

from tessera.app import create_app
from tests.conftest import make_settings


def json_lines(text: str) -> list[dict[str, object]]:
    lines = []
    for line in text.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


async def test_access_log_is_json_with_the_request_id(
    database_url: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    app = create_app(make_settings(database_url, tmp_path, log_level="INFO"))
    async with LifespanManager(app):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get("/health", headers={"X-Request-ID": "trace-me-1"})
            await http.get("/nope", headers={"X-Request-ID": "trace-me-2"})
    assert response.headers["X-Request-ID"] == "trace-me-1"
    lines = json_lines(capfd.readouterr().err)
    access = [line for line in lines if line.get("logger") == "tessera.access"]
    missing = next(line for line in access if line["request_id"] == "trace-me-2")
    assert missing["status"] == 404 and missing["method"] == "GET"
    assert missing["route"] == "unmatched" and isinstance(missing["duration_ms"], float)
    assert any(line.get("logger") == "tessera.app" and line["event"] == "started" for line in lines)


def test_fields_named_like_secrets_are_redacted(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    create_app(make_settings(f"sqlite+aiosqlite:///{tmp_path}/x.db", tmp_path, log_level="INFO"))
    structlog.get_logger("tessera.test").info(
        "login", email="a@example.com", password="hunter2hunter2", refresh_token="rt-secret"
    )
    output = capfd.readouterr().err
    assert "hunter2hunter2" not in output and "rt-secret" not in output
    line = next(line for line in json_lines(output) if line.get("event") == "login")
    assert line["password"] == "[redacted]" and line["email"] == "a@example.com"


def test_the_level_drops_lower_records_and_keeps_the_rest(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    create_app(make_settings(f"sqlite+aiosqlite:///{tmp_path}/x.db", tmp_path, log_level="WARNING"))
    log = structlog.get_logger("tessera.test")
    log.info("routine", n=1)
    log.warning("unusual", n=2)
    events = [line.get("event") for line in json_lines(capfd.readouterr().err)]
    assert "unusual" in events and "routine" not in events
