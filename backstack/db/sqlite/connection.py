"""The writer as the Engine protocol lends it out: inside `transaction()` (async, one job per
statement) and inside `run_write` (on the writer thread, statements run directly).

A statement that may change the schema (CREATE/DROP/ALTER) has the schema version read after it,
so the engine reloads its cache once the transaction commits.
"""

from __future__ import annotations

import re
import sqlite3
from typing import TYPE_CHECKING, Any

from backstack.db.sqlite.functions import ConnState, Job
from backstack.db.sqlite.writes import write_statement

if TYPE_CHECKING:
    from backstack.core.caller import Caller
    from backstack.db.protocol import Params, Row
    from backstack.db.sqlite.threads import ConnectionThreads

_DDL = re.compile(r"^\s*(create|drop|alter)\b", re.IGNORECASE)


class SqliteSyncConnection:
    """The writer inside `run_write`, on the writer thread: statements run directly, errors translated."""

    def __init__(self, threads: ConnectionThreads, state: ConnState) -> None:
        self._threads = threads
        self._state = state

    def _call(self, sql: str, params: Params, fetch: bool) -> Any:
        try:
            return write_statement(self._state.conn, sql, params, fetch, self._threads.names)
        except sqlite3.Error as exc:
            raise self._threads.translate(self._state, exc, sql) from None

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

    def __init__(self, threads: ConnectionThreads, caller: Caller | None) -> None:
        self._threads = threads
        self._caller = caller
        self.schema_version_after: int | None = None

    async def _call(self, sql: str, params: Params, fetch: bool) -> Any:
        threads = self._threads
        job = Job(self._caller, threads.deadline())
        names = threads.names
        result = await threads.write(job, lambda st: write_statement(st.conn, sql, params, fetch, names), sql)
        if _DDL.match(sql) is not None:
            self.schema_version_after = await threads.write(Job(), _schema_version, "")
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


def _schema_version(state: ConnState) -> int:
    version: int = state.conn.execute("PRAGMA schema_version").fetchone()[0]
    return version
