"""Variant B: FLOOR_CONNS pipelined connections per worker (pgwire.py), requests' statements batched per tick.

Run: FLOOR_CONNS=2 granian --interface asgi --loop uvloop --workers 2 app_pipeline:app (from this directory).
"""

from __future__ import annotations

from floor_common import CONNS, DATABASE, HOST, PORT, USER, W2_SQL, make_app
from pgwire import PipelinePool

_pool: PipelinePool | None = None


async def _startup() -> None:
    global _pool
    _pool = await PipelinePool.open(CONNS, HOST, PORT, USER, DATABASE, W2_SQL)


async def _read(uuid: str) -> bytes:
    assert _pool is not None
    rows = await _pool.query(uuid.encode())
    body = rows[0][0]
    assert body is not None
    return body


app = make_app(_read, _startup)
