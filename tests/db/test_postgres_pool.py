"""ConnectionPool (db/postgres/pool.py) on real PostgreSQL connections: bounds, waits, expiry, close.

PostgreSQL only: the pool lends asyncpg connections; SQLite has no pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from backstack.db.postgres.pool import ConnectionPool, PoolClosed
from tests.conftest import create_pg_database, drop_pg_database, pg_url

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


@pytest.fixture
def dsn() -> Iterator[str]:
    name = create_pg_database()
    try:
        yield pg_url(name)
    finally:
        drop_pg_database(name)


@pytest.fixture
async def pool(dsn: str) -> AsyncIterator[ConnectionPool[asyncpg.Connection]]:
    async def connect() -> asyncpg.Connection:
        return await asyncpg.connect(dsn)

    made = ConnectionPool(connect, max_size=2, timeout=0.5)
    yield made
    made.terminate()


async def test_a_released_connection_is_reused_last_in_first_out(pool: ConnectionPool[asyncpg.Connection]) -> None:
    first, second = await pool.acquire(), await pool.acquire()
    assert pool.size == 2 and pool.idle == 0
    pool.release(first)
    pool.release(second)
    assert await pool.acquire() is second
    assert pool.idle == 1 and pool.size == 2


async def test_a_full_pool_makes_callers_wait_in_order_then_times_out(pool: ConnectionPool[asyncpg.Connection]) -> None:
    held = [await pool.acquire(), await pool.acquire()]
    first = asyncio.ensure_future(pool.acquire())
    second = asyncio.ensure_future(pool.acquire())
    await asyncio.sleep(0.05)
    pool.release(held[0])
    assert await first is held[0]
    assert not second.done()
    with pytest.raises(TimeoutError):
        await second
    assert pool.size == 2


async def test_a_waiter_cancelled_after_the_handover_passes_the_connection_on(
    pool: ConnectionPool[asyncpg.Connection],
) -> None:
    held = [await pool.acquire(), await pool.acquire()]
    waiter = asyncio.ensure_future(pool.acquire())
    await asyncio.sleep(0.05)
    pool.release(held[0])  # handed to `waiter`, which is cancelled before it resumes
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert pool.idle == 1 and pool.size == 2
    assert await pool.acquire() is held[0]


async def test_a_closed_connection_frees_its_slot_for_a_waiter(pool: ConnectionPool[asyncpg.Connection]) -> None:
    held = [await pool.acquire(), await pool.acquire()]
    waiter = asyncio.ensure_future(pool.acquire())
    await asyncio.sleep(0.05)
    held[0].terminate()
    pool.release(held[0])
    fresh = await waiter
    assert fresh is not held[0] and not fresh.is_closed()
    assert await fresh.fetchval("select 1") == 1
    assert pool.size == 2


async def test_expire_replaces_every_connection_opened_before_it(pool: ConnectionPool[asyncpg.Connection]) -> None:
    lent, idle = await pool.acquire(), await pool.acquire()
    pool.release(idle)
    pool.expire()
    assert idle.is_closed() and pool.idle == 0
    pool.release(lent)  # from the old generation: dropped, not kept
    assert lent.is_closed() and pool.size == 0
    fresh = await pool.acquire()
    assert fresh not in (lent, idle)


async def test_a_failing_connect_gives_its_slot_back(dsn: str) -> None:
    async def refuse() -> asyncpg.Connection:
        return await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/no_such_database_here")

    pool: ConnectionPool[asyncpg.Connection] = ConnectionPool(refuse, max_size=1, timeout=2)
    for _ in range(3):
        with pytest.raises(asyncpg.InvalidCatalogNameError):
            await pool.acquire()
    assert pool.size == 0


async def test_close_waits_for_lent_connections_then_refuses(pool: ConnectionPool[asyncpg.Connection]) -> None:
    lent = await pool.acquire()
    held = [lent, await pool.acquire()]
    waiter = asyncio.ensure_future(pool.acquire())
    await asyncio.sleep(0.05)
    closing = asyncio.ensure_future(pool.close(timeout=2))
    with pytest.raises(PoolClosed):
        await waiter
    for conn in held:
        pool.release(conn)
    assert await closing is True
    assert all(conn.is_closed() for conn in held)
    with pytest.raises(PoolClosed):
        await pool.acquire()


async def test_close_terminates_what_is_not_returned_in_time(pool: ConnectionPool[asyncpg.Connection]) -> None:
    kept = await pool.acquire()
    assert await pool.close(timeout=0.1) is False
    assert kept.is_closed()
    pool.release(kept)  # late: ignored
    assert pool.size == 0
