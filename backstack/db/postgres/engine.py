"""PostgresEngine: an asyncpg pool; the caller's role and JWT claims in force on the connection for RLS.

Failure policy: every wait on the server is bounded and answers `Unavailable` instead of hanging
(`db/postgres/pooled.py`); a read that fails on a dead pooled connection is retried once. The
statement timeout is the connections' `statement_timeout` setting (sent at connect), so a statement
costs no extra round trip for it; migrations lift it with `SET LOCAL`.

Role switching: when the caller's role exists and the connecting user may switch to it (`anon`, `authenticated`,
`service_role` as on Supabase), statements run under that role; claims always go to
`request.jwt.claims` (plus `request.jwt.claim.sub`/`.role`), so `auth.uid()`-style policies work.
Round trips: a read or a data API write (`write_one`) is one when the caller's settings are already
in force on the pooled connection, two otherwise; a `transaction()` a BEGIN
carrying the settings, its statements, and COMMIT. How the settings are kept per connection, and
why they never reach another caller, is `db/postgres/session.py`; which state a caller's statement
runs under, `db/postgres/caller_states.py`.

Supabase's `extensions` schema (uuid-ossp, pgcrypto) is created at start and put on every
connection's search path (`db/postgres/extensions.py`).

Schema changes: event triggers installed at start (`db/postgres/schema_watch.py`, superuser only)
`NOTIFY pgrst, 'reload schema'` when any DDL commits, as Supabase does for PostgREST. Each engine
LISTENs on a dedicated connection and polls a catalog fingerprint as a safety net (`SchemaWatch`,
same module); requests arriving while a reload runs wait for it (`db/schema/cache.py`), and the
dedicated connection also runs the introspection, so a busy pool never delays it. A table missing
from the cache re-checks that fingerprint before answering PGRST205 (rate-limited:
`SchemaReloads.recheck`).

A transaction's connection handle, the rollback and which errors become ApiErrors are
`db/postgres/connection.py`.

Row changes: engine start creates the `supabase_realtime` publication and the triggers that capture
its tables' changes into an outbox (`db/postgres/capture.py`).

Nested use: `transaction()` holds one pooled connection; reads made with `fetch_*` inside it use
another connection and do not see its uncommitted writes (the same holds on SQLite).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import asyncpg

from backstack.core.errors import ApiError
from backstack.db.dialect import POSTGRES, Dialect
from backstack.db.errors import is_connection_error, translate_asyncpg
from backstack.db.postgres.caller_states import CallerStates
from backstack.db.postgres.capture import ensure_capture
from backstack.db.postgres.connection import PostgresConnection, rollback, translatable
from backstack.db.postgres.extensions import SEARCH_PATH, ensure_extensions
from backstack.db.postgres.introspect import fingerprint, introspect
from backstack.db.postgres.pooled import PooledConnections, ensure
from backstack.db.postgres.roles import API_ROLES, SWITCHABLE_ROLES, ensure_api_roles
from backstack.db.postgres.schema_watch import SchemaWatch, ensure_schema_watch
from backstack.db.postgres.session import SessionConnection, checked, remember
from backstack.db.schema.cache import ReloadingSchema, SchemaReloads
from backstack.db.schema.model import Schema

if TYPE_CHECKING:
    from backstack.config import Settings
    from backstack.core.caller import Caller
    from backstack.db.protocol import Params, Row

Conn = SessionConnection
log = logging.getLogger("backstack.db")
INTERNAL_SCHEMA = "_backstack"


class PostgresEngine(ReloadingSchema):
    """The `Engine` for `settings.database_url`."""

    dialect: Dialect = POSTGRES

    def __init__(self, settings: Settings) -> None:
        if not settings.database_url:
            raise ValueError("PostgresEngine needs settings.database_url")
        self.settings = settings
        self.dsn = settings.database_url
        self.schemas = list(settings.exposed_schemas)
        self._pool = PooledConnections(
            self._connect,
            lambda exc: self._convert(exc, None),
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            timeout=settings.db_connect_timeout,
        )
        self._schema = Schema(tables={})
        self._states = CallerStates()
        self._reload_lock = asyncio.Lock()  # serialises the work on the dedicated connection
        self._reloads = SchemaReloads(lambda: self._schema, self._introspect, self._schema_changed)
        self._watch = SchemaWatch(
            self._connect_listener, self._schema_changed, self._reloads, settings.schema_poll_seconds
        )
        self.schema_reloads = 0  # introspections run (tests read it)
        self.watching = False  # the event triggers are in place: DDL anywhere notifies us
        self.capturing = False  # the publication's capture triggers follow ALTER PUBLICATION at once

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._pool.is_open:
            return
        await self._pool.open()
        await self._setup()
        await self._watch.listen()
        await self.reload_schema()
        self._watch.start_polling()

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

    async def _connect_listener(self) -> asyncpg.Connection:
        """A connection outside the pool, for `SchemaWatch` to LISTEN on."""
        return await asyncpg.connect(
            self.dsn, timeout=self.settings.db_connect_timeout, server_settings=self._server_settings()
        )

    def _server_settings(self) -> dict[str, str]:
        timeout_ms = max(0, int(self.settings.statement_timeout_ms))
        # Supabase's search path: `extensions` on it (introspection prints names relative to it).
        return {"application_name": "backstack", "statement_timeout": str(timeout_ms), "search_path": SEARCH_PATH}

    async def _setup(self) -> None:
        async with self._pool.lend(None) as conn:
            await self._states.load_defaults(conn)
            try:
                await conn.execute(f"create schema if not exists {INTERNAL_SCHEMA}")
            except asyncpg.PostgresError as exc:  # no CREATE on the database: migrations will say so
                log.warning("cannot create schema %s: %s", INTERNAL_SCHEMA, exc)
            await ensure_api_roles(conn, self.schemas)
            await ensure_extensions(conn, [name for name, _ in API_ROLES])
            self.watching = await ensure_schema_watch(conn)
            self.capturing = await ensure_capture(conn)

    async def notify_on(self, channel: str, wake: Callable[[], None]) -> None:
        """Call `wake()` whenever `channel` is notified (LISTEN on the engine's own listener connection)."""
        async with self._reload_lock:
            await self._watch.subscribe(channel, wake)

    async def close(self) -> None:
        """Stop polling, close the listener and the pool; bounded: each step gives up after a few
        seconds, and the pool terminates what is still lent after 5 s."""
        await self._watch.stop()
        await self._reloads.close()
        await self._watch.close()
        await self._pool.close()

    def _convert(self, exc: BaseException, caller: Caller | None) -> BaseException:
        """What to raise for `exc`: its ApiError translation, or `exc` itself (cancellation...)."""
        return self._translate(exc, caller) if translatable(exc) else exc

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
                self._pool.expire()
        raise AssertionError("unreachable")

    async def _read_once(self, sql: str, params: Params, caller: Caller | None, *, one: bool) -> list[Row]:
        """One round trip when the caller's state is in force on the connection, else two; a
        caller's statement runs wrapped (`checked`) so that its end state is verified, or, when it
        cannot be wrapped, in a read-only transaction as before."""
        if caller is None:
            state, expected, run_sql = self._states.pristine, "", sql
        else:
            state, expected = self._states.of(caller, read_only=True)
            wrapped = checked(sql, one=one)
            if wrapped is None:
                return await self._read_in_transaction(sql, params, caller, one=one)
            run_sql = wrapped
        conn = await self._pool.acquire()
        try:
            await ensure(conn, state)
            if one:
                record = await conn.fetchrow(run_sql, *params)
                records = [] if record is None else [record]
            else:
                records = await conn.fetch(run_sql, *params)
        except BaseException as exc:
            remember(conn, None)
            await self._pool.release(conn)
            raise self._convert(exc, caller) from None
        if caller is None:
            self._pool.give_back(conn)
            return [tuple(r) for r in records]
        if not records or any(r[-1] != expected for r in records):
            remember(conn, None)  # no row to tell, or user code changed the settings: set them again
            if records:
                log.warning(
                    "a statement changed the role or JWT settings of its session; they are "
                    "set again before the connection's next use"
                )
        self._pool.give_back(conn)  # only now: the state it is remembered with has been checked
        return [tuple(r)[:-1] for r in records]

    async def _read_in_transaction(self, sql: str, params: Params, caller: Caller | None, *, one: bool) -> list[Row]:
        async with self._pool.lend(None) as conn:
            try:
                local = self._states.state(caller, read_only=True).local_sql()
                await conn.execute(f"begin isolation level read committed read only; {local}")
                if one:
                    record = await conn.fetchrow(sql, *params)
                    records = [] if record is None else [record]
                else:
                    records = await conn.fetch(sql, *params)
                await conn.execute("commit")
                return [tuple(r) for r in records]
            except BaseException as exc:
                await rollback(conn)
                raise self._convert(exc, caller) from None
            finally:
                remember(conn, None)

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
        state, expected = self._states.of(caller, read_only=False)
        for attempt in (1, 2):
            conn = await self._pool.acquire()
            try:
                try:
                    await ensure(conn, state)
                except BaseException as exc:
                    remember(conn, None)
                    if attempt == 2 or not is_connection_error(exc):
                        raise self._convert(exc, caller) from None
                    self._pool.expire()
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
                await self._pool.release(conn)
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
                yield PostgresConnection(conn, lambda exc: self._convert(exc, caller))
            except BaseException:
                remember(conn, None)
                await rollback(conn)
                raise
            try:
                await conn.execute("commit")
            except BaseException as exc:
                remember(conn, None)
                await rollback(conn)
                raise self._convert(exc, caller) from None
            remember(conn, None)  # its statements may have run user code (a trigger) changing the session
        finally:
            await self._pool.release(conn)

    async def _begin(self, caller: Caller | None) -> Conn:
        for attempt in (1, 2):
            conn = await self._pool.acquire()
            try:
                sql = self._states.begin_sql(conn, caller)
                remember(conn, None)
                await conn.execute(sql)
                return conn
            except BaseException as exc:
                await rollback(conn)
                await self._pool.release(conn)
                if attempt == 2 or not is_connection_error(exc):
                    raise self._convert(exc, caller) from None
                self._pool.expire()
        raise AssertionError("unreachable")

    async def execute_script(self, sql: str) -> None:
        """Run `sql` (several statements) in one transaction, without statement timeout."""
        async with self._pool.lend(self._states.pristine) as conn:
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
        self._states.set_roles(frozenset(r[0] for r in roles))
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
        listener = self._watch.connection
        if listener is not None and not listener.is_closed():
            yield listener
            return
        async with self._pool.lend(self._states.pristine) as conn:
            yield conn

    async def health(self) -> dict[str, Any]:
        figures: dict[str, Any] = {"engine": "postgres", **self._pool.figures()}
        try:
            await asyncio.wait_for(self.fetch_one("select 1"), self.settings.db_connect_timeout + 1)
        except (ApiError, TimeoutError) as exc:
            return {"status": "unavailable", **figures, "error": getattr(exc, "message", "timeout")}
        return {"status": "ok", **figures}
