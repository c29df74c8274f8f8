"""The one place that turns an exception into an HTTP error response, in the shape of the API called.

Which shape is decided by the path: each app gives `web.platform.PlatformMiddleware` its API mounts
and their renderers (app.py: `/rest/v1` -> `render_postgrest`, `/auth/v1` -> the auth package's
GoTrue renderer), and `answer_error` renders with the one whose mount the path is under; anything
else gets `render_default`. A renderer sees the request as well as the error (GoTrue's shape
depends on a request header); web/ knows no API's package, so a new shape (Storage's
`statusCode/error/message`, Realtime's replies) is a renderer its package supplies and app.py
registers. Every error response is written by `web/responses.py send_response`.

- `ApiError` -> its status, `{"code","message","details","hint"}` (all four keys, null when absent),
  its headers, and for PostgREST `Proxy-Status: PostgREST; error=<code>` (so HEAD errors carry a code).
- `GatewayError` -> `{"message": ...}`: the API gateway's own answers (missing or unknown apikey),
  the same for every API, as Supabase's gateway sends them.
- any other exception -> 500 with the request id and no internals; the traceback is logged and the
  `on_error` hook fires so reporters (Sentry) see it.

An API app mounted without the platform (a host's own Starlette app, the auth tests) still answers
its `ApiError`s in its shape when wrapped in `RenderErrors` (auth's `build_auth_app` does).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from backstack.core import json
from backstack.core.errors import ApiError, Unauthorized
from backstack.core.events import ErrorEvent
from backstack.web.responses import JSON_TYPE, content_length, send_response

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from backstack.core.hookspecs import Hooks

logger = logging.getLogger("backstack.errors")

Headers = list[tuple[bytes, bytes]]
Rendered = tuple[int, Headers, bytes]  # status, headers (Content-Type and Content-Length included), body
Renderer = Callable[[ApiError, "Scope"], Rendered]  # the error and the request it answers

JSON_CONTENT_TYPE = (b"content-type", JSON_TYPE)


class GatewayError(Unauthorized):
    """Refused before reaching any API (no or unknown apikey): rendered as `{"message": ...}` everywhere."""

    def __init__(self, message: str) -> None:
        super().__init__("", message)


def internal_error(request_id: str) -> ApiError:
    """What the client is told about an unexpected exception: only the id to find it in the logs."""
    return ApiError(
        "BS500",
        "Internal server error",
        details=f"request id {request_id}",
        hint="The server logged this error under the request id; quote it when reporting the problem.",
        status=500,
    )


def _four_keys(error: ApiError, *extra: tuple[bytes, bytes]) -> Rendered:
    body = json.dumps({"code": error.code, "message": error.message, "details": error.details, "hint": error.hint})
    headers = [JSON_CONTENT_TYPE, content_length(body), *extra, *error_headers(error)]
    return error.status, headers, body


def error_headers(error: ApiError) -> Headers:
    """The headers the error itself carries (`WWW-Authenticate`, `Allow`, ...), lower-cased."""
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in error.headers.items()]


def render_postgrest(error: ApiError, scope: Scope) -> Rendered:
    """PostgREST's error body plus `Proxy-Status`, which postgrest-py reads when the body is empty (HEAD)."""
    return _four_keys(error, (b"proxy-status", f"PostgREST; error={error.code}".encode("latin-1")))


def render_default(error: ApiError, scope: Scope) -> Rendered:
    """The same four keys for the platform's own endpoints (/health, unknown paths, limits)."""
    return _four_keys(error)


def _render_gateway(error: GatewayError) -> Rendered:
    body = json.dumps({"message": error.message})
    return error.status, [JSON_CONTENT_TYPE, content_length(body), *error_headers(error)], body


def error_response(error: ApiError, scope: Scope, renderer: Renderer = render_default) -> Rendered:
    """Status, headers and body for `error`, raised while handling `scope`, in `renderer`'s shape."""
    if isinstance(error, GatewayError):
        return _render_gateway(error)
    return renderer(error, scope)


async def send_error(send: Send, error: ApiError, scope: Scope, renderer: Renderer = render_default) -> None:
    """Send `error` as a complete response."""
    status, headers, body = error_response(error, scope, renderer)
    await send_response(send, status, headers, body)


def request_id_of(scope: Scope) -> str:
    """The request id `PlatformMiddleware` stored in the scope ("-" outside it)."""
    state = scope.get("state")
    return str(state.get("request_id", "-")) if isinstance(state, dict) else "-"


def api_for(apis: Sequence[tuple[str, Renderer]], path: str) -> Renderer:
    """The renderer of the API whose mount `path` is under (`apis`: prefix -> renderer, e.g.
    `[("/rest/v1", render_postgrest)]`); `render_default` outside them."""
    for prefix, renderer in apis:
        if path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/"):
            return renderer
    return render_default


async def answer_error(
    scope: Scope, send: Send, error: Exception, *, started: bool, apis: Sequence[tuple[str, Renderer]], hooks: Hooks
) -> None:
    """Answer `error`, raised while handling `scope`, with `error_response` in the shape of the API called.

    Call it from the `except` block. An unexpected exception is logged with its traceback and fires
    `on_error` first. An exception raised after the response started cannot be answered any more: it
    is logged and re-raised, so the server aborts the connection and the client sees a truncated
    response rather than a wrong one.
    """
    if isinstance(error, ApiError):
        if started:
            logger.warning("error after the response started: %r", error)
            raise error
        await send_error(send, error, scope, api_for(apis, scope["path"]))
        return
    request_id = request_id_of(scope)
    logger.exception("unhandled error in %s %s", scope["method"], scope["path"], extra={"request_id": request_id})
    await _report(scope, error, request_id, hooks)
    if started:
        raise error
    await send_error(send, internal_error(request_id), scope, api_for(apis, scope["path"]))


async def _report(scope: Scope, error: Exception, request_id: str, hooks: Hooks) -> None:
    if not len(hooks.on_error):
        return
    event = ErrorEvent(error=error, request_id=request_id, method=scope["method"], path=scope["path"])
    try:
        await hooks.on_error.trigger(event)
    except Exception:  # a broken reporter must not turn a 500 into a dropped connection
        logger.exception("on_error handler failed", extra={"request_id": request_id})


class RenderErrors:
    """An API's ASGI app that answers its own `ApiError`s in `renderer`'s shape, for mounting it
    without the platform (which renders them itself, so app.py mounts the bare app).

    Other exceptions propagate, as under the platform's error step; an error raised after the
    response started is re-raised (the connection is aborted rather than answered twice).
    """

    def __init__(self, app: ASGIApp, renderer: Renderer) -> None:
        self.app = app
        self.renderer = renderer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except ApiError as error:
            if started or scope["type"] != "http":
                raise
            await send_error(send, error, scope, self.renderer)
