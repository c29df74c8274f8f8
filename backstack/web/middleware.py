"""Pure ASGI middleware shared by every API: request id, security headers, CORS, size and time limits.

Each class passes non-HTTP scopes (lifespan, websocket) straight through and does the least work it
can per request: one pass over the raw header list, no Request objects, no header dict copies. The
order they are stacked in is `app.py`'s business; limits raise `ApiError`s, which the
`web.errors.ErrorMiddleware` below CORS renders, so error responses carry CORS and request-id headers.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

from backstack.core.errors import BadRequest, HeadersTooLarge, PayloadTooLarge, RequestTimeout, UriTooLong
from backstack.core.events import RequestEvent

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from backstack.core.hooks import Hook

REQUEST_ID = b"x-request-id"
_MAX_REQUEST_ID = 200


class RequestIdMiddleware:
    """Keeps the client's `x-request-id` (or makes one), stores it in `scope["state"]["request_id"]`
    and echoes it on the response, so a client, the access log and an error body share one id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = _request_id(scope["headers"])
        request_id = raw.decode("latin-1")
        state = scope.get("state")
        if state is None:
            scope["state"] = {"request_id": request_id}
        else:
            state["request_id"] = request_id
        header = (REQUEST_ID, raw)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        await self.app(scope, receive, send_with_id)


def _request_id(headers: list[tuple[bytes, bytes]]) -> bytes:
    """The client's id when it is short printable ASCII (it is echoed and logged), else a new one."""
    for name, value in headers:
        if name == REQUEST_ID:
            if 0 < len(value) <= _MAX_REQUEST_ID and value.isascii() and value.decode("ascii").isprintable():
                return value
            break
    return os.urandom(16).hex().encode()


SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
)


