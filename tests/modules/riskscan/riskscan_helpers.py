"""Helpers of the risk-scan tests: posting scans, checking spans."""

from __future__ import annotations

from typing import Any

import httpx2


async def scan_text(
    client: httpx2.AsyncClient, headers: dict[str, str], text: str, **fields: str
) -> httpx2.Response:
    return await client.post(
        "/api/scan",
        headers=headers,
        files={"text": (None, text), **{name: (None, value) for name, value in fields.items()}},
    )


async def scan_file(
    client: httpx2.AsyncClient,
    headers: dict[str, str],
    name: str,
    content: bytes,
    media_type: str = "application/octet-stream",
    **fields: str,
) -> httpx2.Response:
    files: dict[str, Any] = {"file": (name, content, media_type)}
    files.update({key: (None, value) for key, value in fields.items()})
    return await client.post("/api/scan", headers=headers, files=files)


def assert_grounded(risks: list[dict[str, Any]], pages: list[str]) -> None:
    """Every span's quote is exactly the text at its offsets."""
    for risk in risks:
        for span in risk["spans"]:
            assert pages[span["page"] - 1][span["start"] : span["end"]] == span["quote"]
