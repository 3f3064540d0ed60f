"""Schemathesis against a live server on both engines: every operation in the OpenAPI schema,
a few generated requests each (arbitrary text, NUL included), signed in as a user. No answer
may be a 5xx, every status must be one the schema documents, and every documented body must
match its schema, so that a client generated from the schema works."""

from __future__ import annotations

import uuid
from typing import Any

import httpx2
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import checks

EXAMPLES_PER_OPERATION = 4
# The RFC 9578 TokenRequest is binary: arbitrary bytes, short and long.
schemathesis.openapi.media_type("application/private-token-request", st.binary(max_size=600))
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.response_schema_conformance,
]


def credentials(base: str) -> dict[str, str]:
    email = f"fuzz-{uuid.uuid4().hex[:8]}@example.com"
    password = "correct-horse-battery-staple-42"
    httpx2.post(f"{base}/auth/register", json={"email": email, "password": password}, timeout=10)
    login = httpx2.post(
        f"{base}/auth/login", json={"email": email, "password": password}, timeout=10
    )
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def test_every_operation_answers_as_documented(live_server: str) -> None:
    schema = schemathesis.openapi.from_url(f"{live_server}/openapi.json")
    headers = credentials(live_server)
    failures: list[str] = []
    calls: list[int] = []

    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,  # the same requests on every run: green stays green
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            calls.append(1)
            try:
                case.call_and_validate(
                    base_url=live_server, headers=headers, checks=CHECKS, timeout=30
                )
            except Exception as exc:  # collect every operation's failure, then report them all
                failures.append(f"{case.method} {case.path}: {exc}")

        run()

    operations = sum(1 for _ in schema.get_all_operations())
    assert operations > 40 and len(calls) >= 2 * operations  # it did exercise everything
    assert not failures, "\n\n".join(failures[:10])
