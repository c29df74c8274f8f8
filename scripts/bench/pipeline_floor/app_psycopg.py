"""Variant C: psycopg 3 pipeline mode, FLOOR_CONNS connections per worker, requests batched per connection.

psycopg serialises a connection's users behind one lock, so concurrent requests cannot stream into a
shared pipeline; instead each connection runs batches: the requests queued while the previous batch was in
flight are sent in one `conn.pipeline()` block (one Sync at its end) and answered together. An error in
a batch aborts the rest of that batch (one Sync per batch): acceptable for the floor, not for a product.
psycopg is not a backstack dependency; install it beside the venv to run this (see README.md).

Run: FLOOR_CONNS=2 granian --interface asgi --loop uvloop --workers 2 app_psycopg:app (from this directory).
"""

from __future__ import annotations

import asyncio

import psycopg
from floor_common import CONNS, DSN, W2_SQL, make_app

W2_PSYCOPG = W2_SQL.replace("$1", "%s")


class _Batcher:
    """One connection and the requests waiting for it; at most one batch in flight."""

    def __init__(self, conn: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        self._conn = conn
        self._queue: list[tuple[str, asyncio.Future[bytes]]] = []
        self._running = False

    def read(self, uuid: str) -> asyncio.Future[bytes]:
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._queue.append((uuid, future))
        if not self._running:
            self._running = True
            asyncio.get_running_loop().create_task(self._run())
        return future

    async def _run(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                await self._send(batch)
        finally:
            self._running = False

    async def _send(self, batch: list[tuple[str, asyncio.Future[bytes]]]) -> None:
        try:
            async with self._conn.pipeline():
                cursors = [await self._conn.execute(W2_PSYCOPG, (uuid,), prepare=True) for uuid, _ in batch]
            rows = [await cursor.fetchone() for cursor in cursors]
        except psycopg.Error as error:
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for (_, future), row in zip(batch, rows, strict=True):
            if not future.done():
                future.set_result(str(row[0]).encode() if row else b"[]")


_batchers: list[_Batcher] = []
_turn = 0


async def _startup() -> None:
    for _ in range(CONNS):
        conn = await psycopg.AsyncConnection.connect(DSN, autocommit=True, application_name="floor-psycopg")
        _batchers.append(_Batcher(conn))


async def _read(uuid: str) -> bytes:
    global _turn
    _turn = (_turn + 1) % len(_batchers)
    return await _batchers[_turn].read(uuid)


app = make_app(_read, _startup)
