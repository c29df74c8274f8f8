"""SqliteEngine: the embedded database, one WAL file, one writer and a few readers per process.

Writes are serialised twice: an `asyncio.Lock` orders this process's transactions on its single
writer connection (a one-thread executor, so the connection never changes thread), and
`BEGIN IMMEDIATE` takes SQLite's file lock up front, so another process (`serve --workers N`,
`backstack migrate`) makes us wait up to `sqlite_busy_timeout_ms` instead of failing half-way.
Reads run on `sqlite_readers` threads, each with its own read-only connection; WAL lets them
proceed while a write is in progress. The connections and their threads are `db/sqlite/threads.py`;
what a transaction's caller is lent, `db/sqlite/connection.py`.

Reads: inline first, threads for the slow ones. Measured on the dev box (SQLite 3.40, Python
3.11, `json_group_array(json_object(...))` over 20 rows of a 100k-row table, 3000 runs): a read
through the thread pool costs ~60 us, the same read on the loop thread ~9 us; but a 100k-row scan
takes ~8 ms, which inline would stall every other request for. So a read first runs on a
loop-thread connection with a budget of INLINE_BUDGET_S enforced by the progress handler; a read
that exceeds it is interrupted and re-run on a reader thread (reads are side-effect free: reader
connections are `query_only`). Fast reads pay ~9 us, slow ones lose at most the budget.

The statement timeout is a progress handler comparing the clock with the job's deadline
(race-free, unlike `interrupt()` fired from a timer).

Schema changes by another process (`backstack migrate`, `db reset`, the sqlite3 shell): `schema()`
reads `PRAGMA schema_version` on the loop-thread connection (~10 us) when the last check is older
than SCHEMA_CHECK_S, and when it moved, reloads before answering (the request waits ~ms), so the
next request after such a commit plans against the new schema; under load, at most one request per
SCHEMA_CHECK_S pays for the check. A table missing from the cache re-checks before answering
PGRST205 (`SchemaReloads.recheck`), and a background poll every `schema_poll_seconds` renews the
cache of an idle server.

Do not nest: `transaction()` inside `transaction()` (or `execute_script` inside one) waits for
the writer lock it already holds; `fetch_*` inside a transaction reads committed data only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from backstack.core.errors import ApiError
from backstack.db.catalog import function_acl
from backstack.db.dialect import SQLITE, Dialect
from backstack.db.schema.cache import ReloadingSchema, SchemaReloads
from backstack.db.schema.model import Schema
from backstack.db.sqlite.capture import ensure_capture
from backstack.db.sqlite.connection import SqliteConnection, SqliteSyncConnection
from backstack.db.sqlite.filelock import WriterFileLock
from backstack.db.sqlite.functions import ConnState, Job
from backstack.db.sqlite.introspect import introspect
from backstack.db.sqlite.realtime_messages import ensure_realtime_messages
from backstack.db.sqlite.stats import AutoAnalyze
from backstack.db.sqlite.threads import ConnectionThreads
from backstack.db.sqlite.writes import run_script, split_statements

if TYPE_CHECKING:
    from backstack.config import Settings
    from backstack.core.caller import Caller
    from backstack.db.protocol import Params, Row, SyncConnection

T = TypeVar("T")
log = logging.getLogger("backstack.db")
INLINE_BUDGET_S = 0.002  # longest a read may hold the event loop before moving to a thread
SCHEMA_CHECK_S = 0.001  # `schema()` reads PRAGMA schema_version at most this often


class SqliteEngine(ReloadingSchema):
    """The `Engine` for the SQLite file `settings.sqlite_path`."""

    dialect: Dialect = SQLITE

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path = settings.sqlite_path
        self._schema = Schema(tables={})
        self._write_lock = asyncio.Lock()
        self._process_lock = WriterFileLock(Path(f"{self.path}-writer.lock"))
        self._analyze = AutoAnalyze()
        self._threads = ConnectionThreads(settings)
        self._poller: asyncio.Task[None] | None = None
        self._reloads = SchemaReloads(lambda: self._schema, self._introspect, self._schema_changed)
        self._checked_at = 0.0  # monotonic time of the last schema_version check by `schema()`
        self.schema_reloads = 0  # introspections run (tests read it)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        threads = self._threads
        if threads.writer is not None:
            return
        await threads.open_writer()
        await threads.on_writer(self._upgrade_catalogs)
        await threads.on_writer(lambda: self._analyze.start(threads.writer_state().conn))
        threads.open_readers()
        await self.reload_schema()
        self._poller = asyncio.get_running_loop().create_task(self._poll_schema())

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        await self._reloads.close()
        started = self._threads.writer is not None
        await self._threads.close()
        if started:
            self._process_lock.close()

    def _upgrade_catalogs(self) -> None:
        """Bring catalog tables written by an older backstack to the current layout (db.catalog.function_acl),
        and create the publication catalog and change outbox (db.sqlite.capture) and realtime.messages
        (db.sqlite.realtime_messages)."""
        with self._process_lock:
            function_acl.upgrade(self._threads.writer_state().conn)
            ensure_capture(self._threads.writer_state().conn)  # supabase_realtime exists from start
            ensure_realtime_messages(self._threads.writer_state().conn)  # so do realtime.messages and its RLS

    def register_function(self, name: str, narg: int, fn: Callable[..., Any], *, deterministic: bool = False) -> None:
        """Make a Python function callable from SQL on every connection (RPC, policies)."""
        self._threads.register_function(name, narg, fn, deterministic=deterministic)

    # ------------------------------------------------------------------ reads

    async def fetch_one(
        self, sql: str, params: Params = (), *, caller: Caller | None = None, settings: Mapping[str, str] | None = None
    ) -> Row | None:
        """One row of a read; `settings` are what `current_setting` (and `realtime.topic()`) answer in it,
        as `set_config(name, value, true)` would set them for a transaction on PostgreSQL."""
        row: Row | None = await self._read(lambda st: st.conn.execute(sql, params).fetchone(), sql, caller, settings)
        return row

    async def fetch_all(self, sql: str, params: Params = (), *, caller: Caller | None = None) -> list[Row]:
        rows: list[Row] = await self._read(lambda st: st.conn.execute(sql, params).fetchall(), sql, caller)
        return rows

    async def _read(
        self, fn: Callable[[ConnState], T], sql: str, caller: Caller | None, settings: Mapping[str, str] | None = None
    ) -> T:
        """Try the read inline within INLINE_BUDGET_S; past it, interrupt and run it on a reader thread."""
        deadline = self._threads.deadline()
        inline = self._threads.inline
        if inline is not None and inline.job is None:
            budget = time.monotonic() + INLINE_BUDGET_S
            job = Job(caller, min(deadline, budget) if deadline else budget, settings=settings)
            try:
                return self._threads.run(inline, job, fn, sql)
            except ApiError as error:
                if error.code != "57014" or (deadline and time.monotonic() >= deadline):
                    raise
        return await self._threads.read(Job(caller, deadline, settings=settings), fn, sql)

    # ------------------------------------------------------------------ writes

    @asynccontextmanager
    async def transaction(self, caller: Caller | None = None) -> AsyncIterator[SqliteConnection]:
        """`BEGIN IMMEDIATE` on the writer; commit on normal exit, roll back on any exception."""
        async with self._write_lock:
            writer = self._threads.writer_state()
            try:
                await self._threads.write(Job(caller), self._begin, "")
            except BaseException:  # cancelled while BEGIN ran: never leave the writer in a transaction
                await self._finish(writer, "ROLLBACK")
                raise
            conn = SqliteConnection(self._threads, caller)
            try:
                yield conn
            except BaseException:
                await self._finish(writer, "ROLLBACK")
                raise
            try:
                await self._threads.write(Job(caller), self._commit, "")
            except BaseException:
                await self._finish(writer, "ROLLBACK")
                raise
        self._check_schema_version(conn.schema_version_after)

    async def _finish(self, writer: ConnState, statement: str) -> None:
        """Roll back even when the task is being cancelled (the writer must never stay in a transaction)."""

        def run() -> None:
            try:
                if writer.conn.in_transaction:
                    writer.conn.execute(statement)
            finally:
                self._process_lock.release()

        future = self._threads.writer_future(run)
        with contextlib.suppress(Exception):
            await asyncio.shield(future)

    async def run_write(self, fn: Callable[[SyncConnection], T], caller: Caller | None = None) -> T:
        """BEGIN, `fn`, COMMIT in one job on the writer thread (rolled back if `fn` raises)."""
        async with self._write_lock:

            def body(state: ConnState) -> T:
                self._begin(state)
                try:
                    result = fn(SqliteSyncConnection(self._threads, state))
                    state.conn.execute("COMMIT")
                    self._analyze.after_commit(state.conn)
                    return result
                except BaseException:
                    if state.conn.in_transaction:
                        state.conn.execute("ROLLBACK")
                    raise
                finally:
                    self._process_lock.release()

            return await self._threads.write(Job(caller, self._threads.deadline()), body, "")

    async def write_one(
        self, sql: str, params: Params = (), *, caller: Caller | None = None, checked: bool = False
    ) -> Row | None:
        """One statement in a write transaction of its own (`run_write`); `checked` changes nothing here
        (SQLite keeps no session state per caller, so its statements carry no check column)."""
        return await self.run_write(lambda conn: conn.fetch_one(sql, params), caller)

    def _begin(self, state: ConnState) -> None:
        """On the writer thread: queue behind other processes' writers, then open the transaction."""
        self._process_lock.acquire()
        try:
            state.conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._process_lock.release()
            raise

    def _commit(self, state: ConnState) -> None:
        """On the writer thread: commit; the process lock is released only once the commit succeeded
        (a failed commit is rolled back by `_finish`, which releases it)."""
        state.conn.execute("COMMIT")
        self._analyze.after_commit(state.conn)
        self._process_lock.release()

    async def execute_script(self, sql: str) -> None:
        """Run `sql` statement by statement in one `BEGIN IMMEDIATE` transaction, without timeout."""
        statements = split_statements(sql)
        async with self._write_lock:

            def script(st: ConnState) -> int:
                with self._process_lock:
                    return run_script(st, statements, self._threads.translate)

            version = await self._threads.write(Job(), script, "")
        if str(version) != self._schema.fingerprint:
            await self.reload_schema()

    # ------------------------------------------------------------------ schema

    async def schema(self) -> Schema:
        """The cached schema, reloaded first when another connection changed it (see the module doc)."""
        now = time.monotonic()
        if now - self._checked_at >= SCHEMA_CHECK_S:
            self._checked_at = now
            for _ in range(2):  # a reload already running may have read its snapshot before the change
                version = self._schema_version_now()
                if version is None or version == self._schema.fingerprint:
                    break
                with contextlib.suppress(ApiError):
                    await asyncio.shield(self._reloads.join())
        return await self._reloads.settled()

    async def _introspect(self) -> Schema:
        job = Job()
        schema, names = await self._threads.read(job, lambda st: introspect(st.conn), "")
        if self._schema.fingerprint:  # not the first load: connections renew their planner statistics
            self._threads.generation += 1
        self._schema, self._threads.names = schema, names
        self.schema_reloads += 1
        return schema

    def _schema_version_now(self) -> str | None:
        """The database's schema version, read on the loop-thread connection (None: not now)."""
        inline = self._threads.inline
        if inline is None or inline.job is not None:
            return None
        try:
            return str(inline.conn.execute("PRAGMA schema_version").fetchone()[0])
        except sqlite3.Error:
            return None

    async def _schema_changed(self) -> bool:
        version = self._schema_version_now()
        if version is None:
            row = await self.fetch_one("PRAGMA schema_version")
            version = None if row is None else str(row[0])
        return version is not None and version != self._schema.fingerprint

    def _check_schema_version(self, version: int | None) -> None:
        if version is not None and str(version) != self._schema.fingerprint:
            self._reloads.join()

    async def _poll_schema(self) -> None:
        interval = max(0.05, self.settings.schema_poll_seconds)
        while True:
            await asyncio.sleep(interval)
            try:
                if await self._schema_changed():
                    await self._reloads.reload()
            except ApiError as exc:
                log.warning("schema poll failed: %s", exc.message)

    async def health(self) -> dict[str, Any]:
        try:
            await self.fetch_one("SELECT 1")
        except Exception as exc:
            return {"status": "unavailable", "engine": "sqlite", "error": getattr(exc, "message", "error")}
        return {
            "status": "ok",
            "engine": "sqlite",
            "readers": self._threads.readers,
            "writer_busy": self._write_lock.locked(),
            "schema_version": self._schema.fingerprint,
        }
