"""Static hosting of public/ by a live `backstack serve`: types, caching and 304s, SPA fallback, path
traversal (sent raw, byte for byte), and API paths never shadowed by files of the same name."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from backstack.web.public import is_content_hashed
from tests.compat.conftest import LiveServer
from tests.web.live import SPA_INDEX, SPA_SCRIPT, raw_get, serve_project

SECRET = "TOP-SECRET-OUTSIDE-PUBLIC"
HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"  # what a browser navigation sends
SHADOWS = (
    "rest/v1/todos",
    "rest/v1/index.html",
    "auth/v1/settings",
    "auth/v1/verify",
    "health",
    "metrics",
    "storage/v1/object/x",
    "realtime/v1/websocket",
    "functions/v1/hello",
    "graphql/v1/index.html",
)

# What a case-insensitive file system (macOS, Windows) finds for /Rest/v1/todos: public/rest/v1/todos.
# NTFS also upper-cases the long s (U+017F) to S.
CASE_SHADOWS = ("REST/v1/todos", "Auth/V1/settings", "HEALTH", "Metrics/index.html", "re\u017ft/v1/todos")

FILES = {
    "public/index.html": SPA_INDEX,
    "public/assets/app.3f9a1c2b.js": SPA_SCRIPT,
    "public/style.css": "body { color: black }\n",
    "public/data.json": '{"ok": true}\n',
    "public/logo.svg": "<svg xmlns='http://www.w3.org/2000/svg'/>\n",
    "public/about/index.html": "<!doctype html><title>About</title>\n",
    "public/.env": f"KEY={SECRET}\n",
    "public/.git/config": f"{SECRET}\n",
    "public/.well-known/security.txt": "Contact: mailto:security@example.com\n",
    "secret.txt": f"{SECRET}\n",  # next to public/, in the project folder
    "outside/secret.txt": f"{SECRET}\n",
    **{f"public/{name}": f"{SECRET} shadow of /{name}\n" for name in SHADOWS},
    **{f"public/{name}": f"{SECRET} shadow of /{name}\n" for name in CASE_SHADOWS},
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    project = tmp_path_factory.mktemp("public-site")
    (project / "public").mkdir()
    os.symlink(project / "outside" / "secret.txt", project / "public" / "leak.txt")
    os.symlink(project / "outside", project / "public" / "leakdir")
    os.symlink("/etc/passwd", project / "public" / "passwd")
    os.symlink("data.json", project / "public" / "alias.json")  # inside: allowed
    with serve_project(project, FILES) as server:
        yield server


@pytest.fixture
def client(site: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, timeout=10) as c:
        yield c


@pytest.mark.parametrize(("path", "content_type"), [
    ("/", "text/html; charset=utf-8"),
    ("/index.html", "text/html; charset=utf-8"),
    ("/assets/app.3f9a1c2b.js", "text/javascript; charset=utf-8"),
    ("/style.css", "text/css; charset=utf-8"),
    ("/data.json", "application/json"),
    ("/alias.json", "application/json"),
    ("/logo.svg", "image/svg+xml"),
    ("/.well-known/security.txt", "text/plain; charset=utf-8"),
])  # fmt: skip
def test_files_are_served_with_their_types(client: httpx.Client, path: str, content_type: str) -> None:
    res = client.get(path)
    assert res.status_code == 200, res.text
    assert res.headers["content-type"] == content_type
    assert res.headers["x-content-type-options"] == "nosniff"
    assert res.headers["etag"] and res.headers["last-modified"]


@pytest.mark.parametrize(("path", "cache"), [
    ("/", "no-cache"),
    ("/index.html", "no-cache"),
    ("/about/", "no-cache"),
    ("/style.css", "no-cache"),
    ("/assets/app.3f9a1c2b.js", "public, max-age=31536000, immutable"),
])  # fmt: skip
def test_cache_control_by_name(client: httpx.Client, path: str, cache: str) -> None:
    assert client.get(path).headers["cache-control"] == cache


def test_conditional_requests_answer_304(client: httpx.Client) -> None:
    first = client.get("/style.css")
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    by_etag = client.get("/style.css", headers={"If-None-Match": etag})
    assert by_etag.status_code == 304 and by_etag.content == b""
    assert by_etag.headers["etag"] == etag and by_etag.headers["cache-control"] == "no-cache"
    assert client.get("/style.css", headers={"If-None-Match": f'"other", W/{etag}'}).status_code == 304
    assert client.get("/style.css", headers={"If-Modified-Since": modified}).status_code == 304
    assert client.get("/style.css", headers={"If-Modified-Since": "Thu, 01 Jan 1998 00:00:00 GMT"}).status_code == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2)
    stale = client.get("/style.css", headers={"If-None-Match": '"other"', "If-Modified-Since": modified})
    assert stale.status_code == 200 and stale.text == "body { color: black }\n"
    assert client.get("/", headers={"If-None-Match": client.get("/").headers["etag"]}).status_code == 304


def test_spa_fallback_serves_index_to_html_requests_only(client: httpx.Client) -> None:
    page = client.get("/todos/42/edit", headers={"Accept": HTML})
    assert page.status_code == 200 and page.text == SPA_INDEX and page.headers["cache-control"] == "no-cache"
    head = client.head("/todos/42/edit", headers={"Accept": HTML})
    assert head.status_code == 200 and head.content == b""
    for accept in ("*/*", "application/json", "image/avif,image/webp,*/*"):
        missing = client.get("/todos/42/edit", headers={"Accept": accept})
        assert missing.status_code == 404 and missing.json()["code"] == "BS404", accept
    assert client.get("/assets/missing.js").status_code == 404


def test_directories_and_methods(client: httpx.Client) -> None:
    redirect = client.get("/about", headers={"Host": "evil.example"})
    assert redirect.status_code == 307 and redirect.headers["location"] == "./about/"
    assert client.get("/about", follow_redirects=True).text == FILES["public/about/index.html"]
    post = client.post("/index.html", content=b"x")
    assert post.status_code == 405 and post.json()["code"] == "BS405" and post.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize("path", ["/.env", "/.git/config", "/leak.txt", "/leakdir/secret.txt", "/passwd"])
def test_hidden_files_and_symlinks_out_of_public_are_not_served(client: httpx.Client, path: str) -> None:
    plain = client.get(path)
    assert plain.status_code == 404 and plain.json()["code"] == "BS404"
    navigation = client.get(path, headers={"Accept": HTML})
    assert navigation.text == SPA_INDEX  # the app's own 404 handling, never the file
    assert SECRET not in plain.text + navigation.text and "root:" not in plain.text + navigation.text


@pytest.mark.parametrize("target", [
    "/../secret.txt", "/../../../../etc/passwd", "/%2e%2e/secret.txt", "/%2E%2E/%2e%2E/etc/passwd",
    "/assets/../../secret.txt", "/assets/%2e%2e/%2e%2e/secret.txt", "/..%2fsecret.txt", "/%2e%2e%2fsecret.txt",
    "/assets%2f..%2f..%2fsecret.txt", "/..%5csecret.txt", "/..\\secret.txt", "//etc/passwd", "/%2fetc/passwd",
    "/%2Fetc%2Fpasswd", "///etc/passwd", "/./../secret.txt", "/%252e%252e/secret.txt", "/leak.txt%00",
    "/%00/../secret.txt", "http://127.0.0.1/../secret.txt", "/outside/../../secret.txt",
])  # fmt: skip
@pytest.mark.parametrize("accept", ["*/*", HTML])
def test_path_traversal_is_impossible(site: LiveServer, target: str, accept: str) -> None:
    status, body = raw_get(site.url, target, accept)
    assert SECRET.encode() not in body and b"root:" not in body, (target, status, body[:200])
    assert status in (200, 400, 404), (target, status)
    if status == 200:
        assert accept == HTML and SPA_INDEX.encode() in body  # the SPA fallback, nothing else


@pytest.mark.parametrize("name", SHADOWS)
@pytest.mark.parametrize("accept", ["*/*", HTML])
def test_api_paths_are_never_served_from_public(client: httpx.Client, name: str, accept: str) -> None:
    res = client.get(f"/{name}", headers={"Accept": accept})
    assert SECRET not in res.text
    assert res.headers["content-type"].startswith(("application/json", "text/plain")), res.headers
    assert res.status_code in (200, 400, 401, 404, 405), res.status_code


@pytest.mark.parametrize(
    "target",
    [
        "/rest//v1/todos",
        "/x/../rest/v1/todos",
        "/rest/./v1/index.html",
        "/%72est/v1/todos",
        "/auth/v1/../v1/settings",
        "/storage/v1",
    ],
)
def test_api_paths_stay_unshadowed_when_spelled_oddly(site: LiveServer, target: str) -> None:
    for accept in ("*/*", HTML):
        status, body = raw_get(site.url, target, accept)
        assert SECRET.encode() not in body and SPA_INDEX.encode() not in body, (target, status, body[:200])


def test_the_apis_still_answer(client: httpx.Client, site: LiveServer) -> None:
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/rest/v1/todos").json() == {"message": "No API key found in request"}
    settings = client.get("/auth/v1/settings", headers={"apikey": site.anon_key})
    assert settings.status_code == 200 and "external" in settings.json()


@pytest.mark.parametrize(("name", "hashed"), [
    ("app.3f9a1c2b.js", True), ("main.0a1b2c3d4e5f6a7b8c9d.css", True), ("index-B1x9Qa_z.js", True),
    ("index-B-qVv7Fh.js", True), ("chunk-5ZKX2ABC.mjs", False), ("index-DiwrgTda.js", False),
    ("app.js", False), ("index.html", False), ("app.settings.js", False), ("main-v2banner.js", False),
    ("my-Component-v2.js", False), ("release.20240101.js", False), ("app.deadbeef.js", False),
    ("MainPage.js", False), ("app.3f9a1c2b.js.map", False),
])  # fmt: skip
def test_content_hashed_names(name: str, hashed: bool) -> None:
    assert is_content_hashed(name) is hashed


def test_public_dir_setting(tmp_path: Path) -> None:
    """`public_dir` elsewhere (absolute) is served; empty turns hosting off even when public/ exists."""
    import asyncio

    from backstack.app import create_app
    from tests.conftest import make_settings

    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("elsewhere", encoding="utf-8")
    (tmp_path / "public").mkdir()
    (tmp_path / "public" / "index.html").write_text("default", encoding="utf-8")

    async def root(**settings: str) -> str:
        app = create_app(make_settings(tmp_path, **settings), access_log=lambda line: None)
        async with app.lifespan(), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            return (await c.get("/")).text

    assert asyncio.run(root()) == "default"
    assert asyncio.run(root(public_dir=str(site))) == "elsewhere"
    assert "<title>backstack" in asyncio.run(root(public_dir=""))
    assert "<title>backstack" in asyncio.run(root(public_dir="missing"))


def test_without_index_a_404_page_answers_navigations(tmp_path: Path) -> None:
    """No index.html: HTML navigations to missing paths get public/404.html with status 404; others JSON."""
    import asyncio

    from backstack.app import create_app
    from tests.conftest import make_settings

    (tmp_path / "public").mkdir()
    (tmp_path / "public" / "404.html").write_text("custom 404", encoding="utf-8")
    (tmp_path / "public" / "a.txt").write_text("a", encoding="utf-8")

    async def get(path: str, accept: str) -> httpx.Response:
        app = create_app(make_settings(tmp_path), access_log=lambda line: None)
        async with app.lifespan(), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            return await c.get(path, headers={"Accept": accept})

    page = asyncio.run(get("/missing", HTML))
    assert (page.status_code, page.text) == (404, "custom 404")
    assert asyncio.run(get("/missing", "*/*")).json()["code"] == "BS404"
    assert asyncio.run(get("/", HTML)).status_code == 404
    assert asyncio.run(get("/a.txt", "*/*")).text == "a"


@pytest.mark.parametrize("public_dir", [".", "..", ".backstack", "site", "{project}"])
def test_a_public_dir_holding_the_projects_secrets_is_refused(tmp_path: Path, public_dir: str) -> None:
    """Serving the project folder (or a folder above it, or .backstack/) would publish backstack.toml's
    jwt_secret and the database: the app is not built and `serve` stops before listening, saying why.
    `site` is a symlink to the project folder; `{project}` its absolute path."""
    from backstack.app import create_app
    from backstack.web.site import UnsafePublicDir
    from tests.compat.conftest import _run, start_server, stop_server
    from tests.conftest import make_settings

    project = tmp_path / "app"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKSTACK_") and k != "DATABASE_URL"}
    _run(["init", str(project)], env)
    (project / ".backstack").mkdir(exist_ok=True)
    os.symlink(project, project / "site")
    env["BACKSTACK_PUBLIC_DIR"] = public_dir.format(project=project)
    with pytest.raises(UnsafePublicDir, match="would publish"):
        create_app(make_settings(project, public_dir=env["BACKSTACK_PUBLIC_DIR"]), access_log=lambda line: None)
    with pytest.raises(RuntimeError, match="public_dir") as refused:
        stop_server(start_server(project, env, "sqlite")[1])
    secret = (project / "backstack.toml").read_text().split('jwt_secret = "')[1].split('"')[0]
    assert secret not in refused.value.args[0]


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_api_paths_no_api_answers_are_404_for_every_method(client: httpx.Client, method: str) -> None:
    """Under an API prefix nothing answers yet (`/storage/v1`) or spelled so no mount takes it: 404 for
    every method as when there is no public/ folder, never the site's 405 `Allow: GET, HEAD`."""
    for path in ("/storage/v1/object/bucket/x.png", "/functions/v1/hello", "/rest//v1/todos", "/auth//v1/signup"):
        res = client.request(method, path, content=b"{}", headers={"Accept": HTML})
        assert res.status_code == 404, (path, res.status_code, res.text)
        assert "allow" not in res.headers and (method == "HEAD" or res.json()["code"] == "BS404")


