"""`PlatformMiddleware`: everything the platform does around every HTTP request, in one ASGI layer.

In order, outermost first (what used to be seven stacked middleware, merged so that a request reads
its headers once and each response message passes one `send` wrapper instead of seven):

1. request id: the client's `x-request-id` (or a new one) in `scope["state"]["request_id"]`, echoed
   on the response (web/headers.py);
2. observation: status, bytes and duration of every response, errors included, go to `record`
   (app.py binds the metrics and the access log, observe/recorder.py);
3. CORS: a preflight is answered here (before limits, errors and authentication: browsers send no
   keys on preflights); every other response, errors included, gets the CORS headers;
4. security headers on every response but preflights;
5. errors: an exception from below becomes the wire shape of the API called (web/errors.py);
6. limits: 414 / 431 / 400 / 413 up front, 413 / 408 while the body is received (web/limits.py);
7. the `on_request` hook around the app (free when nothing is bound).

Non-HTTP scopes (lifespan, websocket) go straight to the app.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from backstack.core.events import RequestEvent
from backstack.core.hookspecs import Hooks
from backstack.web.errors import answer_error
from backstack.web.headers import REQUEST_ID, preflight_headers, request_id, response_headers

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from backstack.web.errors import Renderer
    from backstack.web.limits import Limits

# What observation records once a request has finished: scope, status, bytes sent, seconds.
Record = Callable[["Scope", int, int, float], None]
_HTTP1 = frozenset({"1.0", "1.1"})


def _unrecorded(scope: Scope, status: int, size: int, seconds: float) -> None:
    """The default `record`: nothing is observed."""


class PlatformMiddleware:
    """Request id, observation, CORS, security headers, error rendering, limits and `on_request` (pure ASGI).

    `apis` maps path prefixes to the error renderer of the API mounted there (web/errors.py `api_for`).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limits: Limits,
        apis: Sequence[tuple[str, Renderer]] = (),
        hooks: Hooks | None = None,
        record: Record = _unrecorded,
    ) -> None:
        self.app = app
        self.limits = limits
        self.apis = tuple(apis)
        self.hooks = hooks or Hooks()
        self.record = record

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # One function over 50 lines on purpose: it runs for every request, and each layer it replaced
        # (seven middlewares, one call and one `send` wrapper each) cost CPU per request (40.7 -> 35.2 us).
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        # One pass over the request headers for every layer: the first x-request-id, the CORS request
        # headers, the body's framing and the headers' total size.
        client_id = origin = preflight = requested = content_length = None
        chunked = False
        header_bytes = 0
        for name, value in scope["headers"]:
            header_bytes += len(name) + len(value) + 4  # ": " and CRLF
            if name == REQUEST_ID:
                if client_id is None:
                    client_id = value
            elif name == b"content-length":
                content_length = value
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"origin":
                origin = value
            elif name == b"access-control-request-method":
                preflight = value
            elif name == b"access-control-request-headers":
                requested = value
        raw_id = request_id(client_id)
        state = scope.get("state")
        if state is None:
            scope["state"] = {"request_id": raw_id.decode("latin-1")}
        else:
            state["request_id"] = raw_id.decode("latin-1")
        id_header = (REQUEST_ID, raw_id)
        is_preflight = origin is not None and preflight is not None and scope["method"] == "OPTIONS"
        status = 500  # what the server answers when the app below raises
        size = length = 0
        started = False

        async def send_platform(message: Message) -> None:
            nonlocal status, size, length, started
            started = True
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                headers = message.get("headers", ())
                length = next((int(v) for k, v in headers if k == b"content-length"), 0)
                if is_preflight:
                    message["headers"] = [*headers, id_header]
                else:
                    message["headers"] = response_headers(headers, id_header)
            elif kind == "http.response.body":
                size += len(message.get("body", b""))
            elif kind == "http.response.pathsend":  # a file the server sends itself (granian)
                size += length
            await send(message)

        try:
            if is_preflight:
                await send_platform(
                    {"type": "http.response.start", "status": 200, "headers": preflight_headers(requested)}
                )
                await send_platform({"type": "http.response.body", "body": b""})
                return
            try:
                declared = self.limits.check(scope, header_bytes, content_length)
                # Only a body is counted and timed: on HTTP/1, no Transfer-Encoding and no (or a zero)
                # Content-Length means there is none; HTTP/2 may send one without either.
                if declared or chunked or scope.get("http_version") not in _HTTP1:
                    receive = self.limits.receive(receive)
                if len(self.hooks.on_request):
                    await self.hooks.on_request.trigger(RequestEvent(scope, receive, send_platform), self._route)
                else:
                    await self.app(scope, receive, send_platform)
            except Exception as error:
                await answer_error(scope, send_platform, error, started=started, apis=self.apis, hooks=self.hooks)
        finally:
            self.record(scope, status, size, time.perf_counter() - start)

    async def _route(self, event: RequestEvent) -> None:
        await self.app(event.scope, event.receive, event.send)
