"""The platform middleware (web/platform.py), as `app.py` builds it, around a small router of test endpoints."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Mount, Route, Router

from backstack.app import Backstack, middleware_stack
from backstack.config import Settings
from backstack.core import json
from backstack.core.errors import BadRequest
from backstack.core.events import ErrorEvent, RequestEvent
from backstack.core.hookspecs import Hooks
from backstack.db.engine import connect
from backstack.observe.metrics import Metrics
from backstack.web.responses import send_json


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send_json(send, 200, {"received": size, "request_id": scope["state"]["request_id"]})


async def boom(scope: dict[str, Any], receive: Any, send: Any) -> None:
    raise RuntimeError("secret internals")


async def bad(scope: dict[str, Any], receive: Any, send: Any) -> None:
    raise BadRequest("PGRST100", "failed to parse filter", details="unexpected x", hint="fix it")


class Asgi:
    """Starlette treats plain functions as request/response endpoints; an object is called as ASGI."""

    def __init__(self, func: Any) -> None:
        self.func = func

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.func(scope, receive, send)


def endpoints() -> list[Route]:
    return [Route("/echo", Asgi(echo)), Route("/boom", Asgi(boom)), Route("/bad", Asgi(bad))]


class Harness:
    def __init__(self, tmp_path: Path, **settings: Any) -> None:
        values: dict[str, Any] = {
            "project_dir": tmp_path,
            "jwt_secret": "x" * 32,
            "max_url_bytes": 200,
            "max_header_bytes": 2000,
            "max_body_bytes": 1000,
            "body_read_timeout": 0.3,
            **settings,
        }
        self.settings = Settings(**values)
        self.app = Backstack(self.settings, connect(self.settings), Hooks(), Metrics())
        self.log: list[bytes] = []
        inner = Router([Mount("/rest/v1", routes=endpoints()), Mount("/plain", routes=endpoints())])
        self.app.asgi = middleware_stack(inner, self.app, self.log.append)
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://test")

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log]


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


@pytest.mark.anyio
async def test_request_id_is_generated_echoed_and_logged(harness: Harness) -> None:
    generated = await harness.client.get("/rest/v1/echo")
    request_id = generated.headers["x-request-id"]
    assert len(request_id) == 32 and generated.json()["request_id"] == request_id
    given = await harness.client.get("/rest/v1/echo", headers={"X-Request-Id": "client-123"})
    assert given.headers["x-request-id"] == "client-123" and given.json()["request_id"] == "client-123"
    bogus = await harness.client.get("/rest/v1/echo", headers={"X-Request-Id": "x" * 500})
    assert len(bogus.headers["x-request-id"]) == 32
    assert [line["request_id"] for line in harness.log_lines()] == [
        request_id,
        "client-123",
        bogus.headers["x-request-id"],
    ]


@pytest.mark.anyio
async def test_security_headers(harness: Harness) -> None:
    response = await harness.client.get("/rest/v1/echo")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"


@pytest.mark.anyio
async def test_cors_preflight_is_answered_without_reaching_the_app(harness: Harness) -> None:
    response = await harness.client.options(
        "/rest/v1/anything",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "apikey, x-custom",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "PATCH" in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"]
    for name in ("authorization", "apikey", "content-type", "x-client-info", "prefer", "range", "x-custom"):
        assert name in allowed
    assert response.headers["x-request-id"]


@pytest.mark.anyio
async def test_cors_on_every_response_and_error(harness: Harness) -> None:
    """Not only for requests with `Origin`: a CDN may cache either answer and serve it to a browser."""
    browser = await harness.client.get("/rest/v1/bad", headers={"Origin": "http://localhost:3000"})
    assert browser.status_code == 400
    assert browser.headers["access-control-allow-origin"] == "*"
    assert "Content-Range" in browser.headers["access-control-expose-headers"]
    assert "Proxy-Status" in browser.headers["access-control-expose-headers"]
    server = await harness.client.get("/rest/v1/echo")
    assert server.headers["access-control-allow-origin"] == "*"
    assert server.headers["access-control-expose-headers"] == browser.headers["access-control-expose-headers"]
    assert "vary" not in server.headers and "vary" not in browser.headers


@pytest.mark.anyio
async def test_api_error_in_postgrest_shape_under_rest_and_plain_elsewhere(harness: Harness) -> None:
    rest = await harness.client.get("/rest/v1/bad")
    assert rest.json() == {
        "code": "PGRST100",
        "message": "failed to parse filter",
        "details": "unexpected x",
        "hint": "fix it",
    }
    assert rest.headers["proxy-status"] == "PostgREST; error=PGRST100"
    assert rest.headers["content-type"] == "application/json; charset=utf-8"
    plain = await harness.client.get("/plain/bad")
    assert plain.json()["code"] == "PGRST100" and "proxy-status" not in plain.headers


@pytest.mark.anyio
async def test_unexpected_exception_is_a_500_with_the_request_id_only(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    reported: list[ErrorEvent] = []

    async def report(event: ErrorEvent) -> None:
        reported.append(event)
        await event.next()

    harness.app.hooks.on_error.bind(report)
    with caplog.at_level(logging.ERROR, logger="backstack.errors"):
        response = await harness.client.get("/rest/v1/boom", headers={"x-request-id": "req-500"})
    assert response.status_code == 500
    assert response.json() == {
        "code": "BS500",
        "message": "Internal server error",
        "details": "request id req-500",
        "hint": "The server logged this error under the request id; quote it when reporting the problem.",
    }
    assert "secret internals" not in response.text
    assert response.headers["x-request-id"] == "req-500"
    assert "secret internals" in caplog.text and "Traceback" in caplog.text
    assert [(e.request_id, e.path, str(e.error)) for e in reported] == [
        ("req-500", "/rest/v1/boom", "secret internals")
    ]
    assert harness.log_lines()[-1]["status"] == 500


@pytest.mark.anyio
async def test_url_too_long_is_414(harness: Harness) -> None:
    response = await harness.client.get("/rest/v1/echo?select=" + "a" * 300)
    assert response.status_code == 414
    assert response.json()["code"] == "BS414"
    assert response.headers["proxy-status"] == "PostgREST; error=BS414"


@pytest.mark.anyio
async def test_headers_too_large_is_431(harness: Harness) -> None:
    response = await harness.client.get("/plain/echo", headers={"x-big": "a" * 3000})
    assert response.status_code == 431
    assert response.json()["code"] == "BS431"


@pytest.mark.anyio
async def test_declared_body_too_large_is_413(harness: Harness) -> None:
    response = await harness.client.post("/rest/v1/echo", content=b"a" * 1001)
    assert response.status_code == 413
    assert response.json()["code"] == "BS413"
    ok = await harness.client.post("/rest/v1/echo", content=b"a" * 1000)
    assert ok.json()["received"] == 1000


@pytest.mark.anyio
async def test_streamed_body_is_counted(harness: Harness) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"a" * 300

    response = await harness.client.post("/rest/v1/echo", content=chunks())
    assert response.status_code == 413


@pytest.mark.anyio
async def test_an_http2_body_without_length_is_counted(harness: Harness) -> None:
    """HTTP/2 frames a body without Content-Length or Transfer-Encoding: its bytes are counted all the same."""
    chunks = [
        {"type": "http.request", "body": b"a" * 600, "more_body": True},
        {"type": "http.request", "body": b"a" * 600, "more_body": False},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return chunks.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "http_version": "2",
        "method": "POST",
        "path": "/rest/v1/echo",
        "raw_path": b"/rest/v1/echo",
        "query_string": b"",
        "root_path": "",
        "headers": [],
    }
    await harness.app(scope, receive, send)
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["code"] == "BS413"


@pytest.mark.anyio
async def test_a_stalled_body_times_out_with_408(harness: Harness) -> None:
    async def trickle() -> AsyncIterator[bytes]:
        yield b"a"
        await asyncio.sleep(1)
        yield b"b"

    response = await harness.client.post("/rest/v1/echo", content=trickle())
    assert response.status_code == 408
    assert response.json()["code"] == "BS408"


@pytest.mark.anyio
async def test_bad_content_length_is_400(harness: Harness) -> None:
    response = await harness.client.post("/plain/echo", content=b"abc", headers={"content-length": "x"})
    assert response.status_code == 400


@pytest.mark.anyio
async def test_access_log_line(harness: Harness) -> None:
    await harness.client.get(
        "/rest/v1/echo?select=*&apikey=SECRETKEY&token=T",
        headers={"x-request-id": "r1", "apikey": "SECRETKEY", "authorization": "Bearer SECRETTOKEN"},
    )
    (line,) = harness.log_lines()
    assert set(line) == {
        "ts",
        "level",
        "msg",
        "request_id",
        "method",
        "path",
        "query",
        "status",
        "duration_ms",
        "bytes",
    }
    assert line["request_id"] == "r1" and line["method"] == "GET" and line["path"] == "/rest/v1/echo"
    assert line["status"] == 200 and line["bytes"] > 0 and line["duration_ms"] >= 0
    assert line["query"] == "select=*&apikey=REDACTED&token=REDACTED"
    assert b"SECRET" not in harness.log[0]


@pytest.mark.anyio
async def test_metrics_count_by_route_template(harness: Harness) -> None:
    for _ in range(3):
        await harness.client.get("/rest/v1/echo")
    await harness.client.get("/nowhere")
    registry = harness.app.metrics.registry
    labels = {"method": "GET", "route": "/rest/v1/echo", "status": "200"}
    assert registry.get_sample_value("backstack_http_requests_total", labels) == 3
    assert (
        registry.get_sample_value(
            "backstack_http_request_duration_seconds_count", {"method": "GET", "route": "/rest/v1/echo"}
        )
        == 3
    )
    assert (
        registry.get_sample_value(
            "backstack_http_requests_total", {"method": "GET", "route": "unmatched", "status": "404"}
        )
        == 1
    )


@pytest.mark.anyio
async def test_on_request_hook_can_answer_instead_of_the_app(harness: Harness) -> None:
    async def maintenance(event: RequestEvent) -> None:
        if event.scope["path"].startswith("/plain"):
            await send_json(event.send, 503, {"message": "maintenance"})
            return
        await event.next()

    harness.app.hooks.on_request.bind(maintenance)
    assert (await harness.client.get("/plain/echo")).status_code == 503
    assert (await harness.client.get("/rest/v1/echo")).status_code == 200
