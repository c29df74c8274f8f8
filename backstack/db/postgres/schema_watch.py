"""Tell every server when the schema changes, and hear it: event triggers that `NOTIFY pgrst, 'reload schema'`,
and `SchemaWatch`, an engine's LISTEN connection and catalog poll.

Why: DDL run by another process (`backstack db reset`, `migrate`, psql) must be seen by the next
request, not after the next poll. Supabase installs the same pair of event triggers for PostgREST
(`pgrst_ddl_watch` on `ddl_command_end`, `pgrst_drop_watch` on `sql_drop`); every backstack worker
LISTENs on channel `pgrst` (`SchemaWatch`) and reloads its schema cache when notified. NOTIFY is
transactional: the notification goes out when the DDL commits, never for a rolled back one.

`ensure_schema_watch` runs at engine start. Creating an event trigger needs superuser (or a managed
server's equivalent); without it a warning is logged once and the engine keeps polling the catalog
fingerprint, as before. Engines starting at once on one database are serialised by an advisory
transaction lock, and a trigger already there is left alone, so nothing is created twice.

`SchemaWatch` LISTENs on a dedicated connection (reconnected when it drops, followed by a reload
for what it missed) and reloads on notification; the engine also runs its introspection on that
connection, so a busy pool never delays it. Without the triggers (no superuser), a poll of a
catalog fingerprint every `schema_poll_seconds` (an md5 over the xmin of the
pg_class/pg_attribute/pg_constraint/pg_attrdef rows of the exposed schemas: measured ~3 ms for 200
tables, against ~22 ms for a full introspection) still sees DDL run by another process within a
second; the poll runs either way, as a safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import asyncpg

from backstack.core.errors import ApiError

if TYPE_CHECKING:
    from backstack.db.schema.cache import SchemaReloads

log = logging.getLogger("backstack.db")

CHANNEL = "pgrst"  # PostgREST's channel: `NOTIFY pgrst, 'reload schema'` by hand works the same
FUNCTION = "_backstack.notify_schema_change"
TRIGGERS = {"backstack_schema_ddl": "ddl_command_end", "backstack_schema_drop": "sql_drop"}
_LOCK_KEY = 0x62735F7761746368  # "bs_watch": serialises engines starting on one database

_FUNCTION_SQL = f"""
create or replace function {FUNCTION}() returns event_trigger language plpgsql as $$
begin
  perform pg_notify('{CHANNEL}', 'reload schema');
end $$
"""


async def ensure_schema_watch(conn: Any) -> bool:
    """Install the event triggers unless present; True when they are in place."""
    if await _installed(conn):
        return True
    try:
        async with conn.transaction():
            await conn.execute(f"select pg_advisory_xact_lock({_LOCK_KEY})")
            if await _installed(conn):
                return True
            await conn.execute(_FUNCTION_SQL)
            for name, event in TRIGGERS.items():
                await conn.execute(f"drop event trigger if exists {name}")
                await conn.execute(f"create event trigger {name} on {event} execute function {FUNCTION}()")
    except asyncpg.PostgresError as exc:  # not superuser: polling only
        log.warning(
            "cannot create the schema-change event triggers (%s); schema changes made by other processes are "
            "seen by polling every schema_poll_seconds, or at once after `NOTIFY pgrst, 'reload schema'`",
            exc,
        )
        return False
    return True


async def _installed(conn: Any) -> bool:
    count = await conn.fetchval(
        "select count(*) from pg_event_trigger where evtname = any($1::text[]) and evtenabled <> 'D'", list(TRIGGERS)
    )
    return bool(count == len(TRIGGERS))


class SchemaWatch:
    """An engine's LISTEN connection (reopened when lost) and its poll of the catalog fingerprint.

    `connect` opens a connection outside the pool, `changed` asks whether the cached schema is out
    of date (the fingerprint), and `reloads` is the engine's reload queue."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[asyncpg.Connection]],
        changed: Callable[[], Awaitable[bool]],
        reloads: SchemaReloads,
        poll_seconds: float,
    ) -> None:
        self._connect = connect
        self._changed = changed
        self._reloads = reloads
        self._interval = max(0.05, poll_seconds)
        self.connection: asyncpg.Connection | None = None  # the LISTEN connection (tests read it)
        self._lost = False  # a LISTEN connection dropped: reload once reconnected
        self._poller: asyncio.Task[None] | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._wakes: dict[str, list[Callable[[], None]]] = {}  # other channels listened to (`subscribe`)

    def start_polling(self) -> None:
        self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def stop(self) -> None:
        """Cancel the poll and a reconnection under way; bounded: `asyncio.wait` returns at its
        timeout even when a task does not finish cancelling (`wait_for` would wait for it)."""
        for task in (self._poller, self._reconnecting):
            if task is not None:
                task.cancel()
                await asyncio.wait([task], timeout=5)
        self._poller = self._reconnecting = None

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                if await self.listen():
                    await self._reloads.reload()  # notifications sent while it was down are lost
                elif await self._changed():
                    await self._reloads.reload()
            except ApiError as exc:
                log.debug("schema poll failed: %s", exc.message)
            except Exception as exc:
                log.warning("schema poll failed: %r", exc)

    async def listen(self) -> bool:
        """Connect and LISTEN unless connected; True when a new connection replaced a lost one."""
        if self.connection is not None and not self.connection.is_closed():
            return False
        self._lost |= self.connection is not None
        await self.close()
        try:
            conn = await self._connect()
            await conn.add_listener(CHANNEL, self._on_notify)
            for channel in self._wakes:
                await conn.add_listener(channel, self._on_wake)
        except Exception as exc:
            log.debug("LISTEN connection failed: %r", exc)
            return False
        conn.add_termination_listener(self._on_lost)
        self.connection = conn
        lost, self._lost = self._lost, False
        if lost:  # what was notified while the connection was down is lost: every subscriber looks
            for wakes in self._wakes.values():
                for wake in wakes:
                    wake()
        return lost

    async def subscribe(self, channel: str, wake: Callable[[], None]) -> None:
        """Call `wake()` at each notification on `channel` (and after a reconnection), on this
        connection: another service's LISTEN costs no connection of its own. The caller holds the
        engine's lock on the connection."""
        first = channel not in self._wakes
        self._wakes.setdefault(channel, []).append(wake)
        conn = self.connection
        if first and conn is not None and not conn.is_closed():
            await conn.add_listener(channel, self._on_wake)

    def _on_lost(self, conn: Any) -> None:
        """The LISTEN connection dropped (server restart, terminated backend): reconnect now, not at
        the next poll, and reload for the notifications missed meanwhile."""
        if conn is not self.connection or self._reconnecting is not None:
            return

        async def reconnect() -> None:
            try:
                with contextlib.suppress(ApiError):
                    if await self.listen():
                        await self._reloads.reload()
            finally:
                self._reconnecting = None

        self._reconnecting = asyncio.get_running_loop().create_task(reconnect())

    async def close(self) -> None:
        """Close the LISTEN connection (terminated when it does not close within 2 s)."""
        conn, self.connection = self.connection, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)
            if not conn.is_closed():
                conn.terminate()

    def _on_wake(self, conn: Any, pid: int, channel: str, payload: object) -> None:
        for wake in self._wakes.get(channel, ()):
            wake()

    def _on_notify(self, conn: Any, pid: int, channel: str, payload: object) -> None:
        if payload in ("", "reload schema"):
            self._reloads.request()
