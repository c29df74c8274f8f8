"""The landing page at `/` (no public/ folder): what it says, its headers, escaping, and that auth links
land on it by default. What its script does in a browser is in test_browser.py."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from backstack import __version__
from backstack.app import Backstack, create_app
from backstack.core.keys import project_keys
from backstack.web.landing import render
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio


async def _client(tmp_path: Path, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(tmp_path, **settings), access_log=lambda line: None)
    async with app.lifespan():
        yield httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000")


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client(tmp_path):
        yield c


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


async def test_landing_names_the_server_and_links_the_apis(client: httpx.AsyncClient) -> None:
    res = await client.get("/")
    assert res.status_code == 200
    assert res.headers["content-type"] == "text/html; charset=utf-8"
    assert res.headers["cache-control"] == "no-cache" and res.headers["referrer-policy"] == "no-referrer"
    page = res.text
    assert f"<title>backstack {__version__}</title>" in page
    for href in ("/rest/v1/", "/auth/v1/settings", "/health", "/metrics"):
        assert f'href="{href}"' in page
    assert "docs/" in page and "hosting.md" in page and "Studio" not in page  # no dashboard yet
    assert "http://" not in page and "https://" not in page and " src=" not in page  # nothing external


async def test_csp_admits_exactly_the_inline_style_and_script(client: httpx.AsyncClient) -> None:
    res = await client.get("/")
    [style] = re.findall(r"<style>(.*?)</style>", res.text, flags=re.S)
    [script] = re.findall(r"<script>(.*?)</script>", res.text, flags=re.S)
    csp = res.headers["content-security-policy"]
    assert csp.startswith("default-src 'none';")
    assert f"style-src {_sha256(style)};" in csp and f"script-src {_sha256(script)};" in csp
    assert "frame-ancestors 'none'" in csp


async def test_head_and_other_methods(client: httpx.AsyncClient) -> None:
    get = await client.get("/")
    head = await client.head("/")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(get.content))
    post = await client.post("/", json={})
    assert post.status_code == 405 and post.json()["code"] == "BS405" and post.headers["allow"] == "GET, HEAD"
    assert (await client.get("/nope")).json()["code"] == "BS404"  # the rest stays a JSON 404


async def test_settings_shown_on_the_page_are_escaped(tmp_path: Path) -> None:
    async for client in _client(tmp_path, public_dir='<img src=x onerror="alert(1)">&'):
        page = (await client.get("/")).text
        assert "<img" not in page
        assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;" in page
    async for client in _client(tmp_path / "off", public_dir=""):
        assert "Static hosting is off" in (await client.get("/")).text


def test_studio_hook_lists_the_dashboard() -> None:
    page, _ = render(public_dir="public", studio_path="/studio/")
    assert b'<a href="/studio/">/studio/</a>' in page and b"Studio" in page


async def test_a_confirmation_link_lands_on_the_landing_page_by_default(tmp_path: Path) -> None:
    """auth_site_url defaults to site_url (this server): a verified link redirects to `/#access_token=...`."""
    async for client in _client(tmp_path, auth_email_confirm=True):
        app: Backstack = client._transport.app  # type: ignore[attr-defined]
        keys = project_keys(app.settings.jwt_secret, issued_at=app.settings.api_keys_issued_at)
        res = await client.post(
            "/auth/v1/admin/generate_link",
            json={"type": "signup", "email": "land@example.com", "password": "correct horse battery"},
            headers={"apikey": keys.service_role, "Authorization": f"Bearer {keys.service_role}"},
        )
        assert res.status_code == 200, res.text
        link = urlsplit(res.json()["action_link"])
        verified = await client.get(f"{link.path}?{link.query}")
        assert verified.status_code == 303
        target = urlsplit(verified.headers["location"])
        assert (target.path or "/") == "/" and "type=signup" in target.fragment
        assert "access_token=" in target.fragment and not target.query
        landing = await client.get(target.path or "/")
        assert landing.status_code == 200 and "<title>backstack" in landing.text
