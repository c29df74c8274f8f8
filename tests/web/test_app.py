"""The assembled app (`create_app`) over a real SQLite engine: mounts, auth in front of /rest/v1, lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from backstack.app import Backstack, create_app
from backstack.auth.api import session
from backstack.core.errors import DatabaseError
from backstack.core.events import ShutdownEvent, StartupEvent
from backstack.core.hookspecs import Hooks
from backstack.core.keys import generate_secret, project_keys
from tests.conftest import make_settings


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Backstack]:
    application = create_app(make_settings(tmp_path), access_log=lambda line: None)
    async with application.lifespan():
        yield application


@pytest.fixture
def client(app: Backstack) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.mark.anyio
async def test_rest_requires_an_apikey(client: httpx.AsyncClient) -> None:
    response = await client.get("/rest/v1/todos")
    assert response.status_code == 401
    assert response.json() == {"message": "No API key found in request"}
    assert response.headers["x-request-id"]
    browser = await client.get("/rest/v1/todos", headers={"Origin": "http://localhost:5173"})
    assert browser.status_code == 401 and browser.headers["access-control-allow-origin"] == "*"


@pytest.mark.anyio
async def test_rest_refuses_a_foreign_key_and_accepts_the_projects(app: Backstack, client: httpx.AsyncClient) -> None:
    foreign = await client.get("/rest/v1/todos", headers={"apikey": project_keys(generate_secret()).anon})
    assert foreign.json() == {"message": "Invalid API key"}
    keys = project_keys(app.settings.jwt_secret, issued_at=app.settings.api_keys_issued_at)
    accepted = await client.get("/rest/v1/", headers={"apikey": keys.anon})
    assert accepted.status_code not in (401, 500), accepted.text


@pytest.mark.anyio
async def test_preflight_needs_no_key(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/rest/v1/todos", headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST"}
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.anyio
async def test_unknown_path_is_a_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/nope")
    assert response.status_code == 404
    assert response.json()["code"] == "BS404"


@pytest.mark.anyio
async def test_auth_errors_are_rendered_by_the_platform_in_gotrue_shape(
    app: Backstack, client: httpx.AsyncClient
) -> None:
    """app.py registers the auth package's renderer for /auth/v1; the size limits checked before the
    auth API is reached keep the platform's shape."""
    keys = project_keys(app.settings.jwt_secret, issued_at=app.settings.api_keys_issued_at)
    versioned = {"apikey": keys.anon, "x-supabase-api-version": "2024-01-01", "x-request-id": "req-auth"}
    bad = await client.post("/auth/v1/signup", content=b"{nope", headers=versioned)
    assert bad.status_code == 400 and bad.json()["code"] == "bad_json"
    assert bad.headers["x-sb-error-code"] == "bad_json" and bad.headers["x-supabase-api-version"] == "2024-01-01"
    assert bad.headers["content-type"] == "application/json" and "proxy-status" not in bad.headers
    assert bad.headers["x-request-id"] == "req-auth"
    unknown = await client.get("/auth/v1/nope", headers={"apikey": keys.anon})
    assert unknown.json() == {"code": 404, "error_code": "not_found", "msg": "Not Found"}
    huge = b"x" * (app.settings.max_body_bytes + 1)
    too_large = await client.post("/auth/v1/signup", content=huge, headers=versioned)
    assert too_large.status_code == 413 and too_large.json()["code"] == "BS413"


@pytest.mark.anyio
async def test_an_auth_5xx_names_the_request_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GoTrue's older shape carries `error_id` on a 5xx: the platform's request id."""

    async def failing(service: object, request: object) -> None:
        raise DatabaseError("XX000", "disk on fire", status=500)

    monkeypatch.setattr(session, "settings", failing)  # before create_app: the route table is built per app
    application = create_app(make_settings(tmp_path), access_log=lambda line: None)
    keys = project_keys(application.settings.jwt_secret, issued_at=application.settings.api_keys_issued_at)
    async with application.lifespan():
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://test")
        response = await client.get("/auth/v1/settings", headers={"apikey": keys.anon, "x-request-id": "req-5xx"})
    assert response.status_code == 500
    assert response.json() == {
        "code": 500,
        "error_code": "unexpected_failure",
        "msg": "Database error",
        "error_id": "req-5xx",
    }
    assert response.headers["x-sb-error-code"] == "unexpected_failure"


@pytest.mark.anyio
async def test_startup_and_shutdown_hooks_fire_around_the_engine(tmp_path: Path) -> None:
    fired: list[str] = []
    hooks = Hooks()

    async def started(event: StartupEvent) -> None:
        fired.append("startup")
        health = await event.app.engine.health()
        fired.append(health["status"])

    async def stopping(event: ShutdownEvent) -> None:
        fired.append("shutdown")

    hooks.on_startup.bind(started)
    hooks.on_shutdown.bind(stopping)
    app = create_app(make_settings(tmp_path), hooks=hooks, access_log=lambda line: None)
    async with app.lifespan():
        fired.append("serving")
    assert fired == ["startup", "ok", "serving", "shutdown"]


def test_two_apps_share_nothing(tmp_path: Path) -> None:
    first = create_app(make_settings(tmp_path / "a"))
    second = create_app(make_settings(tmp_path / "b"))
    assert first.hooks is not second.hooks and first.metrics.registry is not second.metrics.registry
    assert first.engine is not second.engine
