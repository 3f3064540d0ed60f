"""Outgoing e-mail: SMTP in production (aiosmtplib), the log in development.

Mail leaves the process only after the transaction that caused it has committed (endpoints
hand it to a background task). The log mailer prints the message in development, where the
reset link on the console is the point; elsewhere it records only that a mail was not sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib
import structlog

from tessera.core.config import Environment, Settings

log = structlog.get_logger("tessera.identity.mail")
SMTP_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str


class Mailer(Protocol):
    async def send(self, mail: Mail) -> None: ...


class SmtpMailer:
    def __init__(self, host: str, port: int, sender: str) -> None:
        self.host, self.port, self.sender = host, port, sender

    async def send(self, mail: Mail) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message.set_content(mail.body)
        await aiosmtplib.send(
            message, hostname=self.host, port=self.port, timeout=SMTP_TIMEOUT_SECONDS
        )


class LogMailer:
    def __init__(self, *, show_body: bool) -> None:
        self.show_body = show_body

    async def send(self, mail: Mail) -> None:
        if self.show_body:
            log.info("mail_to_console", to=mail.to, subject=mail.subject, body=mail.body)
        else:
            log.warning("mail_not_sent_no_smtp_configured", subject=mail.subject)


def build_mailer(settings: Settings) -> Mailer:
    if settings.smtp_host:
        return SmtpMailer(settings.smtp_host, settings.smtp_port, settings.smtp_from)
    return LogMailer(show_body=settings.env is Environment.development)


async def deliver(mailer: Mailer, mail: Mail) -> None:
    """Send, and log (never raise) on failure: the request that caused it has succeeded."""
    try:
        await mailer.send(mail)
    except Exception as exc:
        log.error("mail_failed", subject=mail.subject, error=type(exc).__name__)
