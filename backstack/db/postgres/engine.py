"""PostgresEngine: an asyncpg pool; the caller's role and JWT claims in force on the connection for RLS.

Failure policy: every wait on the server is bounded by `db_connect_timeout` (connecting, acquiring
a pooled connection) and answers `Unavailable` (PGRST000/001/003) instead of hanging; a dead pooled
connection (PostgreSQL restarted, backend terminated) is replaced by the pool on the next acquire,
and a read that fails on one is retried once. The statement timeout is the connections'
`statement_timeout` setting (sent at connect), so a statement costs no extra round trip for it;
migrations lift it with `SET LOCAL`.

Role switching: when the caller's role exists and the connecting user may switch to it (`anon`, `authenticated`,
`service_role` as on Supabase), statements run under that role; claims always go to
`request.jwt.claims` (plus `request.jwt.claim.sub`/`.role`), so `auth.uid()`-style policies work.
Round trips: a read or a data API write (`write_one`) is one when the caller's settings are already
in force on the pooled connection, two otherwise; a `transaction()` a BEGIN
carrying the settings, its statements, and COMMIT. How the settings are kept per connection, and
why they never reach another caller, is `db/postgres/session.py`.

Supabase's `extensions` schema (uuid-ossp, pgcrypto) is created at start and put on every
connection's search path (`db/postgres/extensions.py`).

Schema changes: event triggers installed at start (`db/postgres/schema_watch.py`, superuser only)
`NOTIFY pgrst, 'reload schema'` when any DDL commits, as Supabase does for PostgREST. Each engine
LISTENs on a dedicated connection (reconnected when it drops, followed by a reload for what it
missed) and reloads on notification; requests arriving while that reload runs wait for it
(`db/schema/cache.py`), and the dedicated connection also runs the introspection, so a busy pool
never delays it. Without the triggers (no superuser), a poll of a catalog fingerprint every
`schema_poll_seconds` (an md5 over the xmin of the pg_class/pg_attribute/pg_constraint/pg_attrdef
rows of the exposed schemas: measured ~3 ms for 200 tables, against ~22 ms for a full
introspection) still sees DDL run by another process within a second; the poll runs either way, as
a safety net. A table missing from the cache re-checks that fingerprint before answering PGRST205
(rate-limited: `SchemaReloads.recheck`).

Nested use: `transaction()` holds one pooled connection; reads made with `fetch_*` inside it use
another connection and do not see its uncommitted writes (the same holds on SQLite).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg

from backstack.core import json
from backstack.core.errors import ApiError
from backstack.db.dialect import POSTGRES, Dialect
from backstack.db.errors import (
    CONNECTION_MESSAGE,
    POOL_TIMEOUT_MESSAGE,
    is_connection_error,
    translate_asyncpg,
    unavailable,
)
from backstack.db.postgres.extensions import SEARCH_PATH, ensure_extensions
from backstack.db.postgres.introspect import fingerprint, introspect
from backstack.db.postgres.pool import ConnectionPool, PoolClosed
from backstack.db.postgres.roles import API_ROLES, SWITCHABLE_ROLES, ensure_api_roles
from backstack.db.postgres.schema_watch import CHANNEL, ensure_schema_watch
from backstack.db.postgres.session import (
    DEFAULTS,
    ISOLATION_LEVELS,
    SessionConnection,
    SessionState,
    checked,
    pristine,
    remember,
    state_of,
)
from backstack.db.schema.cache import ReloadingSchema, SchemaReloads
from backstack.db.schema.model import Schema

if TYPE_CHECKING:
    from backstack.config import Settings
    from backstack.core.caller import Caller
    from backstack.db.engine import Params, Row

T = TypeVar("T")
Conn = SessionConnection
CALLER_STATES = 1024  # callers whose state is remembered (`_caller_state`); cleared when full
log = logging.getLogger("backstack.db")
INTERNAL_SCHEMA = "_backstack"
RELOAD_CHANNEL = CHANNEL


class PostgresEngine(ReloadingSchema):
    """The `Engine` for `settings.database_url`."""

    dialect: Dialect = POSTGRES

    def __init__(self, settings: Settings) -> None:
        if not settings.database_url:
            raise ValueError("PostgresEngine needs settings.database_url")
        self.settings = settings
        self.dsn = settings.database_url
        self.schemas = list(settings.exposed_schemas)
        self._pool: ConnectionPool[Conn] | None = None
        self._caller_states: dict[tuple[int, bool], tuple[Caller, SessionState, str]] = {}
        self._schema = Schema(tables={})
        self._roles: frozenset[str] = frozenset()
        self._isolation = "read committed"  # the database's default, read at start
        self._login_user = ""
        self._defaults = ""  # the connections' statement timeout and search path, as `CHECK` reads them
        self._pristine = pristine(self._isolation)
        self._listener: asyncpg.Connection | None = None
        self._listener_lost = False  # a LISTEN connection dropped: reload once reconnected
        self._poller: asyncio.Task[None] | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._reload_lock = asyncio.Lock()  # serialises the work on the dedicated connection
        self._reloads = SchemaReloads(lambda: self._schema, self._introspect, self._schema_changed)
        self.schema_reloads = 0  # introspections run (tests read it)
        self.watching = False  # the event triggers are in place: DDL anywhere notifies us

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._pool is not None:
            return
        pool: ConnectionPool[Conn] = ConnectionPool(
            self._connect, max_size=self.settings.db_pool_max, timeout=self.settings.db_connect_timeout
        )
        try:
            await pool.fill(min(self.settings.db_pool_min, self.settings.db_pool_max))
            if pool.size == 0:
                pool.release(await pool.acquire())  # fail now, not at the first request, when unreachable
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            pool.terminate()
            raise unavailable("PGRST000", CONNECTION_MESSAGE) from exc
        self._pool = pool
        await self._setup()
        await self._ensure_listener()
        await self.reload_schema()
        self._poller = asyncio.get_running_loop().create_task(self._watch_schema())

    async def _connect(self) -> Conn:
        """A new pooled connection: the statement timeout and search path sent at connect (no round trip)."""
        timeout_ms = max(0, int(self.settings.statement_timeout_ms))
        conn: Conn = await asyncpg.connect(
            self.dsn,
            timeout=self.settings.db_connect_timeout,
            command_timeout=timeout_ms / 1000 + 5 if timeout_ms else None,
            server_settings=self._server_settings(),
            connection_class=SessionConnection,
        )
        return conn

    def _server_settings(self) -> dict[str, str]:
        timeout_ms = max(0, int(self.settings.statement_timeout_ms))
        # Supabase's search path: `extensions` on it (introspection prints names relative to it).
        return {"application_name": "backstack", "statement_timeout": str(timeout_ms), "search_path": SEARCH_PATH}

    async def _setup(self) -> None:
        async with self._acquire(None) as conn:
            defaults = await conn.fetchrow("select current_setting('default_transaction_isolation'), current_user")
            assert defaults is not None
            isolation, self._login_user = defaults
            self._isolation = isolation if isolation in ISOLATION_LEVELS else "read committed"
            self._pristine = pristine(self._isolation)
            self._defaults = await conn.fetchval(DEFAULTS)
            self._caller_states.clear()
            try:
                await conn.execute(f"create schema if not exists {INTERNAL_SCHEMA}")
            except asyncpg.PostgresError as exc:  # no CREATE on the database: migrations will say so
                log.warning("cannot create schema %s: %s", INTERNAL_SCHEMA, exc)
            await ensure_api_roles(conn, self.schemas)
            await ensure_extensions(conn, [name for name, _ in API_ROLES])
            self.watching = await ensure_schema_watch(conn)

    async def close(self) -> None:
        """Stop polling, close the listener and the pool; bounded: `asyncio.wait` returns at its
        timeout even when a task does not finish cancelling (`wait_for` would wait for it), and the
        pool terminates what is still lent after 5 s."""
        for task in (self._poller, self._reconnecting):
            if task is not None:
                task.cancel()
                await asyncio.wait([task], timeout=5)
        self._poller = self._reconnecting = None
        await self._reloads.close()
        await self._close_listener()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            if not await pool.close(timeout=5):
                log.warning("PostgreSQL connections still in use after 5 s: terminated")

    # ------------------------------------------------------------------ connections

    @asynccontextmanager
    async def _acquire(self, state: SessionState | None) -> AsyncIterator[Conn]:
        """A pooled connection within `db_connect_timeout` (else `Unavailable`), with `state` in force
        (None: as it is; only `_setup`, which reads the database's own defaults)."""
        conn = await self._acquire_connection()
        try:
            if state is not None:
                try:
                    await self._ensure(conn, state)
                except BaseException as exc:
                    raise self._convert(exc, None) from None
            yield conn
        finally:
            await self._release(conn)

    async def _acquire_connection(self) -> Conn:
        if self._pool is None:
            raise unavailable("PGRST001", "Database client error. Retrying the connection.")
        try:
            return await self._pool.acquire()
        except TimeoutError:
            raise unavailable("PGRST003", POOL_TIMEOUT_MESSAGE, None) from None
        except PoolClosed:
            raise unavailable("PGRST001", "Database client error. Retrying the connection.") from None
        except Exception as exc:
            if is_connection_error(exc) or isinstance(exc, asyncpg.PostgresError):
                raise unavailable("PGRST000", CONNECTION_MESSAGE) from None
            raise

    async def _release(self, conn: Conn) -> None:
        """Give `conn` back; a transaction left open is rolled back first (bounded), and a connection
        that cannot be rolled back is terminated (the pool then drops it)."""
        if not conn.is_closed() and conn.is_in_transaction():
            remember(conn, None)  # a rollback takes back session-level settings made in the transaction
            await _rollback(conn)
        self._give_back(conn)

    def _give_back(self, conn: Conn) -> None:
        if self._pool is None:
            conn.terminate()
        else:
            self._pool.release(conn)

    async def _ensure(self, conn: Conn, state: SessionState) -> None:
        """Put `state` in force on `conn` unless it is known to be (one round trip when not)."""
        known = state_of(conn)
        if known is state or known == state:
            return
        remember(conn, None)  # until the statement is known to have run
        await conn.execute(state.apply_sql())
        remember(conn, state)

    def _caller_state(self, caller: Caller | None, *, read_only: bool) -> tuple[SessionState, str]:
        """A caller's session state and what `CHECK` reads while it holds, remembered per Caller object
        (the authenticator reuses one per token): a JSON dump and a dataclass less per request. The
        entry holds the caller itself, so its `id` cannot be reused by another while cached."""
        if caller is None:
            return self._pristine, ""
        key = (id(caller), read_only)
        entry = self._caller_states.get(key)
        if entry is not None and entry[0] is caller:
            return entry[1], entry[2]
        state = self._state(caller, read_only=read_only)
        expected = state.expected(self._login_user, self._defaults)
        if len(self._caller_states) >= CALLER_STATES:
            self._caller_states.clear()
        self._caller_states[key] = (caller, state, expected)
        return state, expected

    def _state(self, caller: Caller | None, *, read_only: bool) -> SessionState:
        """The session state a statement of `caller` runs under (see `db/postgres/session.py`)."""
        if caller is None:
            return self._pristine
        return SessionState(
            caller.role if caller.role in self._roles else None,
            json.dumps_str(caller.claims),
            caller.role,
            caller.uid or "",
            read_only,
            "read committed" if read_only else self._isolation,
        )

    def _begin_sql(self, conn: Conn, caller: Caller | None) -> str:
        """`BEGIN` plus the identity the transaction runs under, as one simple-protocol round trip.

        A caller's identity is set transaction-locally (the session's, whoever it was, comes back at
        the end); internal work puts the pristine state back at session level when it is not known
        to be there, so it holds after the commit."""
        begin = f"begin isolation level {self._isolation} read write"
        if caller is not None:
            return f"{begin}; {self._state(caller, read_only=False).local_sql()}"
        if state_of(conn) == self._pristine:
            return begin
        return f"{begin}; {self._pristine.apply_sql()}"

    def _convert(self, exc: BaseException, caller: Caller | None) -> BaseException:
        """What to raise for `exc`: its ApiError translation, or `exc` itself (cancellation...)."""
        return self._translate(exc, caller) if _translatable(exc) else exc

    def _translate(self, exc: BaseException, caller: Caller | None) -> ApiError:
        anonymous = caller is None or caller.is_anonymous
        error = translate_asyncpg(exc, anonymous=anonymous)
        if error.code == "XX000":
            log.warning("postgres error: %r", exc)
        return error

    async def _read(self, sql: str, params: Params, caller: Caller | None, *, one: bool) -> list[Row]:
        """Run a read; retried once when the pooled connection turned out to be dead."""
        for attempt in (1, 2):
            try:
                return await self._read_once(sql, params, caller, one=one)
            except ApiError as error:
                if attempt == 2 or error.code != "PGRST001":
                    raise
                self._expire_pool()
        raise AssertionError("unreachable")

    async def _read_once(self, sql: str, params: Params, caller: Caller | None, *, one: bool) -> list[Row]:
        """One round trip when the caller's state is in force on the connection, else two; a
        caller's statement runs wrapped (`checked`) so that its end state is verified, or, when it
        cannot be wrapped, in a read-only transaction as before."""
        if caller is None:
            state, expected, run_sql = self._pristine, "", sql
        else:
            state, expected = self._caller_state(caller, read_only=True)
            wrapped = checked(sql, one=one)
            if wrapped is None:
                return await self._read_in_transaction(sql, params, caller, one=one)
            run_sql = wrapped
        conn = await self._acquire_connection()
        try:
            await self._ensure(conn, state)
            if one:
                record = await conn.fetchrow(run_sql, *params)
                records = [] if record is None else [record]
            else:
                records = await conn.fetch(run_sql, *params)
        except BaseException as exc:
            remember(conn, None)
            await self._release(conn)
            raise self._convert(exc, caller) from None
        if caller is None:
            self._give_back(conn)
            return [tuple(r) for r in records]
        if not records or any(r[-1] != expected for r in records):
            remember(conn, None)  # no row to tell, or user code changed the settings: set them again
            if records:
                log.warning(
                    "a statement changed the role or JWT settings of its session; they are "
                    "set again before the connection's next use"
                )
        self._give_back(conn)  # only now: the state it is remembered with has been checked
        return [tuple(r)[:-1] for r in records]

    async def _read_in_transaction(self, sql: str, params: Params, caller: Caller | None, *, one: bool) -> list[Row]:
        async with self._acquire(None) as conn:
            try:
                local = self._state(caller, read_only=True).local_sql()
                await conn.execute(f"begin isolation level read committed read only; {local}")
                if one:
                    record = await conn.fetchrow(sql, *params)
                    records = [] if record is None else [record]
                else:
                    records = await conn.fetch(sql, *params)
                await conn.execute("commit")
                return [tuple(r) for r in records]
            except BaseException as exc:
                await _rollback(conn)
                raise self._convert(exc, caller) from None
            finally:
                remember(conn, None)

    def _expire_pool(self) -> None:
        """After a dead connection, have the pool replace every connection it holds before reuse.

        A server restart or `pg_terminate_backend` kills all the pooled connections, but asyncpg
        learns of each only when it next reads from it (a backend exits asynchronously); without
        this the one retry can land on a second dead connection (measured: 11 of 30 reads failed
        right after terminating 4 pooled backends)."""
        if self._pool is not None:
            self._pool.expire()

    # ------------------------------------------------------------------ Engine protocol

    async def fetch_one(self, sql: str, params: Params = (), *, caller: Caller | None = None) -> Row | None:
        rows = await self._read(sql, params, caller, one=True)
        return rows[0] if rows else None

    async def fetch_all(self, sql: str, params: Params = (), *, caller: Caller | None = None) -> list[Row]:
        return await self._read(sql, params, caller, one=False)

    async def write_one(
        self, sql: str, params: Params = (), *, caller: Caller | None = None, checked: bool = False
    ) -> Row | None:
        """Run one data-changing statement as its own transaction (atomic by itself); its first row.

        One round trip when the caller's read-write state is in force on the connection, else two.
        Afterwards the state is kept only when the statement is `checked` and its last column
        (`Dialect.written_session_check`) matches it: no code of the project's can run after that
        column is made (no trigger...), and the settings were as set once every row was written.
        Otherwise it is forgotten: a trigger may run after anything the statement could report.
        Not retried once the statement was sent (it may have committed); a connection found dead
        before is replaced once.
        """
        state, expected = self._caller_state(caller, read_only=False)
        for attempt in (1, 2):
            conn = await self._acquire_connection()
            try:
                try:
                    await self._ensure(conn, state)
                except BaseException as exc:
                    remember(conn, None)
                    if attempt == 2 or not is_connection_error(exc):
                        raise self._convert(exc, caller) from None
                    self._expire_pool()
                    continue
                try:
                    record = await conn.fetchrow(sql, *params)
                except BaseException as exc:
                    remember(conn, None)
                    raise self._convert(exc, caller) from None
                if not checked:
                    remember(conn, None)
                    return None if record is None else tuple(record)
                if record is None or caller is None or record[-1] != expected:
                    remember(conn, None)
                return None if record is None else tuple(record)[:-1]
            finally:
                await self._release(conn)
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def transaction(self, caller: Caller | None = None) -> AsyncIterator[PostgresConnection]:
        """Acquire, `BEGIN` with the caller's role/claims; commit on normal exit, else roll back.

        A connection found dead at `BEGIN` (server restarted, backend terminated) is replaced once:
        nothing has run yet, so retrying is safe. Afterwards the session state is unknown, internal
        work's too: a trigger of the project's (on auth.users, say) may have changed it.
        """
        conn = await self._begin(caller)
        try:
            try:
                yield PostgresConnection(conn, self, caller)
            except BaseException:
                remember(conn, None)
                await _rollback(conn)
                raise
            try:
                await conn.execute("commit")
            except BaseException as exc:
                remember(conn, None)
                await _rollback(conn)
                raise self._convert(exc, caller) from None
            remember(conn, None)  # its statements may have run user code (a trigger) changing the session
        finally:
            await self._release(conn)

    async def _begin(self, caller: Caller | None) -> Conn:
        for attempt in (1, 2):
            conn = await self._acquire_connection()
            try:
                sql = self._begin_sql(conn, caller)
                remember(conn, None)
                await conn.execute(sql)
                return conn
            except BaseException as exc:
                await _rollback(conn)
                await self._release(conn)
                if attempt == 2 or not is_connection_error(exc):
                    raise self._convert(exc, caller) from None
                self._expire_pool()
        raise AssertionError("unreachable")

    async def execute_script(self, sql: str) -> None:
        """Run `sql` (several statements) in one transaction, without statement timeout."""
        async with self._acquire(self._pristine) as conn:
            try:
                async with conn.transaction():
                    await conn.execute("set local statement_timeout = 0")
                    await conn.execute(sql)
            except BaseException as exc:
                raise self._convert(exc, None) from None
            finally:
                remember(conn, None)  # a script may change session settings (SET ROLE...)
        await self.reload_schema()

    async def schema(self) -> Schema:
        """The cached schema; a reload already under way (a notification came) is waited for."""
        return await self._reloads.settled()

    async def _introspect(self) -> Schema:
        async with self._reload_lock, self._schema_connection() as conn:
            try:
                schema = await introspect(conn, self.schemas)
                roles = await conn.fetch(SWITCHABLE_ROLES)
            except BaseException as exc:
                raise self._convert(exc, None) from None
        self._schema = schema
        self._roles = frozenset(r[0] for r in roles)
        self._caller_states.clear()  # a state names the caller's role only when it exists
        self.schema_reloads += 1
        return schema

    async def _schema_changed(self) -> bool:
        """The catalog fingerprint differs from the cached schema's (~3 ms)."""
        async with self._reload_lock, self._schema_connection() as conn:
            try:
                current = await fingerprint(conn, self.schemas)
            except BaseException as exc:
                raise self._convert(exc, None) from None
        return current != self._schema.fingerprint

    @asynccontextmanager
    async def _schema_connection(self) -> AsyncIterator[Any]:
        """The LISTEN connection when it is up (never waits on a busy pool), else a pooled one."""
        listener = self._listener
        if listener is not None and not listener.is_closed():
            yield listener
            return
        async with self._acquire(self._pristine) as conn:
            yield conn

    async def health(self) -> dict[str, Any]:
        pool = self._pool
        figures: dict[str, Any] = {"engine": "postgres"}
        if pool is not None:
            figures.update(pool_size=pool.size, pool_idle=pool.idle, pool_max=pool.max_size)
        try:
            await asyncio.wait_for(self.fetch_one("select 1"), self.settings.db_connect_timeout + 1)
        except (ApiError, TimeoutError) as exc:
            return {"status": "unavailable", **figures, "error": getattr(exc, "message", "timeout")}
        return {"status": "ok", **figures}

    # ------------------------------------------------------------------ schema watch

    async def _watch_schema(self) -> None:
        interval = max(0.05, self.settings.schema_poll_seconds)
        while True:
            await asyncio.sleep(interval)
            try:
                if await self._ensure_listener():
                    await self.reload_schema()  # notifications sent while it was down are lost
                elif await self._schema_changed():
                    await self.reload_schema()
            except ApiError as exc:
                log.debug("schema poll failed: %s", exc.message)
            except Exception as exc:
                log.warning("schema poll failed: %r", exc)

    async def _ensure_listener(self) -> bool:
        """Connect and LISTEN unless connected; True when a new connection replaced a lost one."""
        if self._listener is not None and not self._listener.is_closed():
            return False
        self._listener_lost |= self._listener is not None
        await self._close_listener()
        try:
            conn = await asyncpg.connect(
                self.dsn, timeout=self.settings.db_connect_timeout, server_settings=self._server_settings()
            )
            await conn.add_listener(RELOAD_CHANNEL, self._on_notify)
        except Exception as exc:
            log.debug("LISTEN connection failed: %r", exc)
            return False
        conn.add_termination_listener(self._on_listener_lost)
        self._listener = conn
        lost, self._listener_lost = self._listener_lost, False
        return lost

    def _on_listener_lost(self, conn: Any) -> None:
        """The LISTEN connection dropped (server restart, terminated backend): reconnect now, not at
        the next poll, and reload for the notifications missed meanwhile."""
        if conn is not self._listener or self._reconnecting is not None:
            return

        async def reconnect() -> None:
            try:
                with contextlib.suppress(ApiError):
                    if await self._ensure_listener():
                        await self.reload_schema()
            finally:
                self._reconnecting = None

        self._reconnecting = asyncio.get_running_loop().create_task(reconnect())

    async def _close_listener(self) -> None:
        conn, self._listener = self._listener, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)
            if not conn.is_closed():
                conn.terminate()

    def _on_notify(self, conn: Any, pid: int, channel: str, payload: object) -> None:
        if payload in ("", "reload schema"):
            self._reloads.request()


