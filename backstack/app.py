"""`create_app(settings)`: the one-screen map of a backstack server.

Reading top to bottom: the engine, the hooks and the metrics are made; each API is mounted behind
authentication; the platform middleware wraps the router. Nothing here does work per request; it
only wires objects that do.

A request walks down, the response walks back up:

    PlatformMiddleware   one ASGI layer (web/platform.py) doing, outermost first:
                           request id     x-request-id in and out; everything below can name the request
                           observation    metrics and the access log see every response, errors included
                           CORS           preflights answered here; error responses carry CORS headers too
                           security       nosniff, frame and referrer policy
                           errors         ApiError / unexpected exception -> the wire shape of the API called
                           limits         414 / 431 / 413 / 408 (raised, so the errors step renders them)
                           on_request     the hook (free when nothing is bound)
    PrefixRouter         /rest/v1 (AuthMiddleware -> data API), /auth/v1, /realtime/v1 (websocket
                         and REST broadcast; its bus starts and stops with the app), /health, /metrics;
                         then `/`: the project's public/ folder (never under an API prefix) or
                         the landing page where auth links land (web/site.py). Starlette's Router,
                         with the API mounts found by a prefix test (web/routing.py)

Error rendering comes after the header and observation steps, so that every error response still
carries the request id, CORS and security headers and is counted. They were seven middleware
classes; merged, a request reads its headers once and each response message passes one `send`
wrapper, not seven (issue 18).
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from starlette.routing import Mount

from backstack.auth import build_auth_app, render_gotrue
from backstack.auth import ensure_schema as ensure_auth_schema
from backstack.cache import build_rate_limiter
from backstack.config import load_settings_from_env
from backstack.core.errors import NotFound
from backstack.core.events import ShutdownEvent, StartupEvent
from backstack.core.hookspecs import Hooks
from backstack.core.rpc import load_rpc_functions
from backstack.core.signing import build_key_set
from backstack.db.changes import ChangeReader
from backstack.db.engine import connect, messages_probe
from backstack.db.postgres.realtime_messages import ensure_realtime_messages
from backstack.observe.logging import AccessLog, configure_logging, stdout_writer
from backstack.observe.metrics import Metrics
from backstack.observe.recorder import RequestRecorder
from backstack.observe.routes import observe_routes
from backstack.policy.service import SqlitePolicies
from backstack.realtime import Limits as RealtimeLimits
from backstack.realtime import RealtimeApp
from backstack.realtime.bus import build_bus
from backstack.rest.routes import build_rest_app
from backstack.rest.visibility import RowVisibility
from backstack.web.auth import Authenticator, AuthMiddleware
from backstack.web.errors import render_postgrest
from backstack.web.limits import Limits
from backstack.web.platform import PlatformMiddleware
from backstack.web.routing import PrefixRouter
from backstack.web.site import mount_site
from backstack.web.worker import tune_collector

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from starlette.types import ASGIApp, Receive, Scope, Send

    from backstack.config import Settings
    from backstack.core.ports import ChangeFeed, PolicyProvider
    from backstack.db.engine import Engine
    from backstack.db.schema.model import Schema, Table
    from backstack.observe.logging import Write
    from backstack.realtime.authorization import Probe
    from backstack.realtime.changes import Visible

logger = logging.getLogger("backstack.app")

# Browser navigations to the auth API (links in mails, OAuth redirects) carry no project key.
AUTH_OPEN_PATHS = ("/verify", "/authorize", "/callback")
# Which error renderer each API mount answers in (web/errors.py); other paths get the default shape.
API_SHAPES = (("/rest/v1", render_postgrest), ("/auth/v1", render_gotrue))


class Backstack:
    """The ASGI application plus the objects it is made of, for servers, tests and plugins."""

    def __init__(self, settings: Settings, engine: Engine, hooks: Hooks, metrics: Metrics) -> None:
        self.settings = settings
        self.engine = engine
        self.hooks = hooks
        self.metrics = metrics
        self.limiter = build_rate_limiter(settings)  # memory, or Redis when redis_url is set (cache/)
        self.realtime: RealtimeApp | None = None  # create_app mounts it; its bus starts with the app
        self.asgi: ASGIApp = _unbuilt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.asgi(scope, receive, send)

    async def startup(self) -> None:
        """Start the engine and its internal schemas, then fire `on_startup` (the server's lifespan calls this)."""
        await self.engine.start()
        await prepare_database(self.engine)
        if self.realtime is not None:
            await self.realtime.start()
        await self.hooks.on_startup.trigger(StartupEvent(app=self))

    async def shutdown(self) -> None:
        """Fire `on_shutdown`, then close the engine, even when a handler fails."""
        try:
            await self.hooks.on_shutdown.trigger(ShutdownEvent(app=self))
        finally:
            if self.realtime is not None:
                await self.realtime.close()
            await self.limiter.close()
            await self.engine.close()

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: object = None) -> AsyncIterator[None]:
        """`async with app.lifespan():` runs startup and shutdown around the block (tests use it too)."""
        await self.startup()
        try:
            yield
        finally:
            await self.shutdown()


