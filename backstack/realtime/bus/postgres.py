"""PostgreSQL LISTEN/NOTIFY on a dedicated connection: the nodes sharing a database hear each other.

The bus holds one connection outside the engine's pool (a pooled connection is reset between
borrowers, which would drop the LISTEN), listens on `backstack_realtime` and sends with `pg_notify`
on the same connection. A NOTIFY payload must be shorter than 8000 bytes: a message above
`NOTIFY_BYTES` is written to the unlogged table `_backstack.realtime_messages` and the notification
carries only `@<id>`, which every listener reads back (in order: notifications are handled one after
the other). Those rows are deleted after `SPILL_SECONDS`, long enough for any live listener. The
connection is checked every `KEEPALIVE_SECONDS`; a lost one is reopened, and what was published in
between is missed by this node (NOTIFY reaches the sessions listening when it commits).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg

from backstack.realtime.bus.base import Deliver, Outbox, Throttled, cancel, wait_ready

CHANNEL = "backstack_realtime"
NOTIFY_BYTES = 7900  # below PostgreSQL's 8000-byte payload limit, with room to spare
SPILL_SECONDS = 60
KEEPALIVE_SECONDS = 15.0
RETRY_SECONDS = 1.0
STATEMENT_SECONDS = 5.0
CREATE_SPILL = """
create schema if not exists _backstack;
create unlogged table if not exists _backstack.realtime_messages (
    id bigserial primary key, body text not null, created_at timestamptz not null default now()
)"""
SPILL = "insert into _backstack.realtime_messages (body) values ($1) returning id"
READ_SPILLED = "select body from _backstack.realtime_messages where id = $1"
FORGET_SPILLED = "delete from _backstack.realtime_messages where created_at < now() - make_interval(secs => $1)"


class PostgresBus:
    description = f"PostgreSQL channel {CHANNEL}"

    def __init__(self, dsn: str, connect_timeout: float = 5.0) -> None:
        self._dsn, self._connect_timeout = dsn, connect_timeout
        self._warnings = Throttled()
        self._outbox = Outbox(self._send, self._warnings)
        self._inbox: asyncio.Queue[str] = asyncio.Queue()
        self._conn: Any = None
        self._lock = asyncio.Lock()  # one statement at a time on the connection
        self._lost = asyncio.Event()  # set: the connection is to be reopened
        self._ready = asyncio.Event()
        self._spill_ready = False
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, deliver: Deliver) -> None:
        self._tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._read(deliver))]
        self._outbox.start()
        await wait_ready(self._ready, self.description)

    def publish(self, data: bytes) -> None:
        self._outbox.put(data)

    async def _send(self, data: bytes) -> None:
        async with self._lock:
            conn = self._conn
            if conn is None:
                raise ConnectionError("not connected")
            text = data.decode()
            try:
                if len(data) >= NOTIFY_BYTES:
                    text = "@" + str(await self._spill(conn, text))
                await conn.execute("select pg_notify($1, $2)", CHANNEL, text)
            except Exception as error:
                self._check(conn, error)
                raise

    async def _spill(self, conn: Any, body: str) -> int:
        """Store a message too big for NOTIFY; its id goes in the notification instead."""
        if not self._spill_ready:
            with contextlib.suppress(asyncpg.UniqueViolationError):  # another node created it just now
                await conn.execute(CREATE_SPILL)
            self._spill_ready = True
        await conn.execute(FORGET_SPILLED, SPILL_SECONDS)
        ident: int = await conn.fetchval(SPILL, body)
        return ident

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: object) -> None:
        self._inbox.put_nowait(str(payload))

    async def _read(self, deliver: Deliver) -> None:
        """Deliver the notifications in the order they came, reading spilled messages back."""
        while True:
            payload = await self._inbox.get()
            if payload.startswith("@"):
                conn = self._conn
                try:
                    async with self._lock:
                        body = await conn.fetchval(READ_SPILLED, int(payload[1:]))
                except Exception as error:  # the connection went away: this message is missed
                    self._check(conn, error)
                    self._warnings.warn("a large message could not be read back", error)
                    continue
                if body is None:
                    continue
                payload = body
            deliver(payload.encode())

    async def _listen(self) -> None:
        """Keep one listening connection open: reconnect when it is lost."""
        while True:
            try:
                conn = await asyncpg.connect(
                    self._dsn,
                    timeout=self._connect_timeout,
                    command_timeout=STATEMENT_SECONDS,  # a statement that hangs must not hold the lock
                    server_settings={"application_name": "backstack realtime"},
                )
            except Exception as error:  # down, refused, bad credentials: try again
                self._warnings.warn(f"cannot connect ({self.description})", error)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            try:
                self._lost = lost = asyncio.Event()
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, self._notified)
                self._conn = conn
                self._ready.set()
                while True:  # a server that went away closes the socket; a silent network, the keepalive
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), KEEPALIVE_SECONDS)
                    if lost.is_set():
                        raise ConnectionError("the connection was closed or broke")
                    async with self._lock:
                        await asyncio.wait_for(conn.execute("select 1"), KEEPALIVE_SECONDS)
            except Exception as error:  # whatever broke the connection (asyncpg has several kinds): reopen it
                self._warnings.warn(f"connection lost, reconnecting ({self.description})", error)
            finally:
                self._conn = None
                conn.terminate()
            await asyncio.sleep(RETRY_SECONDS)

    def _check(self, conn: Any, error: BaseException) -> None:
        """After a failed statement: reopen the connection unless the server only refused the statement
        (a terminated backend is not always seen as a closed socket at once)."""
        refused = isinstance(error, asyncpg.PostgresError) and not str(error.sqlstate).startswith(("08", "57"))
        if conn is self._conn and (conn.is_closed() or not refused):
            self._lost.set()

    async def close(self) -> None:
        await self._outbox.close()
        for task in self._tasks:
            await cancel(task)
