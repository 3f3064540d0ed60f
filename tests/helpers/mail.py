"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, for mail tests.

inbox, port = smtp                     # the `smtp` fixture of a test module
messages = await inbox.wait_for(1)
token = token_in(messages[-1])
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import re
import threading
from collections.abc import Iterator
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

from tests.helpers.server import free_port

TOKEN_LINE = re.compile(r"^([A-Za-z0-9_-]{43})\r?$", re.MULTILINE)


class Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.arrived = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        self.arrived.set()
        return "250 OK"

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Message]:
        for _ in range(int(timeout / 0.02)):
            if len(self.messages) >= count:
                return self.messages
            await asyncio.sleep(0.02)
        raise AssertionError(f"expected {count} mails, got {len(self.messages)}")


def token_in(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    body = payload.decode()
    found = TOKEN_LINE.search(body)
    assert found, body
    assert f"#token={found.group(1)}" in body  # the link keeps it out of server logs
    return found.group(1)


def newest(messages: list[Message], subject: str) -> Message:
    """The newest message whose subject mentions `subject` (registration mails a
    verification link too)."""
    return [m for m in messages if subject in str(m["Subject"])][-1]


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()
