"""Variant A, today's shape: backstack's own pool lending asyncpg connections (FLOOR_CONNS per worker, all
opened at startup), one `conn.fetchrow` per request, i.e. one Bind/Execute/Sync round trip on a connection
that carries no other statement meanwhile. The pool is imported from backstack itself
(backstack/db/postgres/pool.py), so the floor pays the same acquire/release as the product.

Run: granian --interface asgi --loop uvloop --workers 2 app_asyncpg:app (from this directory).
"""

from __future__ import annotations

import asyncpg
from floor_common import CONNS, DSN, W2_SQL, make_app

from backstack.db.postgres.pool import ConnectionPool

_pool: ConnectionPool[asyncpg.Connection] | None = None


async def _connect() -> asyncpg.Connection:
    return await asyncpg.connect(DSN, server_settings={"application_name": "floor-asyncpg"})


async def _startup() -> None:
    global _pool
    _pool = ConnectionPool(_connect, max_size=CONNS, timeout=5.0)
    await _pool.fill(CONNS)  # every backend exists before the measurement, so the runner sees them all


async def _read(uuid: str) -> bytes:
    assert _pool is not None
    conn = await _pool.acquire()
    try:
        row = await conn.fetchrow(W2_SQL, uuid)
    finally:
        _pool.release(conn)
    assert row is not None
    return str(row[0]).encode()


app = make_app(_read, _startup)
