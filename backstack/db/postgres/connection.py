"""What a PostgreSQL statement's outcome means to the engine: a transaction's connection handle,
rows changed from a command tag, which errors become ApiErrors, and a bounded rollback.

Kept apart from `engine.py` (pool, session state, schema) because `PostgresEngine` and the
`Connection` it lends out inside `transaction()` both need them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import asyncpg

from backstack.core.errors import ApiError
from backstack.db.errors import is_connection_error

if TYPE_CHECKING:
    from backstack.db.postgres.session import SessionConnection
    from backstack.db.protocol import Params, Row

T = TypeVar("T")


class PostgresConnection:
    """A pooled connection inside a transaction opened by `PostgresEngine.transaction`; `convert`
    turns a failure into what to raise (the engine's translation for the caller)."""

    def __init__(self, conn: SessionConnection, convert: Callable[[BaseException], BaseException]) -> None:
        self._conn = conn
        self._convert = convert

    async def _run(self, fn: Callable[[], Awaitable[T]]) -> T:
        try:
            return await fn()
        except BaseException as exc:
            raise self._convert(exc) from None

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        record = await self._run(lambda: self._conn.fetchrow(sql, *params))
        return tuple(record) if record is not None else None

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        records = await self._run(lambda: self._conn.fetch(sql, *params))
        return [tuple(r) for r in records]

    async def execute(self, sql: str, params: Params = ()) -> int:
        status = await self._run(lambda: self._conn.execute(sql, *params))
        return rowcount(status)


def rowcount(status: str) -> int:
    """Rows changed, from a command tag such as `INSERT 0 3`, `UPDATE 2`, `DELETE 0`."""
    last = status.rsplit(" ", 1)[-1] if status else ""
    return int(last) if last.isdigit() else 0


def translatable(exc: BaseException) -> bool:
    """Driver and socket errors become ApiErrors; cancellation and our own errors pass through."""
    if isinstance(exc, (asyncio.CancelledError, ApiError, KeyboardInterrupt, SystemExit, GeneratorExit)):
        return False
    return isinstance(exc, (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)) or (
        is_connection_error(exc)
    )


async def rollback(conn: SessionConnection) -> None:
    """Roll back whatever is open; a broken connection is terminated (the pool replaces it)."""
    if conn.is_closed():
        return
    try:
        await asyncio.wait_for(asyncio.shield(conn.execute("rollback")), 5)
    except BaseException:
        conn.terminate()
