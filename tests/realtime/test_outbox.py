"""Until row changes are delivered, a worker trims the captured ones (realtime/outbox.py), on both engines."""

from __future__ import annotations

import asyncio

import pytest

from backstack.db.changes import EngineChangeOutbox
from backstack.db.engine import Engine
from backstack.realtime.outbox import OutboxTrimmer
from tests.conftest import ApplySql

pytestmark = pytest.mark.anyio


async def insert(engine: Engine, *ids: int) -> None:
    async with engine.transaction() as conn:
        for n in ids:
            await conn.execute(f"insert into t values ({n})")


async def until_empty(outbox: EngineChangeOutbox, seconds: float = 5) -> None:
    for _ in range(int(seconds / 0.05)):
        if not await outbox.changes_after(0):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the outbox was not trimmed")


async def test_the_trimmer_deletes_what_an_earlier_round_saw(engine: Engine, apply_sql: ApplySql) -> None:
    await apply_sql("create table t (id bigint primary key); alter publication supabase_realtime add table t")
    outbox = EngineChangeOutbox(engine)
    trimmer = OutboxTrimmer(outbox, every=0.2)
    await insert(engine, 1, 2)
    trimmer.start()
    try:
        assert len(await outbox.changes_after(0)) == 2  # nothing goes before a round has seen it
        await until_empty(outbox)
        await insert(engine, 3)
        await until_empty(outbox)
    finally:
        await trimmer.close()
