"""Variant A', for reference: `asyncpg.Pool` (FLOOR_CONNS per worker), one `pool.fetchrow` per request.

Not backstack's shape: asyncpg.Pool resets a connection on every release (a second round trip: RESET ALL,
UNLISTEN, CLOSE ALL, advisory unlock), which is why backstack has its own pool (app_asyncpg.py uses it).

Run: granian --interface asgi --loop uvloop --workers 2 app_asyncpgpool:app (from this directory).
"""

from __future__ import annotations

import asyncpg
from floor_common import CONNS, DSN, W2_SQL, make_app

_pool: asyncpg.Pool | None = None


async def _startup() -> None:
    global _pool
    # min_size = max_size: every backend exists before the measurement, so the runner can see them all.
    _pool = await asyncpg.create_pool(
        DSN, min_size=CONNS, max_size=CONNS, server_settings={"application_name": "floor-asyncpgpool"}
    )


async def _read(uuid: str) -> bytes:
    assert _pool is not None
    row = await _pool.fetchrow(W2_SQL, uuid)
    assert row is not None
    return str(row[0]).encode()


app = make_app(_read, _startup)
