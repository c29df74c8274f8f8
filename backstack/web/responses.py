"""The one response writer: ready bytes on the wire, without a Response object.

`send_response` is what every API's answers and errors go through (the platform's error renderer,
the auth API, /health, /metrics, the landing page): the start message with the headers as given,
then the body in one message. `send_bytes` and `send_json` add `Content-Type` and `Content-Length`
first. The data path never decodes and re-encodes JSON in Python (the database or orjson built it);
`content_range` builds `Content-Range` values as PostgREST writes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from backstack.core import json

if TYPE_CHECKING:
    from starlette.types import Send

JSON_TYPE = b"application/json; charset=utf-8"
RawHeaders = Iterable[tuple[bytes, bytes]]
HeaderList = list[tuple[bytes, bytes]]


async def send_response(send: Send, status: int, headers: HeaderList, body: bytes) -> None:
    """Send a complete response: `headers` go out as given (in order, `Content-Length` included by the caller)."""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def content_length(body: bytes) -> tuple[bytes, bytes]:
    """The `Content-Length` header of `body`."""
    return (b"content-length", str(len(body)).encode())


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    *,
    content_type: bytes = JSON_TYPE,
    headers: RawHeaders = (),
    head: bool = False,
) -> None:
    """Send a complete response; with `head` the body is left out but Content-Length still describes it."""
    await send_response(
        send, status, [(b"content-type", content_type), content_length(body), *headers], b"" if head else body
    )


async def send_json(send: Send, status: int, value: object, *, headers: RawHeaders = ()) -> None:
    """Encode `value` once with orjson and send it."""
    await send_bytes(send, status, json.dumps(value), headers=headers)


def content_range(offset: int, count: int, total: int | None) -> str:
    """PostgREST's `Content-Range`: `0-24/100`, `*/100` when nothing was returned, `/*` for an unknown total."""
    span = f"{offset}-{offset + count - 1}" if count else "*"
    return f"{span}/{'*' if total is None else total}"
