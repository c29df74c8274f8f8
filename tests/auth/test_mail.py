"""Mail delivery: SMTP through a real SMTP server on loopback (aiosmtpd), delivery failures, template
overrides from the project's templates/auth/, escaping, and `backstack mail` listing the dev inbox."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from typer.testing import CliRunner

from backstack.auth.mail import InboxMailer, Mail, Templates, read_inbox, render_template
from backstack.auth.store.schema import ensure_schema
from backstack.cli.main import app
from backstack.config import Settings
from backstack.core import json
from backstack.db.engine import Engine, connect
from tests.auth.conftest import MakeAuth, sign_up
from tests.auth.test_email_flows import last_mail


class Collector:
    """An aiosmtpd handler keeping every message it is given."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, Collector]]:
    collector = Collector()
    port = free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, collector
    finally:
        controller.stop()


def body_of(message: Message, subtype: str) -> str:
    for part in message.walk():
        if part.get_content_type() == f"text/{subtype}":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    raise AssertionError(f"no text/{subtype} part")


@pytest.mark.anyio
async def test_smtp_delivery(make_auth: MakeAuth, engine: Engine, smtp_server: tuple[int, Collector]) -> None:
    port, collector = smtp_server
    auth = make_auth(
        auth_email_confirm=True, smtp_host="127.0.0.1", smtp_port=port, smtp_security="auto",
        smtp_sender="auth@example.com", smtp_sender_name="Example App",
    )  # fmt: skip
    res = await sign_up(auth, "smtp@example.com")
    assert res.status_code == 200, res.text
    [(sender, recipients, message)] = collector.messages
    assert sender == "auth@example.com" and recipients == ["smtp@example.com"]
    assert message["Subject"] == "Confirm Your Signup"
    assert message["From"] == "Example App <auth@example.com>"
    html = body_of(message, "html")
    text = body_of(message, "plain")
    assert "/auth/v1/verify?token=" in html and "type=signup" in html
    code = text.rsplit("Code: ", 1)[1].strip()
    assert len(code) == 6 and code in html
    assert await read_inbox(engine, to="smtp@example.com") == []  # SMTP configured: nothing in the dev inbox
    res = await auth.post("/verify", json={"type": "signup", "email": "smtp@example.com", "token": code})
    assert res.status_code == 200


@pytest.mark.anyio
async def test_smtp_failure_is_gotrues_500(make_auth: MakeAuth) -> None:
    auth = make_auth(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_timeout=2.0)
    res = await auth.post("/otp", json={"email": "down@example.com"})
    assert res.status_code == 500
    assert res.json() == {"code": "unexpected_failure", "message": "Error sending magic link email"}


@pytest.mark.anyio
async def test_project_template_overrides_the_default(
    make_auth: MakeAuth, engine: Engine, engine_settings: Settings
) -> None:
    folder = engine_settings.project_dir / "templates" / "auth"
    folder.mkdir(parents=True)
    (folder / "magic_link.html").write_text(
        "<title>Sign in to Acme, {{ .Email }}</title><p>{{.Data.plan}} plan: "
        "<a href='{{ .ConfirmationURL }}'>go</a> {{ .Token }} {{ .Unknown }} {{ .SiteURL }}</p>",
        encoding="utf-8",
    )
    auth = make_auth()
    await auth.post("/otp", json={"email": "tpl@example.com", "data": {"plan": "<pro>"}})
    mail = await last_mail(engine, "tpl@example.com")
    assert mail.subject == "Sign in to Acme, tpl@example.com"
    assert "&lt;pro&gt; plan" in mail.html and "<pro>" not in mail.html
    assert mail.codes[0] in mail.html and "http://127.0.0.1:8000</p>" in mail.html
    assert mail.links[0].replace("&", "&amp;") in mail.html
    # other kinds keep the packaged default
    await auth.post("/recover", json={"email": "tpl@example.com"})
    assert (await last_mail(engine, "tpl@example.com")).subject == "Reset Your Password"


