"""The one place that turns an exception into an HTTP error response, in the shape of the API called.

Which shape is decided by the path: `answer_error` (called by `web.platform.PlatformMiddleware`) is
given the API of each mount (`/rest/v1` -> "postgrest"); anything else gets the same four keys
without PostgREST's `Proxy-Status`. Auth and storage shapes plug in by adding a renderer to
`RENDERERS` and a prefix to the app's mount table.

- `ApiError` -> its status, `{"code","message","details","hint"}` (all four keys, null when absent),
  its headers, and for PostgREST `Proxy-Status: PostgREST; error=<code>` (so HEAD errors carry a code).
- `GatewayError` -> `{"message": ...}`: the API gateway's own answers (missing or unknown apikey),
  the same for every API, as Supabase's gateway sends them.
- any other exception -> 500 with the request id and no internals; the traceback is logged and the
  `on_error` hook fires so reporters (Sentry) see it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from backstack.core import json
from backstack.core.errors import ApiError, Unauthorized
from backstack.core.events import ErrorEvent

if TYPE_CHECKING:
    from starlette.types import Scope, Send

    from backstack.core.hookspecs import Hooks

logger = logging.getLogger("backstack.errors")

Headers = list[tuple[bytes, bytes]]
Renderer = Callable[[ApiError], tuple[bytes, Headers]]

JSON_CONTENT_TYPE = (b"content-type", b"application/json; charset=utf-8")


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


def _four_keys(error: ApiError) -> bytes:
    return json.dumps({"code": error.code, "message": error.message, "details": error.details, "hint": error.hint})


def render_postgrest(error: ApiError) -> tuple[bytes, Headers]:
    """PostgREST's error body plus `Proxy-Status`, which postgrest-py reads when the body is empty (HEAD)."""
    return _four_keys(error), [(b"proxy-status", f"PostgREST; error={error.code}".encode("latin-1"))]


def render_default(error: ApiError) -> tuple[bytes, Headers]:
    """The same four keys for the platform's own endpoints (/health, unknown paths, limits)."""
    return _four_keys(error), []


RENDERERS: dict[str, Renderer] = {"postgrest": render_postgrest, "default": render_default}


def error_response(error: ApiError, api: str = "default") -> tuple[int, Headers, bytes]:
    """Status, headers and body for `error` in the wire shape of `api`."""
    headers: Headers = []
    if isinstance(error, GatewayError):
        body = json.dumps({"message": error.message})
    else:
        body, headers = RENDERERS.get(api, render_default)(error)
    headers = [JSON_CONTENT_TYPE, (b"content-length", str(len(body)).encode()), *headers]
    headers.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in error.headers.items())
    return error.status, headers, body


async def send_error(send: Send, error: ApiError, api: str = "default") -> None:
    """Send `error` as a complete response."""
    status, headers, body = error_response(error, api)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def request_id_of(scope: Scope) -> str:
    """The request id `PlatformMiddleware` stored in the scope ("-" outside it)."""
    state = scope.get("state")
    return str(state.get("request_id", "-")) if isinstance(state, dict) else "-"


def api_for(apis: Sequence[tuple[str, str]], path: str) -> str:
    """The API whose mount `path` is under (`apis`: prefix -> API name, e.g. `[("/rest/v1", "postgrest")]`)."""
    for prefix, api in apis:
        if path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/"):
            return api
    return "default"


async def answer_error(
    scope: Scope, send: Send, error: Exception, *, started: bool, apis: Sequence[tuple[str, str]], hooks: Hooks
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
        await send_error(send, error, api_for(apis, scope["path"]))
        return
    request_id = request_id_of(scope)
    logger.exception("unhandled error in %s %s", scope["method"], scope["path"], extra={"request_id": request_id})
    await _report(scope, error, request_id, hooks)
    if started:
        raise error
    await send_error(send, internal_error(request_id), api_for(apis, scope["path"]))


async def _report(scope: Scope, error: Exception, request_id: str, hooks: Hooks) -> None:
    if not len(hooks.on_error):
        return
    event = ErrorEvent(error=error, request_id=request_id, method=scope["method"], path=scope["path"])
    try:
        await hooks.on_error.trigger(event)
    except Exception:  # a broken reporter must not turn a 500 into a dropped connection
        logger.exception("on_error handler failed", extra={"request_id": request_id})
