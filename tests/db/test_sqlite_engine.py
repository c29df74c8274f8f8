"""SQLite-specific engine behaviour: pragmas, registered functions, the inline read budget."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import anyio
import pytest

from backstack.core.caller import Caller
from backstack.core.errors import ApiError
from backstack.db.sqlite.engine import SqliteEngine
from backstack.db.sqlite.writes import split_statements
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio


@pytest.fixture
async def sqlite_engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    # The slow-read test's 1M-row query takes 2-4 s on a busy 2-core box: keep it clear of the statement timeout.
    settings = make_settings(
        tmp_path, sqlite_synchronous="FULL", sqlite_busy_timeout_ms=1234, statement_timeout_ms=60_000
    )
    engine = SqliteEngine(settings)
    await engine.start()
    try:
        yield engine
    finally:
        await engine.close()


async def test_pragmas(sqlite_engine: SqliteEngine) -> None:
    assert await sqlite_engine.fetch_one("pragma journal_mode") == ("wal",)
    assert await sqlite_engine.fetch_one("pragma foreign_keys") == (1,)
    assert await sqlite_engine.fetch_one("pragma busy_timeout") == (1234,)
    assert await sqlite_engine.fetch_one("pragma synchronous") == (2,)  # FULL
    async with sqlite_engine.transaction() as conn:
        assert await conn.fetch_one("pragma synchronous") == (2,)
        assert await conn.fetch_one("pragma foreign_keys") == (1,)


async def test_readers_are_read_only(sqlite_engine: SqliteEngine) -> None:
    await sqlite_engine.execute_script("create table t (x int)")
    with pytest.raises(ApiError) as info:
        await sqlite_engine.fetch_all("insert into t values (1) returning x")
    assert info.value.code == "25006"


async def test_registered_functions(sqlite_engine: SqliteEngine) -> None:
    row = await sqlite_engine.fetch_one(
        "select regexp('^a.c$', 'abc'), 'ABC' regexp 'b', iregexp('b', 'ABC'), "
        "like_cs('a%', 'abc'), like_cs('A%', 'abc'), ilike('A_C', 'abc'), like_cs('100\\%', '100%'), "
        "regexp('x', null)"
    )
    assert row == (1, 0, 1, 1, 0, 1, 1, None)
    generated, now = await sqlite_engine.fetch_one("select gen_random_uuid(), now()") or ("", "")
    assert uuid.UUID(generated).version == 4 and now.endswith("+00:00")
    with pytest.raises(ApiError) as info:
        await sqlite_engine.fetch_one("select regexp('(', 'x')")
    assert info.value.code == "2201B"


async def test_caller_functions(sqlite_engine: SqliteEngine) -> None:
    caller = Caller(role="authenticated", claims={"sub": "u-1", "role": "authenticated", "email": "a@b.co"})
    row = await sqlite_engine.fetch_one("select auth_uid(), auth_role(), auth_jwt() ->> 'email'", caller=caller)
    assert row == ("u-1", "authenticated", "a@b.co")
    assert await sqlite_engine.fetch_one("select auth_uid(), auth_role()") == (None, None)
    async with sqlite_engine.transaction(caller) as conn:
        assert await conn.fetch_one("select auth_uid()") == ("u-1",)


async def test_register_function(sqlite_engine: SqliteEngine) -> None:
    sqlite_engine.register_function("twice", 1, lambda x: x * 2, deterministic=True)
    assert await sqlite_engine.fetch_one("select twice(21)") == (42,)
    async with sqlite_engine.transaction() as conn:
        assert await conn.fetch_one("select twice(2)") == (4,)


@pytest.mark.serial  # measures event-loop gaps (< 50 ms)
async def test_slow_read_leaves_the_event_loop_free(sqlite_engine: SqliteEngine) -> None:
    slow = "with recursive c(x) as (select 1 union all select x + 1 from c where x < 1000000) select count(*) from c"
    worst = 0.0

    async def ticker() -> None:
        nonlocal worst
        while True:
            before = time.perf_counter()
            await anyio.sleep(0)
            worst = max(worst, time.perf_counter() - before)

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        assert await sqlite_engine.fetch_one(slow) == (1000000,)
        tg.cancel_scope.cancel()
    assert worst < 0.05, f"event loop blocked for {worst * 1000:.1f} ms"


@pytest.mark.serial  # bounds the time a cancelled read takes
async def test_cancelled_read_is_interrupted(sqlite_engine: SqliteEngine) -> None:
    slow = "with recursive c(x) as (select 1 union all select x + 1 from c where x < 1000000000) select count(*) from c"
    started = time.monotonic()
    with anyio.move_on_after(0.1):
        await sqlite_engine.fetch_one(slow)
    assert time.monotonic() - started < 1
    assert await sqlite_engine.fetch_one("select 1") == (1,)


def test_split_statements() -> None:
    script = """
    create table t (x text default 'a;b');
    -- a comment; with a semicolon
    create trigger tr after insert on t begin insert into t values ('y'); end;
    /* trailing */
    """
    parts = split_statements(script)
    assert len(parts) == 2
    assert parts[1].startswith("-- a comment") and parts[1].endswith("end;")


async def test_statistics_follow_the_data(sqlite_engine: SqliteEngine) -> None:
    """After enough writes the writer runs ANALYZE and every connection plans with the new statistics:
    one owner's page ordered by `created` walks the `created` index instead of sorting all their rows."""
    await sqlite_engine.execute_script(
        "create table items (id integer primary key, owner text, created int);"
        "create index items_owner on items (owner); create index items_created on items (created)"
    )
    plan = "explain query plan select * from items where owner = 'a' order by created desc limit 50"
    before = " ".join(str(r) for r in await sqlite_engine.fetch_all(plan))
    assert "items_owner" in before  # no statistics: an equality looks selective
    for start in range(0, 2000, 500):
        await sqlite_engine.run_write(
            lambda conn, s=start: conn.execute(  # type: ignore[misc]
                "insert into items (owner, created) select 'a', value from json_each(?)",
                (str(list(range(s, s + 500))),),
            )
        )
    assert await sqlite_engine.fetch_one("select count(*) > 0 from sqlite_stat1 where tbl = 'items'") == (1,)
    for _ in range(100):  # the schema version moved: the poller reloads, connections renew
        after = " ".join(str(r) for r in await sqlite_engine.fetch_all(plan))
        if "items_created" in after:
            break
        await anyio.sleep(0.05)
    assert "items_created" in after and "TEMP B-TREE" not in after
