"""The pages in a real headless Chromium (Debian's `chromium`, driven by Playwright) against `backstack serve`.

The landing page renders and its script reads auth results from the fragment (a real confirmation
link included); a single-page app in public/ loads at a client-side route through the fallback and
runs its script. Without /usr/bin/chromium (or the playwright package) these tests skip loudly, and
fail under BACKSTACK_REQUIRE_SERVICES=1 as in CI (`.ci/run` installs chromium when it is missing).
`playwright install` is never needed: the browser is the system one.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.compat.conftest import LiveServer
from tests.services import require_service
from tests.web.live import SPA_INDEX, SPA_SCRIPT, serve_project

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium")
    if executable is None:
        require_service(f"chromium not found ({CHROMIUM}; apt-get install chromium): browser tests NOT RUN")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        require_service(f"playwright is not installed ({exc}; pip install -e '.[dev]'): browser tests NOT RUN")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=executable, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page that records script errors and CSP violations (both fail the test)."""
    context = browser.new_context()
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
    tab.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    try:
        yield tab
        assert not problems, problems
    finally:
        context.close()


@pytest.fixture(scope="module")
def landing_server(tmp_path_factory: pytest.TempPathFactory, browser: Browser) -> Iterator[LiveServer]:
    with serve_project(tmp_path_factory.mktemp("landing")) as server:
        yield server


@pytest.fixture(scope="module")
def spa_server(tmp_path_factory: pytest.TempPathFactory, browser: Browser) -> Iterator[LiveServer]:
    files = {"public/index.html": SPA_INDEX, "public/assets/app.3f9a1c2b.js": SPA_SCRIPT,
             "public/style.css": "#app { color: rgb(1, 2, 3) }\n",
             "public/favicon.ico": ""}  # fmt: skip
    with serve_project(tmp_path_factory.mktemp("spa"), files) as server:
        yield server


def test_landing_page_renders(page: Page, landing_server: LiveServer) -> None:
    page.goto(landing_server.url + "/")
    assert page.title().startswith("backstack ")
    assert page.locator("h1").first.inner_text().startswith("backstack")
    for href in ("/rest/v1/", "/auth/v1/settings", "/health", "/metrics"):
        assert page.locator(f'a[href="{href}"]').count() == 1, href
    assert page.locator("#base-url").inner_text() == landing_server.url  # filled in by the script
    assert page.locator("#result").is_hidden()


def test_fragment_with_a_signup_session_says_confirmed(page: Page, landing_server: LiveServer) -> None:
    page.goto(
        landing_server.url + "/#access_token=eyJ.fake.token&expires_at=1&expires_in=3600"
        "&refresh_token=r3fr3sh&token_type=bearer&type=signup"
    )
    assert page.locator("#result-title").inner_text() == "Email address confirmed"
    assert "confirmed" in page.locator("#result-message").inner_text()
    assert page.title() == "Email address confirmed" and page.locator("#server").is_hidden()
    assert page.url == landing_server.url + "/"  # the tokens are gone from the address bar
    assert "eyJ.fake.token" not in page.content() and "r3fr3sh" not in page.content()


@pytest.mark.parametrize(
    ("kind", "title"),
    [("recovery", "Set a new password next"), ("magiclink", "Signed in"), ("invite", "Invitation accepted")],
)
def test_fragment_types(page: Page, landing_server: LiveServer, kind: str, title: str) -> None:
    page.goto(f"{landing_server.url}/#access_token=t&refresh_token=r&token_type=bearer&type={kind}")
    assert page.locator("#result-title").inner_text() == title


@pytest.mark.parametrize("kind", ["__proto__", "constructor", "toString", "hasOwnProperty", "unknown"])
def test_fragment_with_an_odd_type_says_signed_in(page: Page, landing_server: LiveServer, kind: str) -> None:
    """`type` names an own entry of the page's table only: Object.prototype's names get the generic text."""
    page.goto(f"{landing_server.url}/#access_token=t&refresh_token=r&token_type=bearer&type={kind}")
    assert page.locator("#result-title").inner_text() == "Signed in" and page.title() == "Signed in"
    assert page.locator("#result-message").inner_text() == "The link worked: you are signed in."


def test_fragment_with_an_error_shows_it(page: Page, landing_server: LiveServer) -> None:
    page.goto(
        landing_server.url + "/#error=access_denied&error_code=otp_expired"
        "&error_description=Email+link+is+invalid+or+has+expired&sb="
    )
    assert page.locator("body").get_attribute("data-outcome") == "error"
    assert page.locator("#result-title").inner_text() == "That link did not work"
    assert page.locator("#result-message").inner_text() == "Email link is invalid or has expired"
    assert "otp_expired" in page.locator("#result-detail").inner_text()


def test_error_text_is_shown_as_text_not_markup(page: Page, landing_server: LiveServer) -> None:
    page.goto(landing_server.url + "/#error=x&error_description=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E")
    assert page.locator("#result-message").inner_text() == "<img src=x onerror=alert(1)>"
    assert page.locator("#result img").count() == 0


def test_a_real_confirmation_link_lands_on_the_page(page: Page, landing_server: LiveServer) -> None:
    """generate_link mails nothing but returns the link a user would click; it redirects to `/` (the default
    site URL is this server) with the session in the fragment."""
    res = httpx.post(
        f"{landing_server.url}/auth/v1/admin/generate_link",
        json={"type": "signup", "email": "browser@example.com", "password": "correct horse battery"},
        headers=_service(landing_server),
        timeout=10,
    )
    assert res.status_code == 200, res.text
    page.goto(res.json()["action_link"])
    assert page.locator("#result-title").inner_text() == "Email address confirmed"
    assert page.url == landing_server.url + "/"
    again = page.context.new_page()  # the link works once: a second click shows the error
    again.goto(res.json()["action_link"])
    assert again.locator("body").get_attribute("data-outcome") == "error"


def _service(server: LiveServer) -> dict[str, Any]:
    return {"apikey": server.service_key, "Authorization": f"Bearer {server.service_key}"}


def test_spa_route_loads_through_the_fallback_and_runs_its_script(page: Page, spa_server: LiveServer) -> None:
    response = page.goto(spa_server.url + "/todos/42/edit")
    assert response is not None and response.status == 200
    assert page.locator("#app").inner_text() == "route:/todos/42/edit"
    assert page.locator("#app").evaluate("e => getComputedStyle(e).color") == "rgb(1, 2, 3)"
    assert page.title() == "SPA"
    page.goto(spa_server.url + "/")
    assert page.locator("#app").inner_text() == "route:/"
