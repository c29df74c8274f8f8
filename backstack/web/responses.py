"""Sending bytes that are already JSON (built by the database or by orjson), without a Response object.

The data path never decodes and re-encodes JSON in Python; these helpers put ready bytes on the wire
with the right headers, and build `Content-Range` values as PostgREST writes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from backstack.core import json

if TYPE_CHECKING:
    from starlette.types import Send

JSON_TYPE = b"application/json; charset=utf-8"
RawHeaders = Iterable[tuple[bytes, bytes]]


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
    raw = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def send_json(send: Send, status: int, value: object, *, headers: RawHeaders = ()) -> None:
    """Encode `value` once with orjson and send it."""
    await send_bytes(send, status, json.dumps(value), headers=headers)


def content_range(offset: int, count: int, total: int | None) -> str:
    """PostgREST's `Content-Range`: `0-24/100`, `*/100` when nothing was returned, `/*` for an unknown total."""
    span = f"{offset}-{offset + count - 1}" if count else "*"
    return f"{span}/{'*' if total is None else total}"