class PostgresConnection:
    """A pooled connection inside a transaction opened by `PostgresEngine.transaction`."""

    def __init__(self, conn: Conn, engine: PostgresEngine, caller: Caller | None) -> None:
        self._conn = conn
        self._engine = engine
        self._caller = caller

    async def _run(self, fn: Callable[[], Awaitable[T]]) -> T:
        try:
            return await fn()
        except BaseException as exc:
            raise self._engine._convert(exc, self._caller) from None

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        record = await self._run(lambda: self._conn.fetchrow(sql, *params))
        return tuple(record) if record is not None else None

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        records = await self._run(lambda: self._conn.fetch(sql, *params))
        return [tuple(r) for r in records]

    async def execute(self, sql: str, params: Params = ()) -> int:
        status = await self._run(lambda: self._conn.execute(sql, *params))
        return _rowcount(status)


def _rowcount(status: str) -> int:
    """Rows changed, from a command tag such as `INSERT 0 3`, `UPDATE 2`, `DELETE 0`."""
    last = status.rsplit(" ", 1)[-1] if status else ""
    return int(last) if last.isdigit() else 0


def _translatable(exc: BaseException) -> bool:
    """Driver and socket errors become ApiErrors; cancellation and our own errors pass through."""
    if isinstance(exc, (asyncio.CancelledError, ApiError, KeyboardInterrupt, SystemExit, GeneratorExit)):
        return False
    return isinstance(exc, (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)) or (
        is_connection_error(exc)
    )


async def _rollback(conn: Conn) -> None:
    """Roll back whatever is open; a broken connection is terminated (the pool replaces it)."""
    if conn.is_closed():
        return
    try:
        await asyncio.wait_for(asyncio.shield(conn.execute("rollback")), 5)
    except BaseException:
        conn.terminate()
