"""The page at `/` when the project serves no site of its own: what this server is, and where auth links land.

Email confirmation, magic-link and recovery links redirect to `auth_site_url`, which by default is
this server's own URL (`site_url`, `http://HOST:PORT`), so they arrive here with the result in the
fragment (`#access_token=...&type=signup`, or `#error=...&error_description=...`). The inline script
(pages/landing.js) reads the fragment in the browser, says what happened and clears it from the
address bar: the tokens never reach the server or its log.

The page is rendered once per app: everything on it comes from settings, escaped. No external
resources; the response's Content-Security-Policy allows only the inline style and script, by hash.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from importlib import resources
from typing import TYPE_CHECKING

from backstack.core.errors import MethodNotAllowed
from backstack.core.version import __version__
from backstack.web.responses import send_bytes

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

HTML_TYPE = b"text/html; charset=utf-8"
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def _asset(name: str) -> str:
    return resources.files("backstack.web").joinpath("pages", name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def render(*, public_dir: str, studio_path: str | None = None) -> tuple[bytes, str]:
    """The page's bytes and the Content-Security-Policy that admits exactly its inline style and script.

    `public_dir` is what the "Your site here" paragraph names (empty: static hosting is off).
    `studio_path`: the dashboard's mount path, listed with the APIs once backstack has one (issue 18).
    """
    css, js = _asset("landing.css"), _asset("landing.js")
    if public_dir:
        hosting = (
            f"Put a <code>{html.escape(public_dir)}</code> folder with an <code>index.html</code> in the project "
            "folder and restart: it is served here instead of this page (the APIs stay where they are)."
        )
    else:
        hosting = "Static hosting is off (<code>public_dir</code> is empty)."
    studio = ""
    if studio_path:
        href = html.escape(studio_path)
        studio = f'<tr><td><a href="{href}">{href}</a></td><td>Studio: the dashboard</td></tr>\n'
    values = {"version": html.escape(__version__), "css": css, "js": js, "hosting": hosting, "studio": studio}
    page = _PLACEHOLDER.sub(lambda m: values[m.group(1)], _asset("landing.html"))
    csp = (
        f"default-src 'none'; img-src data:; style-src {_csp_hash(css)}; script-src {_csp_hash(js)}; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return page.encode(), csp


class LandingPage:
    """ASGI endpoint for `GET|HEAD /`: the prerendered page, revalidated on each visit."""

    def __init__(self, *, public_dir: str, studio_path: str | None = None) -> None:
        body, csp = render(public_dir=public_dir, studio_path=studio_path)
        self.body = body
        self.headers = [
            (b"cache-control", b"no-cache"),
            (b"content-security-policy", csp.encode()),
            (b"referrer-policy", b"no-referrer"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            raise MethodNotAllowed(
                "BS405", f"Unsupported HTTP method: {scope['method']}", headers={"Allow": "GET, HEAD"}
            )
        await send_bytes(
            send, 200, self.body, content_type=HTML_TYPE, headers=self.headers, head=scope["method"] == "HEAD"
        )
