"""ConnectionPool: the few things backstack needs of a pool of PostgreSQL connections, and nothing else.

Why not `asyncpg.Pool`: profiled under load (c=32, one `SELECT` by primary key per request), its
acquire and release cost ~95 µs of CPU per request (a proxy object per checkout, a holder queue, a
reset hook awaited on every release, `asyncio.wait_for` around each), against ~55 µs for the query
itself; a third of the request's database time. This pool lends the connections themselves: an
idle list (last in, first out: the warmest connection is reused and the others may idle out), a
FIFO of waiters, and a bounded wait.

What it does not do is the engine's job (`engine.py`): rolling back a connection left in a
transaction before releasing it, and knowing which session state is in force on it
(`session.py`). The pool only drops connections that are closed or belong to an expired generation.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar


class PooledConnection(Protocol):
    """What the pool calls on a connection (asyncpg.Connection has it)."""

    def is_closed(self) -> bool: ...

    def terminate(self) -> None: ...


C = TypeVar("C", bound=PooledConnection)


class PoolClosed(Exception):
    """The pool was closed (the server is shutting down)."""


class ConnectionPool(Generic[C]):
    """Up to `max_size` connections made by `connect`; `acquire` waits at most `timeout` seconds.

    A connection is either idle (in `_idle`), lent (`_lent`), or being opened (counted in `_opening`,
    which also counts a free slot handed to a waiter that then opens its own connection).
    """

    def __init__(self, connect: Callable[[], Awaitable[C]], *, max_size: int, timeout: float) -> None:
        self._connect = connect
        self.max_size = max(1, max_size)
        self.timeout = timeout
        self._idle: list[C] = []
        self._lent: dict[C, int] = {}  # connection -> generation it was opened in
        self._born: dict[C, int] = {}  # the same, for idle connections
        self._opening = 0
        self._waiters: collections.deque[asyncio.Future[C | None]] = collections.deque()
        self._generation = 0
        self._closed = False
        self._all_returned: asyncio.Event | None = None

    @property
    def size(self) -> int:
        return len(self._idle) + len(self._lent) + self._opening

    @property
    def idle(self) -> int:
        return len(self._idle)

    async def fill(self, count: int) -> None:
        """Open connections until `count` exist (the configured minimum), all idle."""
        opened = [await self.acquire() for _ in range(max(0, min(count, self.max_size) - self.size))]
        for conn in opened:
            self.release(conn)

    async def acquire(self) -> C:
        """An idle connection, a new one while under `max_size`, else the next one released.

        Raises TimeoutError after `timeout` seconds of waiting, PoolClosed once closed, and whatever
        `connect` raises."""
        if self._closed:
            raise PoolClosed
        while self._idle:
            conn = self._idle.pop()
            generation = self._born.pop(conn)
            if conn.is_closed():
                continue
            self._lent[conn] = generation
            return conn
        if self.size < self.max_size:
            self._opening += 1
            return await self._open()
        handed = await self._wait()
        return handed if handed is not None else await self._open()

    async def _wait(self) -> C | None:
        """Queue for the next released connection (None: a slot was freed, open one in it)."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[C | None] = loop.create_future()
        self._waiters.append(waiter)
        timer = loop.call_later(self.timeout, _time_out, waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                handed = waiter.result()  # handed over just as we were cancelled: pass it on
                if handed is None:
                    self._opening -= 1
                    self._hand(None)
                else:
                    self.release(handed)
            raise
        finally:
            timer.cancel()

    async def _open(self) -> C:
        """Open a connection in a slot already counted in `_opening`."""
        try:
            conn = await asyncio.wait_for(self._connect(), self.timeout)
        except BaseException:
            self._opening -= 1
            self._hand(None)
            raise
        self._opening -= 1
        if self._closed:
            conn.terminate()
            raise PoolClosed
        self._lent[conn] = self._generation
        return conn

    def release(self, conn: C) -> None:
        """Take back a lent connection; one closed, or opened before `expire`, is dropped."""
        generation = self._lent.pop(conn, None)
        if generation is None:
            return  # not lent by this pool (released twice, or after `close`)
        if self._closed or generation != self._generation or conn.is_closed():
            conn.terminate()
            self._hand(None)
        else:
            self._hand(conn, generation)
        if not self._lent and self._all_returned is not None:
            self._all_returned.set()

    def _hand(self, conn: C | None, generation: int = 0) -> None:
        """Give `conn` (or a free slot, None) to the first live waiter, else keep it idle."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if waiter.done():
                continue  # timed out or cancelled
            if conn is None:
                self._opening += 1  # the slot is the waiter's until it has opened its connection
            else:
                self._lent[conn] = generation
            waiter.set_result(conn)
            return
        if conn is not None:
            self._idle.append(conn)
            self._born[conn] = generation

    def expire(self) -> None:
        """Drop every connection opened so far: idle ones now, lent ones when released (after a
        server restart, all of them are dead even when the client does not know it yet)."""
        self._generation += 1
        idle, self._idle = self._idle, []
        self._born.clear()
        for conn in idle:
            conn.terminate()

    async def close(self, timeout: float) -> bool:
        """Refuse new acquires, wait up to `timeout` s for lent connections, terminate the rest.

        True when every connection came back in time."""
        self._closed = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(PoolClosed())
        self.expire()
        if self._lent:
            self._all_returned = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_returned.wait(), timeout)
        returned = not self._lent
        self.terminate()
        return returned

    def terminate(self) -> None:
        """Close every connection at once, lent ones included."""
        self._closed = True
        self.expire()
        lent, self._lent = self._lent, {}
        for conn in lent:
            conn.terminate()


def _time_out(waiter: asyncio.Future[C | None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())
