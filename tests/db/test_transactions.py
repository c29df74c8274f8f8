"""Transactions, reads and the Engine protocol basics, on every engine."""

from __future__ import annotations

import pytest

from backstack.core.caller import Caller
from backstack.core.errors import ApiError
from backstack.db.engine import Engine

pytestmark = pytest.mark.anyio

SCHEMA = "create table items (id integer primary key, name text not null, qty integer)"


def ph(engine: Engine, index: int) -> str:
    return engine.dialect.placeholder(index)


async def test_commit_is_visible_to_readers(engine: Engine) -> None:
    await engine.execute_script(SCHEMA)
    async with engine.transaction() as conn:
        changed = await conn.execute(
            f"insert into items (id, name, qty) values (1, {ph(engine, 1)}, 3), (2, 'b', 4)", ["a"]
        )
        assert changed == 2
        assert await conn.fetch_one("select count(*) from items") == (2,)
    assert await engine.fetch_all("select id, name from items order by id") == [(1, "a"), (2, "b")]
    assert await engine.fetch_one("select name from items where id = 2") == ("b",)
    assert await engine.fetch_one("select name from items where id = 99") is None


async def test_exception_rolls_back(engine: Engine) -> None:
    await engine.execute_script(SCHEMA)
    with pytest.raises(RuntimeError):
        async with engine.transaction() as conn:
            await conn.execute("insert into items (id, name) values (1, 'a')")
            raise RuntimeError("boom")
    assert await engine.fetch_all("select * from items") == []


async def test_database_error_rolls_back_whole_transaction(engine: Engine) -> None:
    await engine.execute_script(SCHEMA)
    with pytest.raises(ApiError) as info:
        async with engine.transaction() as conn:
            await conn.execute("insert into items (id, name) values (1, 'a')")
            await conn.execute("insert into items (id, name) values (1, 'dup')")
    assert info.value.code == "23505"
    assert await engine.fetch_all("select * from items") == []
    async with engine.transaction() as conn:  # the writer/pool is usable again
        await conn.execute("insert into items (id, name) values (1, 'a')")
    assert await engine.fetch_one("select count(*) from items") == (1,)


async def test_returning_and_rowcounts(engine: Engine) -> None:
    await engine.execute_script(SCHEMA)
    async with engine.transaction() as conn:
        rows = await conn.fetch_all("insert into items (id, name) values (1, 'a'), (2, 'b') returning id, name")
        assert sorted(rows) == [(1, "a"), (2, "b")]
        assert await conn.execute("update items set qty = 1") == 2
        assert await conn.execute("delete from items where id = 1") == 1
        assert await conn.execute("delete from items where id = 1") == 0


async def test_caller_reads_and_writes(engine: Engine) -> None:
    await engine.execute_script(SCHEMA)
    caller = Caller(role="authenticated", claims={"sub": "u1", "role": "authenticated"})
    async with engine.transaction(caller) as conn:
        await conn.execute("insert into items (id, name) values (1, 'a')")
    assert await engine.fetch_all("select name from items", caller=caller) == [("a",)]


async def test_sequential_transactions_are_serialised(engine: Engine) -> None:
    import anyio

    await engine.execute_script(SCHEMA + "; insert into items (id, name, qty) values (1, 'counter', 0)")

    async def bump() -> None:
        async with engine.transaction() as conn:
            row = await conn.fetch_one(
                "select qty from items where id = 1 for update"
                if not engine.dialect.is_sqlite
                else "select qty from items where id = 1"
            )
            assert row is not None
            await conn.execute(f"update items set qty = {ph(engine, 1)} where id = 1", [row[0] + 1])

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(bump)
    assert await engine.fetch_one("select qty from items where id = 1") == (20,)


async def test_health(engine: Engine) -> None:
    health = await engine.health()
    assert health["status"] == "ok"
    assert health["engine"] == engine.dialect.name


async def test_execute_script_is_one_transaction(engine: Engine) -> None:
    await engine.execute_script(SCHEMA)
    with pytest.raises(ApiError):
        await engine.execute_script("insert into items (id, name) values (1, 'a'); insert into nope values (1)")
    assert await engine.fetch_all("select * from items") == []
