"""/health and /metrics on both engines, and /health when the database is down."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from backstack import __version__
from backstack.app import Backstack, create_app
from backstack.config import Settings
from tests.conftest import make_settings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "observability.md"


@pytest.fixture
async def app(engine_settings: Settings) -> AsyncIterator[Backstack]:
    application = create_app(engine_settings, access_log=lambda line: None)
    async with application.lifespan():
        yield application


def client_for(app: Backstack) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.mark.anyio
# The docs' `"readers": 1` holds for a fresh server on a quiet machine: under CPU load a read can
# arrive while the previous reader thread, descheduled, has not yet marked itself idle, and
# ThreadPoolExecutor then starts a second reader. So it runs with nothing else.
@pytest.mark.serial
async def test_health(app: Backstack) -> None:
    response = await client_for(app).get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["version"] == __version__
    assert body["database"]["status"] == "ok"
    assert body["database"]["engine"] == app.engine.dialect.name
    assert response.headers["cache-control"] == "no-store"
    if app.engine.dialect.is_sqlite:  # docs/observability.md shows a fresh SQLite server's answer
        example = json.loads(DOCS.read_text(encoding="utf-8").split("```json\n", 1)[1].split("```", 1)[0])
        assert example.keys() == body.keys() and example["database"].keys() == body["database"].keys()
        varying = ("schema_version", "readers")  # reader threads start on demand (a slow read, the realtime poll)
        assert {k: v for k, v in example["database"].items() if k not in varying} == {
            k: v for k, v in body["database"].items() if k not in varying
        }
        assert 0 <= body["database"]["readers"] <= app.settings.sqlite_readers


@pytest.mark.anyio
async def test_metrics(app: Backstack) -> None:
    client = client_for(app)
    await client.get("/health")
    await client.get("/rest/v1/todos")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert 'backstack_http_requests_total{method="GET",route="/health",status="200"} 1.0' in text
    assert 'backstack_http_requests_total{method="GET",route="/rest/v1/{path}",status="401"} 1.0' in text
    assert "backstack_http_request_duration_seconds_bucket" in text
    assert "backstack_db_up{" in text and "} 1.0" in text


@pytest.mark.anyio
async def test_health_and_metrics_only_read(app: Backstack) -> None:
    response = await client_for(app).post("/health")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.anyio
async def test_health_is_503_when_the_database_is_down(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"postgresql://postgres@127.0.0.1:{_closed_port()}/none", db_connect_timeout=0.5)
    app = create_app(settings, access_log=lambda line: None)  # never started: the database is unreachable
    response = await client_for(app).get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["database"]["status"] == "unavailable"
    metrics = await client_for(app).get("/metrics")
    assert "backstack_db_up{" in metrics.text and "} 0.0" in metrics.text
