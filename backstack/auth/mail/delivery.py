"""How an auth mail is delivered: by SMTP when `smtp_host` is set, else into the dev inbox.

With `smtp_host` set, mails go out through aiosmtplib; otherwise they are stored in
`auth.dev_inbox` (store/inbox.py) and listed by `backstack mail`, so confirmation and magic links
work on a fresh machine without a mail server. Failures become GoTrue's 500 ("Error sending ...
email") without the mail's content: mails carry secrets, which are never logged.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import TYPE_CHECKING, Protocol

from backstack.auth.store import inbox
from backstack.auth.store.sql import sql_for

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from backstack.auth.mail.templates import Mail
    from backstack.config import Settings
    from backstack.db.engine import Engine

log = logging.getLogger("backstack.auth.mail")


class MailError(Exception):
    """Delivery failed (the message is safe to show: no content of the mail)."""


class Mailer(Protocol):
    async def send(self, mail: Mail) -> None: ...


class SmtpMailer:
    """Sends through the SMTP server in the settings (aiosmtplib)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def message(self, mail: Mail) -> EmailMessage:
        s = self.settings
        message = EmailMessage()
        message["From"] = formataddr((s.smtp_sender_name, s.smtp_sender)) if s.smtp_sender_name else s.smtp_sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Message-ID"] = make_msgid(domain=s.smtp_sender.rpartition("@")[2] or None)
        message.set_content(mail.text)
        message.add_alternative(mail.html, subtype="html")
        return message

    async def send(self, mail: Mail) -> None:
        import aiosmtplib  # imported on first mail: most servers never send one

        s = self.settings
        try:
            await aiosmtplib.send(
                self.message(mail),
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_user or None,
                password=s.smtp_password or None,
                use_tls=s.smtp_security == "tls",
                start_tls={"auto": None, "starttls": True, "tls": False, "none": False}[s.smtp_security],
                timeout=s.smtp_timeout,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.warning(
                "sending a %s mail through %s:%s failed: %s", mail.kind, s.smtp_host, s.smtp_port, type(exc).__name__
            )
            raise MailError(f"SMTP delivery failed ({type(exc).__name__})") from None


class InboxMailer:
    """Stores mails in `auth.dev_inbox` instead of sending them (no SMTP server configured)."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.sql = sql_for(engine.dialect)
        self.clock = clock

    async def send(self, mail: Mail) -> None:
        await inbox.insert(
            self.engine, self.sql, self.clock(), mail.kind, mail.to, mail.subject, mail.html, mail.text,
            mail.links, mail.codes,
        )  # fmt: skip


def build_mailer(engine: Engine, settings: Settings, clock: Callable[[], datetime]) -> Mailer:
    """SMTP when `smtp_host` is set, else the dev inbox."""
    if settings.smtp_host:
        return SmtpMailer(settings)
    return InboxMailer(engine, clock)
