"""The catalogue: every extension point a backstack app offers, one attribute each.

Bind a handler with `app.hooks.<name>.bind(handler, id=..., priority=..., tags=...)`; a handler is
`async def handler(event) -> None` and awaits `event.next()` to let the chain and the default action
continue (see `core.hooks`). `docs/hooks.md` has a section per hook; a test keeps them in step.
"""

from __future__ import annotations

from backstack.core.events import ErrorEvent, RequestEvent, RowsChanged, ShutdownEvent, StartupEvent
from backstack.core.hooks import HookSpec


class Hooks:
    """The hooks of one app. Each instance has its own handlers: two apps in a process share nothing."""

    on_startup = HookSpec(
        StartupEvent,
        "Fires once per worker after the database engine started, before the first request. "
        "Default action: none. Use it to open clients, warm caches or bind other hooks.",
    )
    on_shutdown = HookSpec(
        ShutdownEvent,
        "Fires once per worker when the server stops, after in-flight requests finished and "
        "before the engine closes. Default action: none.",
    )
    on_request = HookSpec(
        RequestEvent,
        "Wraps every HTTP request after request id, metrics, CORS and limits, before routing. "
        "Default action: route the request. A handler may rewrite the scope, wrap send/receive, "
        "or answer itself without calling next().",
    )
    rows_changed = HookSpec(
        RowsChanged,
        "Fires once a data API write to a table committed and changed rows, before its response "
        "(tags: the table name and schema.table; not for RPC calls). Default action: none; a "
        "handler's exception is logged, not answered. Realtime fan-out, webhooks and audit logs bind here.",
    )
    on_error = HookSpec(
        ErrorEvent,
        "Fires when an unexpected exception is turned into a 500 response, after the traceback "
        "is logged. Default action: none. Bind error reporters (e.g. Sentry) here.",
    )
