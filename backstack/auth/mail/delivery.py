"""Auth emails: templates the project can override, and delivery by SMTP or into the dev inbox.

Templates are HTML files named after Supabase's template kinds (`confirmation`, `invite`,
`magic_link`, `recovery`, `email_change`, `reauthentication`). The defaults ship in this package
(`auth/templates/`); a file of the same name in the project's `templates/auth/` folder replaces
one. They use GoTrue's variable syntax, so templates written for Supabase keep working:
`{{ .ConfirmationURL }}`, `{{ .Token }}`, `{{ .TokenHash }}`, `{{ .SiteURL }}`, `{{ .RedirectTo }}`,
`{{ .Email }}`, `{{ .NewEmail }}`, `{{ .Data.<key> }}` (values HTML-escaped; unknown names render
empty). The subject is the template's `<title>`, else Supabase's default subject.

Delivery: with `smtp_host` set, mails go out through aiosmtplib; otherwise they are stored in
`auth.dev_inbox` and listed by `backstack mail`, so confirmation and magic links work on a fresh
machine without a mail server. Failures become GoTrue's 500 ("Error sending ... email") without
the mail's content: mails carry secrets, which are never logged.
"""

from __future__ import annotations

import html
import logging
import re
import uuid
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from backstack.auth.store.sql import AuthSql, read_ts
from backstack.core import json

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from backstack.config import Settings
    from backstack.db.engine import Engine

log = logging.getLogger("backstack.auth.mail")

SUBJECTS = {
    "confirmation": "Confirm Your Signup",
    "invite": "You have been invited",
    "magic_link": "Your Magic Link",
    "recovery": "Reset Your Password",
    "email_change": "Confirm Email Change",
    "reauthentication": "Confirm reauthentication",
}
_VARIABLE = re.compile(r"\{\{\s*\.([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z0-9_\-]+))?\s*\}\}")
_TITLE = re.compile(r"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)


@dataclass(slots=True)
class Mail:
    """One rendered mail, with the links and codes it carries (for the dev inbox listing)."""

    kind: str
    to: str
    subject: str
    html: str
    text: str
    links: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)


class Templates:
    """Finds a template by kind: the project's `templates/auth/<kind>.html`, else the packaged default."""

    def __init__(self, project_dir: Path) -> None:
        self.override_dir = project_dir / "templates" / "auth"

    def source(self, kind: str) -> str:
        if kind not in SUBJECTS:
            raise ValueError(f"unknown mail template {kind!r}")
        override = self.override_dir / f"{kind}.html"
        if override.is_file():
            return override.read_text(encoding="utf-8")
        return resources.files("backstack.auth").joinpath("templates", f"{kind}.html").read_text(encoding="utf-8")

    def render(self, kind: str, to: str, values: dict[str, Any]) -> Mail:
        """The mail of `kind` to `to`; `values` are the template variables (`Data` may be a dict)."""
        body = render_template(self.source(kind), values)
        title = _TITLE.search(body)
        subject = html.unescape(title.group(1)).strip() if title else ""
        subject = " ".join(subject.split()) or SUBJECTS[kind]
        lines = [subject, ""]
        if values.get("ConfirmationURL"):
            lines += [str(values["ConfirmationURL"]), ""]
        if values.get("Token"):
            lines.append(f"Code: {values['Token']}")
        links = [str(values["ConfirmationURL"])] if values.get("ConfirmationURL") else []
        codes = [str(values["Token"])] if values.get("Token") else []
        return Mail(kind, to, subject, body, "\n".join(lines) + "\n", links, codes)


def render_template(source: str, values: dict[str, Any]) -> str:
    """Substitute GoTrue-style `{{ .Name }}` / `{{ .Data.key }}` variables, HTML-escaped."""

    def replace(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        if match.group(2) is not None:
            value = value.get(match.group(2)) if isinstance(value, dict) else None
        if value is None:
            return ""
        if isinstance(value, dict | list):
            value = json.dumps_str(value)
        return html.escape(str(value), quote=True)

    return _VARIABLE.sub(replace, source)


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
            log.warning("sending a %s mail through %s:%s failed: %s", mail.kind, s.smtp_host, s.smtp_port,
                        type(exc).__name__)
            raise MailError(f"SMTP delivery failed ({type(exc).__name__})") from None


_INSERT = (
    "insert into auth.dev_inbox (id, created_at, kind, recipient, subject, html, text_body, links, codes) "
    "values (?, ?, ?, ?, ?, ?, ?, ?::text::jsonb, ?::text::jsonb)"
)


class InboxMailer:
    """Stores mails in `auth.dev_inbox` instead of sending them (no SMTP server configured)."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.sql = AuthSql(engine.dialect)
        self.clock = clock

    async def send(self, mail: Mail) -> None:
        now = self.clock()
        params = (
            str(uuid.uuid4()), self.sql.ts(now), mail.kind, mail.to, mail.subject, mail.html, mail.text,
            json.dumps_str(mail.links), json.dumps_str(mail.codes),
        )  # fmt: skip
        async with self.engine.transaction() as conn:
            await conn.execute(self.sql(_INSERT), params)


def build_mailer(engine: Engine, settings: Settings, clock: Callable[[], datetime]) -> Mailer:
    """SMTP when `smtp_host` is set, else the dev inbox."""
    if settings.smtp_host:
        return SmtpMailer(settings)
    return InboxMailer(engine, clock)


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """A stored mail, as `backstack mail` lists it."""

    id: str
    created_at: datetime
    kind: str
    to: str
    subject: str
    links: list[str]
    codes: list[str]
    html: str
    text: str

    def to_json(self) -> dict[str, Any]:
        from backstack.auth.core.user import rfc3339

        return {
            "id": self.id, "created_at": rfc3339(self.created_at), "kind": self.kind, "to": self.to,
            "subject": self.subject, "links": self.links, "codes": self.codes, "html": self.html, "text": self.text,
        }  # fmt: skip


def _list(text: Any) -> list[str]:
    value = json.loads(text) if isinstance(text, str | bytes) else text
    return [str(v) for v in value] if isinstance(value, list) else []


async def read_inbox(engine: Engine, *, to: str | None = None, limit: int = 50) -> list[InboxEntry]:
    """The newest stored mails first (optionally only those to one address)."""
    sql = AuthSql(engine.dialect)
    where, params = ("where recipient = ? ", [to.strip().lower(), limit]) if to else ("", [limit])
    rows = await engine.fetch_all(
        sql(
            "select id, created_at, kind, recipient, subject, links::text, codes::text, html, text_body "
            f"from auth.dev_inbox {where}order by created_at desc, id limit ?"
        ),
        tuple(params),
    )
    out = []
    for r in rows:
        created = read_ts(r[1])
        assert created is not None
        out.append(InboxEntry(str(r[0]), created, r[2], r[3], r[4], _list(r[5]), _list(r[6]), r[7], r[8]))
    return out
