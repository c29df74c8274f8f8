"""A minimal pipelining PostgreSQL client (v3 wire protocol), for the floor experiment only.

Why it exists: asyncpg runs one statement per connection at a time, so every request is one round trip
on a pooled connection and the backend sleeps and wakes between statements. Here many requests share a
connection: each appends Bind+Execute+Sync to a write buffer that is flushed once per event-loop tick, and
the backend answers in order, so results are matched FIFO to the waiting futures. Trust auth only, one
statement prepared at connect, text-format results, no TLS, no COPY, no notices kept: not product code.
"""

from __future__ import annotations

import asyncio
import itertools
import struct
from collections import deque
from typing import cast

_SYNC = b"S\x00\x00\x00\x04"
_EXECUTE_SYNC = b"E\x00\x00\x00\x09\x00\x00\x00\x00\x00" + _SYNC  # unnamed portal, all rows; then Sync
_INT32 = struct.Struct("!i")
_INT16 = struct.Struct("!h")

Row = list[bytes | None]


class PostgresError(Exception):
    """An ErrorResponse, with its SQLSTATE."""

    def __init__(self, sqlstate: str, message: str) -> None:
        super().__init__(f"{sqlstate}: {message}")
        self.sqlstate = sqlstate


class PipelinedConnection(asyncio.Protocol):
    """One connection; every Sync-terminated unit sent has one future in `_waiting`, resolved at its ReadyForQuery."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._in = bytearray()
        self._waiting: deque[asyncio.Future[list[Row]]] = deque()
        self._rows: list[Row] = []
        self._error: PostgresError | None = None
        self._statement = b""
        self._bind_head = b""

    @property
    def pending(self) -> int:
        return len(self._waiting)

    async def start(self, user: str, database: str, application_name: str, statement: str, sql: str) -> None:
        """Startup (trust auth), then Parse the one named statement; both awaited before any request."""
        params = b"".join(
            k.encode() + b"\x00" + v.encode() + b"\x00"
            for k, v in (("user", user), ("database", database), ("application_name", application_name))
        )
        body = _INT32.pack(196608) + params + b"\x00"
        await self._unit(_INT32.pack(len(body) + 4) + body)
        self._statement = statement.encode()
        parse = self._statement + b"\x00" + sql.encode() + b"\x00" + _INT16.pack(0)
        await self._unit(b"P" + _INT32.pack(len(parse) + 4) + parse + _SYNC)
        # Bind's fixed part: unnamed portal, our statement, no parameter format codes (text), 1 parameter.
        self._bind_head = b"\x00" + self._statement + b"\x00" + _INT16.pack(0) + _INT16.pack(1)

    def query(self, param: bytes) -> asyncio.Future[list[Row]]:
        """Queue Bind(param)+Execute+Sync; the future gets the rows (each a list of column bytes or None)."""
        bind_len = 4 + len(self._bind_head) + 4 + len(param) + 2
        self._send(b"B" + _INT32.pack(bind_len) + self._bind_head + _INT32.pack(len(param)) + param + b"\x00\x00")
        self._send(_EXECUTE_SYNC)
        future: asyncio.Future[list[Row]] = self._loop.create_future()
        self._waiting.append(future)
        return future

    def _unit(self, message: bytes) -> asyncio.Future[list[Row]]:
        self._send(message)
        future: asyncio.Future[list[Row]] = self._loop.create_future()
        self._waiting.append(future)
        return future

    def _send(self, data: bytes) -> None:
        self._out.append(data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._transport is not None and self._out:
            self._transport.write(b"".join(self._out))
        self._out.clear()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # cast, not isinstance: uvloop's TCPTransport is no asyncio.Transport subclass
        self._transport = cast("asyncio.Transport", transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_exception(ConnectionError(f"PostgreSQL connection lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        buf = self._in
        buf += data
        pos, size = 0, len(buf)
        while size - pos >= 5:
            end = pos + 1 + _INT32.unpack_from(buf, pos + 1)[0]
            if end > size:
                break
            kind = buf[pos]
            if kind == 0x44:  # DataRow
                self._rows.append(_data_row(buf, pos + 5))
            elif kind == 0x5A:  # ReadyForQuery: the head unit is complete
                self._complete()
            elif kind == 0x45:  # ErrorResponse
                self._error = _error(bytes(buf[pos + 5 : end]))
            elif kind == 0x52 and _INT32.unpack_from(buf, pos + 5)[0] != 0:  # Authentication other than Ok
                self._error = PostgresError("28000", "only trust authentication is supported")
            pos = end  # the rest (ParseComplete, BindComplete, CommandComplete, ParameterStatus...) is skipped
        del buf[:pos]

    def _complete(self) -> None:
        future = self._waiting.popleft()
        rows, error = self._rows, self._error
        self._rows, self._error = [], None
        if future.done():  # the request was cancelled; its answer is dropped
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(rows)


def _data_row(buf: bytearray, pos: int) -> Row:
    count = _INT16.unpack_from(buf, pos)[0]
    pos += 2
    row: Row = []
    for _ in range(count):
        length = _INT32.unpack_from(buf, pos)[0]
        pos += 4
        if length < 0:
            row.append(None)
        else:
            row.append(bytes(buf[pos : pos + length]))
            pos += length
    return row


def _error(body: bytes) -> PostgresError:
    fields = {part[:1]: part[1:].decode(errors="replace") for part in body.split(b"\x00") if part}
    return PostgresError(fields.get(b"C", "XX000"), fields.get(b"M", "unknown error"))


class PipelinePool:
    """N pipelined connections, used round-robin: requests spread evenly, each connection batches its share."""

    def __init__(self, connections: list[PipelinedConnection]) -> None:
        self._connections = connections
        self._next = itertools.cycle(connections)

    @classmethod
    async def open(cls, count: int, host: str, port: int, user: str, database: str, sql: str) -> PipelinePool:
        loop = asyncio.get_running_loop()
        connections = []
        for _ in range(count):
            _, protocol = await loop.create_connection(PipelinedConnection, host, port)
            await protocol.start(user, database, "floor-pipeline", "w2", sql)
            connections.append(protocol)
        return cls(connections)

    def query(self, param: bytes) -> asyncio.Future[list[Row]]:
        return next(self._next).query(param)
