"""SqliteEngine: the embedded database, one WAL file, one writer and a few readers per process.

Writes are serialised twice: an `asyncio.Lock` orders this process's transactions on its single
writer connection (a one-thread executor, so the connection never changes thread), and
`BEGIN IMMEDIATE` takes SQLite's file lock up front, so another process (`serve --workers N`,
`backstack migrate`) makes us wait up to `sqlite_busy_timeout_ms` instead of failing half-way.
Reads run on `sqlite_readers` threads, each with its own read-only connection; WAL lets them
proceed while a write is in progress.

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
import re
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from backstack.core.errors import ApiError
from backstack.db.catalog import function_acl
from backstack.db.dialect import SQLITE, Dialect
from backstack.db.errors import (
    SqliteNames,
    translate_sqlite,
)
from backstack.db.schema.cache import ReloadingSchema, SchemaReloads
from backstack.db.schema.model import Schema
from backstack.db.sqlite.filelock import WriterFileLock
from backstack.db.sqlite.functions import ConnState, Job, install
from backstack.db.sqlite.introspect import introspect
from backstack.db.sqlite.stats import AutoAnalyze
from backstack.db.sqlite.writes import run_script, split_statements, write_statement

if TYPE_CHECKING:
    from backstack.config import Settings
    from backstack.core.caller import Caller
    from backstack.db.engine import Params, Row, SyncConnection

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
        self._names = SqliteNames()
        self._write_lock = asyncio.Lock()
        self._process_lock = WriterFileLock(Path(f"{self.path}-writer.lock"))
        self._writer: ConnState | None = None
        self._analyze = AutoAnalyze()
        self._generation = 0  # bumped by every schema reload after the first (see _renew)
        self._write_pool: ThreadPoolExecutor | None = None
        self._read_pool: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._readers: list[ConnState] = []
        self._inline: ConnState | None = None
        self._readers_lock = threading.Lock()
        self._functions: list[tuple[str, int, Callable[..., Any], bool]] = []
        self._poller: asyncio.Task[None] | None = None
        self._reloads = SchemaReloads(lambda: self._schema, self._introspect, self._schema_changed)
        self._checked_at = 0.0  # monotonic time of the last schema_version check by `schema()`
        self.schema_reloads = 0  # introspections run (tests read it)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._writer is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write_pool = ThreadPoolExecutor(1, thread_name_prefix="bs-sqlite-write")
        self._writer = await self._on_writer(lambda: self._open(readonly=False))
        await self._on_writer(self._upgrade_catalogs)
        await self._on_writer(lambda: self._analyze.start(self._writer_state().conn))
        self._read_pool = ThreadPoolExecutor(
            max(1, self.settings.sqlite_readers),
            thread_name_prefix="bs-sqlite-read",
            initializer=self._open_reader,
        )
        self._inline = self._open(readonly=True)
        await self.reload_schema()
        self._poller = asyncio.get_running_loop().create_task(self._poll_schema())

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        await self._reloads.close()
        if self._read_pool is not None:
            self._read_pool.shutdown(wait=True)
            self._read_pool = None
        with self._readers_lock:
            for state in self._readers:
                state.conn.close()
            self._readers.clear()
        if self._inline is not None:
            self._inline.conn.close()
            self._inline = None
        if self._writer is not None and self._write_pool is not None:
            writer = self._writer
            await self._on_writer(lambda: _close_writer(writer.conn))
            self._process_lock.close()
            self._write_pool.shutdown(wait=True)
        self._writer = None
        self._write_pool = None

    def _upgrade_catalogs(self) -> None:
        """Bring catalog tables written by an older backstack to the current layout (db.catalog.function_acl)."""
        with self._process_lock:
            function_acl.upgrade(self._writer_state().conn)

    def _open(self, *, readonly: bool) -> ConnState:
        state = ConnState(self._connect(readonly=readonly), extra=list(self._functions), generation=self._generation)
        install(state)
        return state

    def _renew(self, state: ConnState) -> None:
        """Give `state` a fresh connection: SQLite reads planner statistics (ANALYZE) only on open."""
        old = state.conn
        state.conn = self._connect(readonly=state is not self._writer)
        state.generation = self._generation
        install(state)
        old.close()

    def _connect(self, *, readonly: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            isolation_level=None,
            check_same_thread=False,
            timeout=self.settings.sqlite_busy_timeout_ms / 1000,
            cached_statements=256,
        )
        conn.execute(f"PRAGMA busy_timeout = {int(self.settings.sqlite_busy_timeout_ms)}")
        if not readonly:
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self.settings.sqlite_synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        if readonly:
            conn.execute("PRAGMA query_only = ON")
        return conn

    def _open_reader(self) -> None:
        state = self._open(readonly=True)
        self._local.state = state
        with self._readers_lock:
            self._readers.append(state)

    def register_function(self, name: str, narg: int, fn: Callable[..., Any], *, deterministic: bool = False) -> None:
        """Make a Python function callable from SQL on every connection (RPC, policies)."""
        self._functions.append((name, narg, fn, deterministic))
        with self._readers_lock:
            states = [*self._readers, *(s for s in (self._writer, self._inline) if s is not None)]
        for state in states:
            state.extra.append((name, narg, fn, deterministic))
            state.conn.create_function(name, narg, fn, deterministic=deterministic)

    # ------------------------------------------------------------------ running jobs

    async def _on_writer(self, fn: Callable[[], T]) -> T:
        if self._write_pool is None:
            raise RuntimeError("SqliteEngine is not started")
        return await asyncio.get_running_loop().run_in_executor(self._write_pool, fn)

    def _deadline(self) -> float:
        timeout = self.settings.statement_timeout_ms
        return time.monotonic() + timeout / 1000 if timeout > 0 else 0.0

    async def _job(
        self, pool: ThreadPoolExecutor | None, state: ConnState | None, job: Job, fn: Callable[[ConnState], T], sql: str
    ) -> T:
        """Run `fn` on a connection in `pool`'s thread; cancellation interrupts it."""
        if pool is None:
            raise RuntimeError("SqliteEngine is not started")

        def run() -> T:
            st = state if state is not None else self._local.state
            return self._run(st, job, fn, sql)

        future = asyncio.get_running_loop().run_in_executor(pool, run)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            job.cancelled = True
            with contextlib.suppress(BaseException):
                await future
            raise

    def _run(self, state: ConnState, job: Job, fn: Callable[[ConnState], T], sql: str) -> T:
        if state.generation != self._generation and not state.conn.in_transaction:
            self._renew(state)
        state.job, state.error = job, None
        try:
            return fn(state)
        except sqlite3.Error as exc:
            raise self._translate(state, exc, sql) from None
        finally:
            state.job = None

    def _translate(self, state: ConnState, exc: sqlite3.Error, sql: str) -> ApiError:
        if state.error is not None:
            return state.error
        job = state.job
        anonymous = job is None or job.caller is None or job.caller.is_anonymous
        error = translate_sqlite(exc, sql, self._names, anonymous=anonymous)
        if error.code == "XX000":
            log.warning("sqlite error: %s", exc)
        return error

    # ------------------------------------------------------------------ reads

    async def fetch_one(self, sql: str, params: Params = (), *, caller: Caller | None = None) -> Row | None:
        row: Row | None = await self._read(lambda st: st.conn.execute(sql, params).fetchone(), sql, caller)
        return row

    async def fetch_all(self, sql: str, params: Params = (), *, caller: Caller | None = None) -> list[Row]:
        rows: list[Row] = await self._read(lambda st: st.conn.execute(sql, params).fetchall(), sql, caller)
        return rows

    async def _read(self, fn: Callable[[ConnState], T], sql: str, caller: Caller | None) -> T:
        """Try the read inline within INLINE_BUDGET_S; past it, interrupt and run it on a reader thread."""
        deadline = self._deadline()
        inline = self._inline
        if inline is not None and inline.job is None:
            budget = time.monotonic() + INLINE_BUDGET_S
            job = Job(caller, min(deadline, budget) if deadline else budget)
            try:
                return self._run(inline, job, fn, sql)
            except ApiError as error:
                if error.code != "57014" or (deadline and time.monotonic() >= deadline):
                    raise
        return await self._job(self._read_pool, None, Job(caller, deadline), fn, sql)

    # ------------------------------------------------------------------ writes

    @asynccontextmanager
    async def transaction(self, caller: Caller | None = None) -> AsyncIterator[SqliteConnection]:
        """`BEGIN IMMEDIATE` on the writer; commit on normal exit, roll back on any exception."""
        async with self._write_lock:
            writer = self._writer_state()
            try:
                await self._job(self._write_pool, writer, Job(caller), self._begin, "")
            except BaseException:  # cancelled while BEGIN ran: never leave the writer in a transaction
                await self._finish(writer, "ROLLBACK")
                raise
            conn = SqliteConnection(self, writer, caller)
            try:
                yield conn
            except BaseException:
                await self._finish(writer, "ROLLBACK")
                raise
            try:
                await self._job(self._write_pool, writer, Job(caller), self._commit, "")
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

        future = asyncio.get_running_loop().run_in_executor(self._write_pool, run)
        with contextlib.suppress(Exception):
            await asyncio.shield(future)

    async def run_write(self, fn: Callable[[SyncConnection], T], caller: Caller | None = None) -> T:
        """BEGIN, `fn`, COMMIT in one job on the writer thread (rolled back if `fn` raises)."""
        async with self._write_lock:
            writer = self._writer_state()

            def body(state: ConnState) -> T:
                self._begin(state)
                try:
                    result = fn(SqliteSyncConnection(self, state))
                    state.conn.execute("COMMIT")
                    self._analyze.after_commit(state.conn)
                    return result
                except BaseException:
                    if state.conn.in_transaction:
                        state.conn.execute("ROLLBACK")
                    raise
                finally:
                    self._process_lock.release()

            return await self._job(self._write_pool, writer, Job(caller, self._deadline()), body, "")

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

    def _writer_state(self) -> ConnState:
        if self._writer is None:
            raise RuntimeError("SqliteEngine is not started")
        return self._writer

    async def execute_script(self, sql: str) -> None:
        """Run `sql` statement by statement in one `BEGIN IMMEDIATE` transaction, without timeout."""
        statements = split_statements(sql)
        async with self._write_lock:
            writer = self._writer_state()

            def script(st: ConnState) -> int:
                with self._process_lock:
                    return run_script(st, statements, self._translate)

            version = await self._job(self._write_pool, writer, Job(), script, "")
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
        schema, names = await self._job(self._read_pool, None, job, lambda st: introspect(st.conn), "")
        if self._schema.fingerprint:  # not the first load: connections renew their planner statistics
            self._generation += 1
        self._schema, self._names = schema, names
        self.schema_reloads += 1
        return schema

    def _schema_version_now(self) -> str | None:
        """The database's schema version, read on the loop-thread connection (None: not now)."""
        inline = self._inline
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
            "readers": len(self._readers),
            "writer_busy": self._write_lock.locked(),
            "schema_version": self._schema.fingerprint,
        }


