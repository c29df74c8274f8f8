"""Lending pooled PostgreSQL connections, each with the caller's session state in force.

Failure policy: every wait on the server is bounded by `db_connect_timeout` (connecting, acquiring
a pooled connection) and answers `Unavailable` (PGRST000/001/003) instead of hanging; a dead pooled
connection (PostgreSQL restarted, backend terminated) is replaced by the pool on the next acquire
(`expire` has it replace them all). A connection given back inside a transaction is rolled back
first, and one that cannot be is terminated. The engine (`db/postgres/engine.py`) decides what runs
on a connection and when a failed attempt is retried.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from backstack.db.errors import CONNECTION_MESSAGE, POOL_TIMEOUT_MESSAGE, is_connection_error, unavailable
from backstack.db.postgres.connection import rollback
from backstack.db.postgres.pool import ConnectionPool, PoolClosed
from backstack.db.postgres.session import SessionConnection, SessionState, remember, state_of

Conn = SessionConnection
log = logging.getLogger("backstack.db")
RETRYING_MESSAGE = "Database client error. Retrying the connection."


class PooledConnections:
    """The engine's connection pool, from `open` to `close`."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[Conn]],
        convert: Callable[[BaseException], BaseException],
        *,
        min_size: int,
        max_size: int,
        timeout: float,
    ) -> None:
        self._connect = connect
        self._convert = convert  # what to raise for a failure of internal work
        self._min_size = min(min_size, max_size)
        self._max_size = max_size
        self._timeout = timeout
        self._pool: ConnectionPool[Conn] | None = None

    @property
    def is_open(self) -> bool:
        return self._pool is not None

    async def open(self) -> None:
        """Fill the pool; fail now, not at the first request, when the server is unreachable."""
        pool: ConnectionPool[Conn] = ConnectionPool(self._connect, max_size=self._max_size, timeout=self._timeout)
        try:
            await pool.fill(self._min_size)
            if pool.size == 0:
                pool.release(await pool.acquire())
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            pool.terminate()
            raise unavailable("PGRST000", CONNECTION_MESSAGE) from exc
        self._pool = pool

    async def close(self) -> None:
        """Close the pool; what is still lent after 5 s is terminated."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            if not await pool.close(timeout=5):
                log.warning("PostgreSQL connections still in use after 5 s: terminated")

    def figures(self) -> dict[str, Any]:
        """The pool's size for `health()`; none when closed."""
        pool = self._pool
        if pool is None:
            return {}
        return {"pool_size": pool.size, "pool_idle": pool.idle, "pool_max": pool.max_size}

    @asynccontextmanager
    async def lend(self, state: SessionState | None) -> AsyncIterator[Conn]:
        """A pooled connection within `db_connect_timeout` (else `Unavailable`), with `state` in force
        (None: as it is; only the engine's setup, which reads the database's own defaults)."""
        conn = await self.acquire()
        try:
            if state is not None:
                try:
                    await ensure(conn, state)
                except BaseException as exc:
                    raise self._convert(exc) from None
            yield conn
        finally:
            await self.release(conn)

    async def acquire(self) -> Conn:
        if self._pool is None:
            raise unavailable("PGRST001", RETRYING_MESSAGE)
        try:
            return await self._pool.acquire()
        except TimeoutError:
            raise unavailable("PGRST003", POOL_TIMEOUT_MESSAGE, None) from None
        except PoolClosed:
            raise unavailable("PGRST001", RETRYING_MESSAGE) from None
        except Exception as exc:
            if is_connection_error(exc) or isinstance(exc, asyncpg.PostgresError):
                raise unavailable("PGRST000", CONNECTION_MESSAGE) from None
            raise

    async def release(self, conn: Conn) -> None:
        """Give `conn` back; a transaction left open is rolled back first (bounded), and a connection
        that cannot be rolled back is terminated (the pool then drops it)."""
        if not conn.is_closed() and conn.is_in_transaction():
            remember(conn, None)  # a rollback takes back session-level settings made in the transaction
            await rollback(conn)
        self.give_back(conn)

    def give_back(self, conn: Conn) -> None:
        if self._pool is None:
            conn.terminate()
        else:
            self._pool.release(conn)

    def expire(self) -> None:
        """After a dead connection, have the pool replace every connection it holds before reuse.

        A server restart or `pg_terminate_backend` kills all the pooled connections, but asyncpg
        learns of each only when it next reads from it (a backend exits asynchronously); without
        this the one retry can land on a second dead connection (measured: 11 of 30 reads failed
        right after terminating 4 pooled backends)."""
        if self._pool is not None:
            self._pool.expire()


async def ensure(conn: Conn, state: SessionState) -> None:
    """Put `state` in force on `conn` unless it is known to be (one round trip when not)."""
    known = state_of(conn)
    if known is state or known == state:
        return
    remember(conn, None)  # until the statement is known to have run
    await conn.execute(state.apply_sql())
    remember(conn, state)