@pytest.mark.parametrize("name", CASE_SHADOWS)
@pytest.mark.parametrize("accept", ["*/*", HTML])
def test_api_paths_in_another_case_are_not_served_from_public(site: LiveServer, name: str, accept: str) -> None:
    """A case-insensitive file system answers /REST/v1/todos with public/rest/v1/todos: API prefixes are
    reserved in any case, so no OS serves a file from under one."""
    status, body = raw_get(site.url, "/" + quote(name), accept)
    assert SECRET.encode() not in body and SPA_INDEX.encode() not in body, (name, status, body[:200])
    assert status == 404, (name, status)


def test_the_404_page_is_revalidated_like_every_other_page(tmp_path: Path) -> None:
    """public/404.html (no index.html) is sent `no-cache` as the docs promise for all HTML: without it
    its Last-Modified makes the 404 heuristically cacheable, so a page deployed later could stay missing."""
    from backstack.app import create_app
    from tests.conftest import make_settings
    from tests.services import run_sync

    (tmp_path / "public").mkdir()
    (tmp_path / "public" / "404.html").write_text("custom 404", encoding="utf-8")

    async def get() -> httpx.Response:
        app = create_app(make_settings(tmp_path), access_log=lambda line: None)
        async with app.lifespan(), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            return await c.get("/later.html", headers={"Accept": HTML})

    page = run_sync(get())
    assert (page.status_code, page.text) == (404, "custom 404")
    assert page.headers["cache-control"] == "no-cache" and page.headers["content-type"] == "text/html; charset=utf-8"


