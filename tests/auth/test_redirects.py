"""`redirect_to` against the allow-list (issue 16, finding 5): URLs parsed as browsers read them.

With a wildcard entry, `https://attacker%2ecom?.example.com/` used to pass (the glob ran over the
raw string and `*` swallowed `%2e` and `?`) and the clicked link answered 303 to a URL a browser
reads as host `attacker.com`, tokens in the fragment. Every bypass form is tried on the pure check,
on each mailed link (signup, magic link, recovery, invite; dev inbox) and on the link click, on
both engines; /authorize is covered in test_oauth.py.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from backstack.auth.core.redirects import redirect_target
from backstack.auth.mail import read_inbox
from backstack.config import Settings
from backstack.core.keys import mint_key
from backstack.db.engine import Engine
from tests.auth.conftest import PASSWORD, MakeAuth, bearer
from tests.auth.test_email_flows import link_params

SITE = "https://app.example.com"
WILDCARD = ["https://*.example.com/**", "http://localhost:3000/**", "io.supabase.demo://login-callback/**"]

# Each of these must land on the site URL.
BYPASSES = [
    "https://attacker%2ecom?.example.com/",  # %2e is a dot to the browser; ? ends the host
    "https://attacker%2Ecom#.example.com/",
    "https://attacker.com?.example.com/",
    "https://attacker.com#.example.com/",
    "https://attacker.com/.example.com/",
    "https://3232235777?.example.com/",  # 192.168.1.1 to a browser
    "https://0xc0a80101/.example.com/",
    "https://192.168.1.1?.example.com/",
    "https://[::1]?.example.com/",
    "https://evil.com%2f.example.com/",
    "https://x.example.com@evil.com/",  # userinfo
    "https://evil.com@x.example.com/",  # userinfo, even on an allowed host
    "https://x.example.com%40evil.com/",
    "//evil.com",
    "//x.example.com/",
    "https:\\\\evil.com/x.example.com/",  # backslashes
    "https://evil.com\\@x.example.com/",
    "https://x.example.com/\r\nLocation: https://evil.com",  # CR/LF
    "https://x.example.com/%0d%0a".replace("%0d%0a", "\n"),
    "https://x.example.com/\tx",  # tab
    " https://evil.com",
    "https://app.example.com.evil.com/",
    "https://example.com.evil.com/",
    "https://a.b.example.com/",  # * is one label
    "javascript:alert(document.domain)//x.example.com/",
    "JavaScript://x.example.com/%0aalert(1)",
    "data:text/html,<script>alert(1)</script>",
    "http://app.example.com/",  # the site is https: not http
    "https://app.example.com:8443/",  # nor another port
    "http://x.example.com/",
    "http://localhost:3001/x",
    "io.supabase.demo://login-callback.evil.com/",
    "",
]
# And these are honoured (the parser's serialisation of them).
ALLOWED = [
    ("https://app.example.com/welcome?x=1", "https://app.example.com/welcome?x=1"),
    ("https://preview-42.example.com/auth/callback", "https://preview-42.example.com/auth/callback"),
    ("https://Preview-42.EXAMPLE.com/a/b?c=d#e", "https://preview-42.example.com/a/b?c=d#e"),
    ("https://bücher.example.com/", "https://xn--bcher-kva.example.com/"),
    ("http://localhost:3000/cb/x", "http://localhost:3000/cb/x"),
    ("io.supabase.demo://login-callback/", "io.supabase.demo://login-callback/"),
]


def _settings(**extra: object) -> Settings:
    return Settings(auth_site_url=SITE, auth_redirect_urls=WILDCARD, **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize("target", BYPASSES)
def test_bypass_forms_fall_back_to_the_site_url(target: str) -> None:
    assert redirect_target(_settings(), target) == SITE


@pytest.mark.parametrize(("target", "landed"), ALLOWED)
def test_allowed_targets_are_honoured_as_a_browser_reads_them(target: str, landed: str) -> None:
    assert redirect_target(_settings(), target) == landed


@pytest.mark.parametrize(
    ("pattern", "target", "allowed"),
    [
        ("https://*.example.com", "https://a.example.com", True),
        ("https://*.example.com", "https://a.example.com/x", False),  # no path in the entry: the origin only
        ("https://**.example.com/**", "https://a.b.example.com/x", True),
        ("https://app.example.com/*", "https://app.example.com/cb", True),
        ("https://app.example.com/*", "https://app.example.com/a/b", False),
        ("https://app.example.com/cb?", "https://app.example.com/cb1", True),
        ("https://{a,b}.example.com/", "https://b.example.com/", True),
        ("https://{a,b}.example.com/", "https://c.example.com/", False),
        ("https://[a-c]x.example.com/", "https://bx.example.com/", True),
        ("https://[!a-c]x.example.com/", "https://bx.example.com/", False),
        ("http://localhost:*/**", "http://localhost:5173/x", True),
        ("https://app.example.com:443/**", "https://app.example.com/x", True),
        ("https://**", "https://10.0.0.1/", False),  # IP hosts only where named exactly
        ("https://10.0.0.1/**", "https://167772161/x", True),
        ("https://[::1]:3000/cb", "https://[0:0::1]:3000/cb", True),
        ("https://*.example.com/**", "https://attacker%2ecom?.example.com/", False),
    ],
)
def test_glob_parts_follow_gotrue_documented_wildcards(pattern: str, target: str, allowed: bool) -> None:
    settings = Settings(auth_site_url="https://site.invalid", auth_redirect_urls=[pattern])
    assert (redirect_target(settings, target) != "https://site.invalid") is allowed


# ------------------------------------------------------------------ through the real mails and clicks


def _admin(settings: Settings) -> dict[str, str]:
    return bearer(mint_key(settings.jwt_secret, "service_role"))


async def _send(kind: str, auth: httpx.AsyncClient, settings: Settings, email: str, target: str) -> None:
    params = {"redirect_to": target}
    if kind == "signup":
        response = await auth.post("/signup", json={"email": email, "password": PASSWORD}, params=params)
    elif kind == "magiclink":
        response = await auth.post("/magiclink", json={"email": email}, params=params)
    elif kind == "recover":
        response = await auth.post("/recover", json={"email": email}, params=params)
    else:
        response = await auth.post("/invite", json={"email": email}, params=params, headers=_admin(settings))
    assert response.status_code == 200, response.text


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["signup", "magiclink", "recover", "invite"])
async def test_mailed_links_never_redirect_to_a_bypass(
    make_auth: MakeAuth, engine: Engine, engine_settings: Settings, kind: str
) -> None:
    auth = make_auth(auth_site_url=SITE, auth_redirect_urls=WILDCARD, auth_email_confirm=True)
    if kind == "recover":
        await auth.post("/signup", json={"email": "recover@example.com", "password": PASSWORD})
    for i, target in enumerate([*BYPASSES, "https://preview-1.example.com/cb"]):
        email = "recover@example.com" if kind == "recover" else f"{kind}{i}@example.com"
        await _send(kind, auth, engine_settings, email, target)
        [mail] = await read_inbox(engine, to=email, limit=1)
        expected = "https://preview-1.example.com/cb" if target.startswith("https://preview-1") else SITE
        assert link_params(mail.links[0])["redirect_to"] == expected, target
        # The click honours only what the link says, whatever a tampered link adds.
        clicked = await auth.get("/verify", params={**link_params(mail.links[0]), "redirect_to": target})
        assert clicked.status_code == 303, clicked.text
        location = clicked.headers["location"]
        assert location.startswith(expected + "#"), (target, location)
        assert urlsplit(location).hostname in ("app.example.com", "preview-1.example.com")