class SecurityHeadersMiddleware:
    """Adds `SECURITY_HEADERS` to every response that does not set them itself."""

    def __init__(self, app: ASGIApp, headers: tuple[tuple[bytes, bytes], ...] = SECURITY_HEADERS) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in self.headers if h[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


# contract/README.md 1.4: what supabase-js sends and must be able to read.
CORS_ALLOW_METHODS = b"GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"
CORS_ALLOW_HEADERS = (
    b"authorization, apikey, content-type, x-client-info, accept-profile, content-profile, prefer, range, "
    b"range-unit, x-upsert, x-retry-count, x-supabase-api-version, cache-control, x-metadata, x-region, "
    b"traceparent, x-request-id"
)
CORS_EXPOSE_HEADERS = (
    b"Content-Range, Content-Location, Location, Preference-Applied, X-Total-Count, Link, "
    b"X-Supabase-Api-Version, x-sb-error-code, x-relay-error, Content-Disposition, ETag, Proxy-Status, "
    b"X-Request-Id"
)
CORS_MAX_AGE = b"7200"


class CORSMiddleware:
    """Any origin may call the APIs (keys, not cookies, carry identity), as Supabase allows.

    A preflight (OPTIONS with `Origin` and `Access-Control-Request-Method`) is answered here with
    200, before authentication: browsers never send keys on preflights. Every other response gets
    `Access-Control-Allow-Origin: *` and the headers clients need to read exposed, with or without
    `Origin`: a response that does not vary by origin can be cached by a CDN and served to browsers.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = preflight = requested = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"access-control-request-method":
                preflight = value
            elif name == b"access-control-request-headers":
                requested = value
        if origin is not None and preflight is not None and scope["method"] == "OPTIONS":
            await _preflight(send, requested)
        else:
            await self.app(scope, receive, _with_cors(send))


async def _preflight(send: Send, requested: bytes | None) -> None:
    # Echoing what the browser asks for allows custom headers too; the fixed list documents the minimum.
    allow = CORS_ALLOW_HEADERS + b", " + requested if requested else CORS_ALLOW_HEADERS
    headers = [
        (b"access-control-allow-origin", b"*"),
        (b"access-control-allow-methods", CORS_ALLOW_METHODS),
        (b"access-control-allow-headers", allow),
        (b"access-control-max-age", CORS_MAX_AGE),
        (b"allow", CORS_ALLOW_METHODS),
        (b"content-length", b"0"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


def _with_cors(send: Send) -> Send:
    async def send_with_cors(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [
                *message.get("headers", ()),
                (b"access-control-allow-origin", b"*"),
                (b"access-control-expose-headers", CORS_EXPOSE_HEADERS),
            ]
        await send(message)

    return send_with_cors


class LimitsMiddleware:
    """Refuses requests too big to be honest and bodies that arrive too slowly.

    URL (414) and header (431) sizes are checked up front; the body limit (413) is checked against
    `Content-Length` up front and against the bytes actually received, so chunked bodies cannot
    sneak past it. While a body is incomplete each `receive()` waits at most `body_read_timeout`
    seconds (408), so a client that trickles its body cannot hold a worker forever.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_url_bytes: int,
        max_header_bytes: int,
        max_body_bytes: int,
        body_read_timeout: float,
    ) -> None:
        self.app = app
        self.max_url_bytes = max_url_bytes
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self.body_read_timeout = body_read_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self._check_url(scope)
        declared = self._check_headers(scope["headers"])
        if declared is not None and declared > self.max_body_bytes:
            raise self._too_large()
        await self.app(scope, self._limited(receive), send)

    def _check_url(self, scope: Scope) -> None:
        path = scope.get("raw_path") or scope["path"].encode()
        size = len(path) + len(scope.get("query_string", b"")) + 1
        if size > self.max_url_bytes:
            raise UriTooLong(
                "BS414",
                f"The request URL is {size} bytes long, more than the {self.max_url_bytes} allowed",
                hint="Move long filters into the body (e.g. an RPC call) or raise max_url_bytes.",
            )

    def _check_headers(self, headers: list[tuple[bytes, bytes]]) -> int | None:
        """Check the headers' total size; return the declared Content-Length, if any."""
        size = 0
        declared: bytes | None = None
        for name, value in headers:
            size += len(name) + len(value) + 4  # ": " and CRLF
            if name == b"content-length":
                declared = value
        if size > self.max_header_bytes:
            raise HeadersTooLarge(
                "BS431",
                f"The request headers are {size} bytes, more than the {self.max_header_bytes} allowed",
                hint="Send fewer or smaller headers (large cookies or tokens), or raise max_header_bytes.",
            )
        if declared is None:
            return None
        try:
            return int(declared)
        except ValueError:
            raise BadRequest("BS400", "Invalid Content-Length header") from None

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            "BS413",
            f"The request body is larger than the {self.max_body_bytes} bytes allowed",
            hint="Send the data in smaller requests, or raise max_body_bytes.",
        )

    def _limited(self, receive: Receive) -> Receive:
        received = 0
        complete = False

        async def receive_limited() -> Message:
            nonlocal received, complete
            if complete:  # after the body: waiting for a disconnect may take as long as it takes
                return await receive()
            try:
                async with asyncio.timeout(self.body_read_timeout):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(
                    "BS408",
                    f"The request body stalled for more than {self.body_read_timeout:g} seconds",
                    hint="Send the body without pauses, or raise body_read_timeout.",
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise self._too_large()
                complete = not message.get("more_body", False)
            else:
                complete = True
            return message

        return receive_limited


class RequestHookMiddleware:
    """Runs the `on_request` hook around the app; with no handlers bound it costs one length check."""

    def __init__(self, app: ASGIApp, hook: Hook[RequestEvent]) -> None:
        self.app = app
        self.hook = hook

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not len(self.hook):
            await self.app(scope, receive, send)
            return
        await self.hook.trigger(RequestEvent(scope, receive, send), self._route)

    async def _route(self, event: RequestEvent) -> None:
        await self.app(event.scope, event.receive, event.send)
