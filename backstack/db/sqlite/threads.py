"""The SQLite connections of one engine and the threads they live on.

One writer connection on a one-thread executor (so the connection never changes thread),
`sqlite_readers` reader threads each with its own read-only (`query_only`) connection, and one
read-only connection on the loop thread for inline reads. Every connection gets the SQL functions
(`db/sqlite/functions.py`, plus those registered later), and is renewed before its next job after a
schema reload (`generation`): SQLite reads planner statistics (ANALYZE) only on open.

A job runs with its `Job` (caller, deadline) set on the connection, which the progress handler
reads for the statement timeout, and its sqlite3 errors translated to ApiErrors. What runs when,
and under which lock, is the engine's (`db/sqlite/engine.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from backstack.db.errors import SqliteNames, translate_sqlite
from backstack.db.sqlite.functions import ConnState, Job, install

if TYPE_CHECKING:
    from backstack.config import Settings
    from backstack.core.errors import ApiError

T = TypeVar("T")
log = logging.getLogger("backstack.db")
NOT_STARTED = "SqliteEngine is not started"


class ConnectionThreads:
    """The writer, the readers and the inline connection, from `open_writer` to `close`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path = settings.sqlite_path
        self.names = SqliteNames()  # the schema's names for error messages (set at each reload)
        self.generation = 0  # bumped by every schema reload after the first (see `_renew`)
        self.writer: ConnState | None = None
        self.inline: ConnState | None = None  # the loop thread's read-only connection
        self._write_pool: ThreadPoolExecutor | None = None
        self._read_pool: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._readers: list[ConnState] = []
        self._readers_lock = threading.Lock()
        self._functions: list[tuple[str, int, Callable[..., Any], bool]] = []

    @property
    def readers(self) -> int:
        return len(self._readers)

    async def open_writer(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write_pool = ThreadPoolExecutor(1, thread_name_prefix="bs-sqlite-write")
        self.writer = await self.on_writer(lambda: self._open(readonly=False))

    def open_readers(self) -> None:
        self._read_pool = ThreadPoolExecutor(
            max(1, self.settings.sqlite_readers),
            thread_name_prefix="bs-sqlite-read",
            initializer=self._open_reader,
        )
        self.inline = self._open(readonly=True)

    async def close(self) -> None:
        """Close the readers, then the writer (after `PRAGMA optimize`), each on its thread."""
        if self._read_pool is not None:
            self._read_pool.shutdown(wait=True)
            self._read_pool = None
        with self._readers_lock:
            for state in self._readers:
                state.conn.close()
            self._readers.clear()
        if self.inline is not None:
            self.inline.conn.close()
            self.inline = None
        if self.writer is not None and self._write_pool is not None:
            writer = self.writer
            await self.on_writer(lambda: _close_writer(writer.conn))
            self._write_pool.shutdown(wait=True)
        self.writer = None
        self._write_pool = None

    def writer_state(self) -> ConnState:
        if self.writer is None:
            raise RuntimeError(NOT_STARTED)
        return self.writer

    def _open(self, *, readonly: bool) -> ConnState:
        state = ConnState(self._connect(readonly=readonly), extra=list(self._functions), generation=self.generation)
        install(state)
        return state

    def _renew(self, state: ConnState) -> None:
        """Give `state` a fresh connection: SQLite reads planner statistics (ANALYZE) only on open."""
        old = state.conn
        state.conn = self._connect(readonly=state is not self.writer)
        state.generation = self.generation
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

    def register_function(self, name: str, narg: int, fn: Callable[..., Any], *, deterministic: bool) -> None:
        """Make a Python function callable from SQL on every connection, open or to come."""
        self._functions.append((name, narg, fn, deterministic))
        with self._readers_lock:
            states = [*self._readers, *(s for s in (self.writer, self.inline) if s is not None)]
        for state in states:
            state.extra.append((name, narg, fn, deterministic))
            state.conn.create_function(name, narg, fn, deterministic=deterministic)

    # ------------------------------------------------------------------ running jobs

    async def on_writer(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the writer thread, as it is (no job, no translation)."""
        if self._write_pool is None:
            raise RuntimeError(NOT_STARTED)
        return await asyncio.get_running_loop().run_in_executor(self._write_pool, fn)

    def writer_future(self, fn: Callable[[], None]) -> asyncio.Future[None]:
        """`fn` submitted to the writer thread, for a clean-up that must run even when cancelled."""
        return asyncio.get_running_loop().run_in_executor(self._write_pool, fn)

    def deadline(self) -> float:
        """When a statement started now times out (0: never)."""
        timeout = self.settings.statement_timeout_ms
        return time.monotonic() + timeout / 1000 if timeout > 0 else 0.0

    async def write(self, job: Job, fn: Callable[[ConnState], T], sql: str) -> T:
        """Run `fn` on the writer connection, on its thread."""
        return await self._job(self._write_pool, self.writer_state(), job, fn, sql)

    async def read(self, job: Job, fn: Callable[[ConnState], T], sql: str) -> T:
        """Run `fn` on a reader thread's connection."""
        return await self._job(self._read_pool, None, job, fn, sql)

    async def _job(
        self, pool: ThreadPoolExecutor | None, state: ConnState | None, job: Job, fn: Callable[[ConnState], T], sql: str
    ) -> T:
        """Run `fn` on a connection in `pool`'s thread; cancellation interrupts it."""
        if pool is None:
            raise RuntimeError(NOT_STARTED)

        def run() -> T:
            st = state if state is not None else self._local.state
            return self.run(st, job, fn, sql)

        future = asyncio.get_running_loop().run_in_executor(pool, run)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            job.cancelled = True
            with contextlib.suppress(BaseException):
                await future
            raise

    def run(self, state: ConnState, job: Job, fn: Callable[[ConnState], T], sql: str) -> T:
        """Run `fn` here and now on `state` (renewed first when a reload outdated it)."""
        if state.generation != self.generation and not state.conn.in_transaction:
            self._renew(state)
        state.job, state.error = job, None
        try:
            return fn(state)
        except sqlite3.Error as exc:
            raise self.translate(state, exc, sql) from None
        finally:
            state.job = None

    def translate(self, state: ConnState, exc: sqlite3.Error, sql: str) -> ApiError:
        if state.error is not None:
            return state.error
        job = state.job
        anonymous = job is None or job.caller is None or job.caller.is_anonymous
        error = translate_sqlite(exc, sql, self.names, anonymous=anonymous)
        if error.code == "XX000":
            log.warning("sqlite error: %s", exc)
        return error


def _close_writer(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        conn.execute("PRAGMA optimize")
    conn.close()