def test_render_template_escapes_and_blanks_unknown_names() -> None:
    out = render_template(
        "{{ .A }}|{{.B}}|{{ .Data.k }}|{{ .Data.none }}|{{ .Missing }}|{{ .Data }}",
        {"A": '<a href="x">', "B": 5, "Data": {"k": "&"}},
    )
    assert out == "&lt;a href=&quot;x&quot;&gt;|5|&amp;|||{&quot;k&quot;:&quot;&amp;&quot;}"


def test_every_default_template_renders(tmp_path: Path) -> None:
    templates = Templates(tmp_path)
    for kind in ("confirmation", "invite", "magic_link", "recovery", "email_change", "reauthentication"):
        mail = templates.render(kind, "a@b.co", {"ConfirmationURL": "http://x/verify?a=1&b=2", "Token": "123456"})
        assert mail.subject and "123456" in mail.html and mail.codes == ["123456"]
        assert "{{" not in mail.html


# ---------------------------------------------------------------- backstack mail


def _store(settings: Settings, mails: list[Mail]) -> None:
    async def body() -> None:
        engine = connect(settings)
        await engine.start()
        try:
            await ensure_schema(engine)
            clock = iter(datetime(2026, 1, 1, 12, i, tzinfo=UTC) for i in range(10))
            mailer = InboxMailer(engine, lambda: next(clock))
            for mail in mails:
                await mailer.send(mail)
        finally:
            await engine.close()

    asyncio.run(body())


def test_backstack_mail_lists_the_dev_inbox(engine_settings: Settings) -> None:
    project = engine_settings.project_dir
    toml = f'jwt_secret = "{engine_settings.jwt_secret}"\n'
    if engine_settings.database_url:
        toml += f'database_url = "{engine_settings.database_url}"\n'
    (project / "backstack.toml").write_text(toml, encoding="utf-8")
    runner = CliRunner()
    env = {"DATABASE_URL": engine_settings.database_url or "", "BACKSTACK_DATABASE_URL": None,
           "BACKSTACK_JWT_SECRET": None, "COLUMNS": "200"}  # fmt: skip

    result = runner.invoke(app, ["mail", "--dir", str(project)], env=env)
    assert result.exit_code == 0, result.output
    assert "empty" in result.output

    _store(engine_settings, [
        Mail("confirmation", "ada@example.com", "Confirm Your Signup", "<p>x</p>", "x",
             ["http://127.0.0.1:8000/auth/v1/verify?token=abc&type=signup"], ["123456"]),
        Mail("magic_link", "bob@example.com", "Your Magic Link", "<p>y</p>", "y",
             ["http://h/verify?token=def"], ["654321"]),
    ])  # fmt: skip
    result = runner.invoke(app, ["mail", "--dir", str(project)], env=env)
    assert result.exit_code == 0, result.output
    assert "ada@example.com" in result.output and "Confirm Your Signup" in result.output
    assert "123456" in result.output and "654321" in result.output
    assert result.output.index("bob@example.com") < result.output.index("ada@example.com")  # newest first

    result = runner.invoke(app, ["mail", "--dir", str(project), "--json", "--to", "ADA@example.com"], env=env)
    assert result.exit_code == 0, result.output
    [entry] = json.loads(result.output)
    assert entry["to"] == "ada@example.com" and entry["codes"] == ["123456"]
    assert entry["links"] == ["http://127.0.0.1:8000/auth/v1/verify?token=abc&type=signup"]
    assert entry["created_at"] == "2026-01-01T12:00:00Z" and entry["kind"] == "confirmation"

    result = runner.invoke(app, ["mail", "--dir", str(project), "--json", "-n", "1"], env=env)
    assert [e["to"] for e in json.loads(result.output)] == ["bob@example.com"]


def test_backstack_mail_outside_a_project(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["mail", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "not a backstack project" in " ".join(result.output.split())
