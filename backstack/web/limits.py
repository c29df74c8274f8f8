"""Refusing requests too big to be honest and bodies that arrive too slowly (414, 431, 413, 408, 400).

URL (414) and header (431) sizes are checked up front; the body limit (413) is checked against
`Content-Length` up front and against the bytes actually received, so chunked bodies cannot sneak
past it. While a body is incomplete each `receive()` waits at most `body_read_timeout` seconds
(408), so a client that trickles its body cannot hold a worker forever. The checks raise
`ApiError`s, which `web.platform.PlatformMiddleware` renders in the shape of the API called.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from backstack.core.errors import BadRequest, HeadersTooLarge, PayloadTooLarge, RequestTimeout, UriTooLong

if TYPE_CHECKING:
    from starlette.types import Message, Receive, Scope

    from backstack.config import Settings


@dataclass(frozen=True, slots=True)
class Limits:
    max_url_bytes: int
    max_header_bytes: int
    max_body_bytes: int
    body_read_timeout: float

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            settings.max_url_bytes, settings.max_header_bytes, settings.max_body_bytes, settings.body_read_timeout
        )

    def check(self, scope: Scope, header_bytes: int, content_length: bytes | None) -> int | None:
        """Refuse the URL (414), the headers (431 for `header_bytes`, 400 for a bad Content-Length) or
        the declared body (413), in that order; return the declared Content-Length, if any."""
        path = scope.get("raw_path") or scope["path"].encode()
        size = len(path) + len(scope.get("query_string", b"")) + 1
        if size > self.max_url_bytes:
            raise UriTooLong(
                "BS414",
                f"The request URL is {size} bytes long, more than the {self.max_url_bytes} allowed",
                hint="Move long filters into the body (e.g. an RPC call) or raise max_url_bytes.",
            )
        if header_bytes > self.max_header_bytes:
            raise HeadersTooLarge(
                "BS431",
                f"The request headers are {header_bytes} bytes, more than the {self.max_header_bytes} allowed",
                hint="Send fewer or smaller headers (large cookies or tokens), or raise max_header_bytes.",
            )
        if content_length is None:
            return None
        try:
            declared = int(content_length)
        except ValueError:
            raise BadRequest("BS400", "Invalid Content-Length header") from None
        if declared > self.max_body_bytes:
            raise self._too_large()
        return declared

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            "BS413",
            f"The request body is larger than the {self.max_body_bytes} bytes allowed",
            hint="Send the data in smaller requests, or raise max_body_bytes.",
        )

    def receive(self, receive: Receive) -> Receive:
        """`receive` counting the body's bytes (413) and timing each wait for them (408)."""
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
