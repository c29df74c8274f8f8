"""`GET /health` (is this worker and its database up?) and `GET /metrics` (Prometheus text).

Other services report on this worker through `sections`: named callables returning a JSON object
(realtime's sockets and channels, wired in app.py), shown under their name in /health and as gauges
`backstack_<name>_<number>` in /metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from starlette.routing import Route

from backstack.core.errors import MethodNotAllowed
from backstack.core.version import __version__
from backstack.observe.metrics import CONTENT_TYPE
from backstack.web.responses import send_bytes, send_json

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

    from backstack.db.engine import Engine
    from backstack.observe.metrics import Metrics

_READ = ("GET", "HEAD")
Section = Callable[[], dict[str, Any]]


def _check_method(scope: Scope) -> None:
    if scope["method"] not in _READ:
        raise MethodNotAllowed("BS405", f"Unsupported HTTP method: {scope['method']}", headers={"Allow": "GET, HEAD"})


class Health:
    """200 `{"status":"ok","version","database":{...}}`; 503 when the database does not answer."""

    def __init__(self, engine: Engine, sections: Mapping[str, Section]) -> None:
        self.engine = engine
        self.sections = sections

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        _check_method(scope)
        database = await self.engine.health()
        ok = database.get("status") == "ok"
        body = {"status": "ok" if ok else "unavailable", "version": __version__, "database": database}
        body.update({name: section() for name, section in self.sections.items()})
        await send_json(send, 200 if ok else 503, body, headers=[(b"cache-control", b"no-store")])


class MetricsEndpoint:
    """Prometheus text exposition of the app's metrics."""

    def __init__(self, metrics: Metrics, engine: Engine, sections: Mapping[str, Section]) -> None:
        self.metrics = metrics
        self.engine = engine
        self.sections = sections

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        _check_method(scope)
        body = await self.metrics.exposition(self.engine, {name: section() for name, section in self.sections.items()})
        await send_bytes(send, 200, body, content_type=CONTENT_TYPE, head=scope["method"] == "HEAD")


def observe_routes(engine: Engine, metrics: Metrics, sections: Mapping[str, Section] | None = None) -> list[Route]:
    """The routes this service adds to the app: /health and /metrics (with other services' `sections`)."""
    sections = dict(sections or {})
    return [Route("/health", Health(engine, sections)), Route("/metrics", MetricsEndpoint(metrics, engine, sections))]