async def _unbuilt(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("Backstack app used before create_app() built its stack")


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        raise NotFound("BS404", f"No API at {scope['path']}", hint="The data API is under /rest/v1/.")


async def prepare_database(engine: Engine) -> None:
    """Create or upgrade the internal schemas services own (auth; realtime.messages where the database
    enforces its own policies: SQLite's engine creates its own at start), before user migrations may
    reference them."""
    await ensure_auth_schema(engine)
    if engine.dialect.enforces_row_security:
        await ensure_realtime_messages(engine)


def create_app(settings: Settings, *, hooks: Hooks | None = None, access_log: Write | None = None) -> Backstack:
    """Build the app for `settings`: nothing connects until the lifespan (or `app.startup()`) runs.

    `access_log` receives one line per request (default: stdout); tests pass a list's `append`.
    """
    engine = connect(settings)
    app = Backstack(settings, engine, hooks or Hooks(), Metrics())
    keys = build_key_set(
        settings.jwt_secret, settings.jwt_signing_key, settings.jwt_verification_keys, settings.project_dir
    )
    authenticator = Authenticator(settings.jwt_secret, keys=keys)
    policies: PolicyProvider[Schema, Table] | None  # the port, for the schema model the engines introspect
    policies = None if engine.dialect.enforces_row_security else SqlitePolicies()
    functions = load_rpc_functions(settings.project_dir / "functions")  # functions/*.py @rpc
    rest = build_rest_app(engine, settings, policies=policies, rows_changed=app.hooks.rows_changed, functions=functions)
    app.hooks.on_startup.bind(rest.rpc.check_names, id="rpc-names")
    probe = messages_probe(engine, policies)  # the policies on realtime.messages, as /rest/v1 applies policies
    visible = RowVisibility(rest.data, max_terms=settings.max_filter_terms, max_depth=settings.max_nesting)
    app.realtime = build_realtime_app(settings, authenticator, ChangeReader(engine), probe=probe, visible=visible)
    router = PrefixRouter(
        routes=[
            Mount("/rest/v1", app=AuthMiddleware(rest, authenticator)),
            Mount(
                "/auth/v1",
                app=AuthMiddleware(
                    build_auth_app(engine, settings, limiter=app.limiter, render_errors=False),  # API_SHAPES
                    authenticator,
                    verify_bearer=False,
                    open_paths=AUTH_OPEN_PATHS,
                ),
            ),
            Mount("/realtime/v1", app=app.realtime),
            *observe_routes(engine, app.metrics, {"realtime": app.realtime.health}),
        ],
        default=_not_found,
        lifespan=app.lifespan,
    )
    mount_site(router, settings)  # after the API mounts: public/ (as the default) never shadows them
    app.asgi = middleware_stack(router, app, access_log or stdout_writer())
    return app


def build_realtime_app(
    settings: Settings,
    authenticator: Authenticator,
    changes: ChangeFeed | None = None,
    *,
    probe: Probe | None = None,
    visible: Visible | None = None,
) -> RealtimeApp:
    """Realtime at /realtime/v1 with the limits of `settings`, the bus to the other workers and nodes
    `settings` choose (realtime/bus: Redis > PostgreSQL > this machine's workers > memory), private
    channels decided by `probe` (the policies on realtime.messages; None refuses them), and row
    changes read from `changes` and shown to whom the data API lets read them (`visible`)."""
    limits = RealtimeLimits(
        max_channels=settings.realtime_max_channels,
        max_message_bytes=settings.realtime_max_message_bytes,
        queue_frames=settings.realtime_queue_frames,
        idle_seconds=settings.realtime_idle_seconds,
        joins_per_second=settings.realtime_joins_per_second,
        messages_per_second=settings.realtime_messages_per_second,
    )
    return RealtimeApp(
        authenticator, limits, settings.realtime_max_connections, build_bus(settings), changes, probe, visible
    )


def middleware_stack(inner: ASGIApp, app: Backstack, access_log: Write) -> ASGIApp:
    """Wrap `inner` (the router) in the platform middleware the module docstring draws."""
    settings = app.settings
    return PlatformMiddleware(
        inner,
        limits=Limits.of(settings),
        apis=API_SHAPES,
        hooks=app.hooks,
        record=RequestRecorder(
            app.metrics, AccessLog(access_log, json_lines=settings.log_json, level=settings.log_level)
        ),
    )


def app_from_env() -> Backstack:
    """Factory for server workers (`granian --factory backstack.app:app_from_env`).

    Reads the project folder from BACKSTACK_PROJECT_DIR and every other setting as `load_settings`
    does, so `backstack serve --workers N` only has to export its options before forking.
    """
    settings = load_settings_from_env()
    configure_logging(settings)
    app = create_app(settings)
    tune_collector(app.hooks)  # a worker serves for a long time: web/worker.py says what this gains
    return app
