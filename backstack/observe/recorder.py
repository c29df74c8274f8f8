"""What is recorded of each finished request: the request metrics and the access log line.

`web.platform.PlatformMiddleware` times every response, errors included, and calls a
`RequestRecorder` with its status and size (app.py wires them; web/ does not know observe/).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import Mount

from backstack.web.errors import request_id_of

if TYPE_CHECKING:
    from starlette.types import Scope

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


class RequestRecorder:
    """Counts and times each request in `metrics` and writes its `access_log` line (a `web.platform.Record`)."""

    def __init__(self, metrics: Metrics, access_log: AccessLog | None) -> None:
        self.metrics = metrics
        self.access_log = access_log

    def __call__(self, scope: Scope, status: int, size: int, seconds: float) -> None:
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
