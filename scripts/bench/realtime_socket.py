"""One subscriber socket of realtime_bench.py, driven from the transport's callbacks.

The websockets library's sans-I/O protocol does the handshake, the framing and the control frames, but
frames are handled right in `data_received`: no task wake-up and no message queue per frame (the
library's asyncio client spends ~15 µs of CPU per frame; this ~5). All N clients share one process and
the server's cores, so what the client saves, the measured latency does not carry.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, cast

from websockets.client import ClientProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

OnFrame = Callable[[bytes], None]


class Subscriber(asyncio.Protocol):
    """Connect, join with postgres_changes (or not), then hand every text frame's bytes to `on_frame`."""

    def __init__(self, url: str, on_frame: OnFrame) -> None:
        self.ws = ClientProtocol(parse_uri(url), max_size=None)  # no extension offered: no compression
        self.on_frame = on_frame
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.joined: asyncio.Future[str | None] | None = None  # made by `join`: only awaited futures fail
        self.joining: str | None = None  # the table whose "Subscribed to PostgreSQL" is awaited ("" for none)
        self.close_code: int | None = None
        self.subscribed = False  # set by the caller once the join succeeded
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)  # uvloop's transports do not subclass asyncio's
        self.ws.send_request(self.ws.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        self.ws.receive_data(data)
        for event in self.ws.events_received():
            if isinstance(event, Response):
                self._opened()
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                if self.joined is not None and self.joined.done():
                    self.on_frame(event.data)
                elif self.joined is not None:
                    self._join_frame(self.joined, event.data)
            elif isinstance(event, Frame) and event.opcode is Opcode.CLOSE:
                self.close_code = Close.parse(event.data).code if event.data else 1005  # 1005: no status
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        for future in (self.opened, self.joined):
            if future is not None and not future.done():
                future.set_exception(ConnectionError(f"connection lost: {exc or 'closed'}"))

    def send(self, message: dict[str, Any]) -> None:
        if self.ws.state is State.OPEN and not self.lost:
            self.ws.send_text(json.dumps(message).encode())
            self._flush()

    def join(self, topic: str, table: str | None, token: str) -> asyncio.Future[str | None]:
        """Join with one INSERT binding on `table` (none when None); the future gives None once
        subscribed ("Subscribed to PostgreSQL", or the join's reply with no binding), else why not."""
        bindings = [{"event": "INSERT", "schema": "public", "table": table}] if table else []
        config = {
            "broadcast": {"ack": False, "self": False},
            "presence": {"key": "", "enabled": False},
            "private": False,
            "postgres_changes": bindings,
        }
        self.joining = table or ""
        self.joined = asyncio.get_running_loop().create_future()
        payload = {"config": config, "access_token": token}
        self.send({"topic": topic, "event": "phx_join", "payload": payload, "ref": "1", "join_ref": "1"})
        return self.joined

    def close(self) -> None:
        if self.ws.state is State.OPEN and not self.lost:
            self.ws.send_close(1000)
            self._flush()
        if self.transport is not None:
            self.transport.close()

    def _opened(self) -> None:
        if self.ws.state is State.OPEN:
            self.opened.set_result(None)
        else:
            self.opened.set_exception(ConnectionError(f"handshake refused: {self.ws.handshake_exc}"))

    def _join_frame(self, joined: asyncio.Future[str | None], data: bytes) -> None:
        """The frames before the subscription is confirmed are few: read them as JSON."""
        message = json.loads(data)
        payload = message.get("payload") or {}
        event = message.get("event")
        if event == "phx_reply" and message.get("ref") == "1":
            if payload.get("status") != "ok":
                joined.set_result(f"join refused: {payload.get('response')}")
            elif self.joining == "":
                joined.set_result(None)
        elif event == "system" and payload.get("extension") == "postgres_changes":
            ok = payload.get("status") == "ok"
            joined.set_result(None if ok else f"system {payload.get('status')}: {payload.get('message')}")

    def _flush(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            for chunk in self.ws.data_to_send():
                if chunk:
                    self.transport.write(chunk)
                else:
                    self.transport.write_eof()