def test_access_log_counts_the_bytes_of_files(client: httpx.Client, site: LiveServer) -> None:
    """granian sends files with `http.response.pathsend` (no body messages): the access log still
    records their size, and never the query's tokens."""
    res = client.get("/data.json", params={"probe": "bytes", "access_token": "tok-SECRET-in-query"})
    assert res.status_code == 200
    log, deadline = site.project / "server.log", time.monotonic() + 5
    while True:  # the line is written once the response is out: wait for it
        lines = [json.loads(line) for line in log.read_text().splitlines() if '"probe=bytes' in line]
        if lines or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert [(line["path"], line["status"], line["bytes"]) for line in lines] == [
        ("/data.json", 200, len(FILES["public/data.json"]))
    ]
    assert "tok-SECRET-in-query" not in lines[0]["query"]


def test_range_requests_follow_rfc_9110_and_errors_are_json(client: httpx.Client) -> None:
    """A Range in a unit the server does not know MUST be ignored (RFC 9110 14.2), and so is an invalid one:
    the whole file, 200. A satisfiable one gets 206; one past the end a JSON 416 with `Content-Range: */size`."""
    body = FILES["public/data.json"]
    part = client.get("/data.json", headers={"Range": "bytes=0-3"})
    assert (part.status_code, part.text, part.headers["content-range"]) == (206, body[:4], f"bytes 0-3/{len(body)}")
    for ignored in ("items=0-3", "bytes=abc", "bytes=3-1", "bytes=" + ",".join(["0-1"] * 101)):
        whole = client.get("/data.json", headers={"Range": ignored})
        assert (whole.status_code, whole.text) == (200, body), ignored
    past = client.get("/data.json", headers={"Range": "bytes=1000-"})
    assert past.status_code == 416 and past.json()["code"] == "BS416"
    assert past.headers["content-range"] == f"bytes */{len(body)}"


def test_a_path_longer_than_the_os_allows_is_not_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Resolving symlinks costs one lstat per segment on an ever longer path: a 16 KB `/a/a/a/...` took ~75 ms
    of a worker's CPU. A path no file can have (over PATH_MAX) is missing without being resolved."""
    from backstack.app import create_app
    from tests.conftest import make_settings
    from tests.services import run_sync

    (tmp_path / "public").mkdir()
    (tmp_path / "public" / "index.html").write_text("spa", encoding="utf-8")
    resolved: list[int] = []
    realpath = os.path.realpath
    monkeypatch.setattr(os.path, "realpath", lambda path, **kw: resolved.append(len(str(path))) or realpath(path, **kw))

    async def get(path: str, accept: str) -> httpx.Response:
        app = create_app(make_settings(tmp_path), access_log=lambda line: None)
        async with app.lifespan(), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            return await c.get(path, headers={"Accept": accept})

    long = "/" + "a/" * 7000
    assert run_sync(get(long, "*/*")).json()["code"] == "BS404"
    assert run_sync(get(long, HTML)).text == "spa"
    assert resolved and max(resolved) < 4096 + len(str(tmp_path)), max(resolved)