class SqliteSyncConnection:
    """The writer inside `run_write`, on the writer thread: statements run directly, errors translated."""

    def __init__(self, engine: SqliteEngine, state: ConnState) -> None:
        self._engine = engine
        self._state = state

    def _call(self, sql: str, params: Params, fetch: bool) -> Any:
        try:
            return write_statement(self._state.conn, sql, params, fetch, self._engine._names)
        except sqlite3.Error as exc:
            raise self._engine._translate(self._state, exc, sql) from None

    def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        rows: list[Row] = self._call(sql, params, True)
        return rows[0] if rows else None

    def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        rows: list[Row] = self._call(sql, params, True)
        return rows

    def execute(self, sql: str, params: Params = ()) -> int:
        count: int = self._call(sql, params, False)
        return count


class SqliteConnection:
    """The writer, inside a transaction opened by `SqliteEngine.transaction`."""

    def __init__(self, engine: SqliteEngine, state: ConnState, caller: Caller | None) -> None:
        self._engine = engine
        self._state = state
        self._caller = caller
        self.schema_version_after: int | None = None

    async def _call(self, sql: str, params: Params, fetch: bool) -> Any:
        engine = self._engine
        job = Job(self._caller, engine._deadline())
        names = engine._names
        result = await engine._job(
            engine._write_pool, self._state, job, lambda st: write_statement(st.conn, sql, params, fetch, names), sql
        )
        if _may_change_schema(sql):
            self.schema_version_after = await engine._job(engine._write_pool, self._state, Job(), _schema_version, "")
        return result

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        rows: list[Row] = await self._call(sql, params, True)
        return rows[0] if rows else None

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        rows: list[Row] = await self._call(sql, params, True)
        return rows

    async def execute(self, sql: str, params: Params = ()) -> int:
        count: int = await self._call(sql, params, False)
        return count


_DDL = re.compile(r"^\s*(create|drop|alter)\b", re.IGNORECASE)


def _may_change_schema(sql: str) -> bool:
    return _DDL.match(sql) is not None


def _schema_version(state: ConnState) -> int:
    version: int = state.conn.execute("PRAGMA schema_version").fetchone()[0]
    return version


def _close_writer(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        conn.execute("PRAGMA optimize")
    conn.close()
