"""One send wrapper that feeds both the request metrics and the access log."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from starlette.routing import Mount

from backstack.web.errors import request_id_of

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from backstack.observe.logging import AccessLog
    from backstack.observe.metrics import Metrics

ROUTE_KEY = "backstack.route"  # an app below may name its route template here (e.g. "/rest/v1/{table}")


def route_template(scope: Scope) -> str:
    """The matched route's template (`/health`, `/rest/v1/{path}`), never the raw path: bounded labels."""
    explicit = scope.get(ROUTE_KEY)
    if explicit:
        return str(explicit)
    route = scope.get("route")
    if route is None:
        return "unmatched"
    root = str(scope.get("root_path", ""))[len(scope.get("app_root_path", "")) :]
    if isinstance(route, Mount):
        return root + "/{path}"
    return root + str(getattr(route, "path", ""))


class ObserveMiddleware:
    """Times each HTTP request and records status and bytes sent, once it has finished."""

    def __init__(self, app: ASGIApp, metrics: Metrics, access_log: AccessLog | None) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the server answers when the app below raises
        size = length = 0

        async def send_observed(message: Message) -> None:
            nonlocal status, size, length
            if message["type"] == "http.response.start":
                status = message["status"]
                length = next((int(v) for k, v in message.get("headers", ()) if k == b"content-length"), 0)
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            elif message["type"] == "http.response.pathsend":  # a file the server sends itself (granian)
                size += length
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            self._record(scope, status, size, time.perf_counter() - start)

    def _record(self, scope: Scope, status: int, size: int, seconds: float) -> None:
        method: str = scope["method"]
        self.metrics.observe(method, route_template(scope), status, seconds)
        if self.access_log is not None:
            self.access_log.record(
                request_id=request_id_of(scope),
                method=method,
                path=scope["path"],
                query=scope.get("query_string", b""),
                status=status,
                duration_ms=seconds * 1000.0,
                size=size,
            )
