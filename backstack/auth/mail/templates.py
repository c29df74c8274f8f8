"""What an auth mail says: templates the project can override, rendered into a `Mail`.

Templates are HTML files named after Supabase's template kinds (`confirmation`, `invite`,
`magic_link`, `recovery`, `email_change`, `reauthentication`). The defaults ship in this package
(`auth/templates/`); a file of the same name in the project's `templates/auth/` folder replaces
one. They use GoTrue's variable syntax, so templates written for Supabase keep working:
`{{ .ConfirmationURL }}`, `{{ .Token }}`, `{{ .TokenHash }}`, `{{ .SiteURL }}`, `{{ .RedirectTo }}`,
`{{ .Email }}`, `{{ .NewEmail }}`, `{{ .Data.<key> }}` (values HTML-escaped; unknown names render
empty). The subject is the template's `<title>`, else Supabase's default subject.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from backstack.core import json

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
