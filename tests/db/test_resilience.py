"""Failure behaviour: PostgreSQL outages fail fast and heal; SQLite writers in two processes wait, not fail."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import anyio
import pytest

from backstack.config import Settings
from backstack.core.errors import Unavailable
from backstack.db.engine import Engine, connect

pytestmark = pytest.mark.anyio
REPO = Path(__file__).resolve().parents[2]


def require_postgres(engine_settings: Settings) -> str:
    if not engine_settings.database_url:
        pytest.skip("PostgreSQL connection handling")
    return engine_settings.database_url


async def terminate_backends(database_url: str) -> int:
    import asyncpg

    from tests.conftest import PG_ADMIN_URL

    database = database_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        rows = await admin.fetch(
            "select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()",
            database,
        )
    finally:
        await admin.close()
    return len(rows)


@pytest.mark.serial  # bounds the recovery time
async def test_postgres_recovers_after_backends_are_terminated(engine: Engine, engine_settings: Settings) -> None:
    url = require_postgres(engine_settings)
    await engine.execute_script("create table t (id int primary key)")
    assert await engine.fetch_one("select 1") == (1,)
    assert await terminate_backends(url) >= 1
    started = time.monotonic()
    assert await engine.fetch_one("select count(*) from t") == (0,)
    async with engine.transaction() as conn:
        await conn.execute("insert into t values (1)")
    assert await engine.fetch_all("select id from t") == [(1,)]
    assert time.monotonic() - started < 3
    # twice in a row, and straight into a transaction this time
    await terminate_backends(url)
    async with engine.transaction() as conn:
        await conn.execute("insert into t values (2)")
    assert (await engine.health())["status"] == "ok"


async def test_postgres_connection_dying_mid_transaction_is_503(engine: Engine, engine_settings: Settings) -> None:
    """A backend killed while its connection is in use (PostgreSQL restarting under load): asyncpg hands
    the dead connection back to the pool at once, so the rollback/cleanup must not touch it again."""
    require_postgres(engine_settings)
    from backstack.core.caller import Caller

    # a caller whose role is no database role: its transaction sets claims but keeps the connecting
    # (superuser) role, which may terminate its own backend; service_role may not (db/postgres/roles.py)
    caller = Caller(role="tester", claims={"role": "tester"})
    kill_self = "select pg_terminate_backend(pg_backend_pid())"
    with pytest.raises(Unavailable) as info:
        async with engine.transaction(caller) as conn:
            await conn.execute(kill_self)
    assert (info.value.status, info.value.code) == (503, "PGRST001")
    with pytest.raises(Unavailable):  # a read in a caller's transaction (retried once, dies again)
        await engine.fetch_one(kill_self, caller=caller)
    with pytest.raises(Unavailable):
        await engine.fetch_one(kill_self)
    async with engine.transaction(caller) as conn:
        assert await conn.fetch_one("select 1") == (1,)
    assert (await engine.health())["status"] == "ok"


async def test_postgres_read_after_every_pooled_backend_died(engine_settings: Settings) -> None:
    """All pooled connections killed at once (as by a server restart): the first read still succeeds.

    The termination is run from another thread while this loop is blocked, so asyncpg has not yet
    noticed any of the dead connections when the read starts; one retry on the next pooled (also
    dead) connection is not enough, the pool must replace them all."""
    url = require_postgres(engine_settings)
    from tests.conftest import run_sync

    engine = connect(engine_settings.model_copy(update={"db_pool_min": 4}))
    await engine.start()

    async def hold() -> None:
        async with engine.transaction() as conn:
            await conn.fetch_one("select pg_sleep(0.01)")

    try:
        for _ in range(20):
            async with anyio.create_task_group() as group:
                for _ in range(4):
                    group.start_soon(hold)
            run_sync(terminate_backends(url))  # blocks this loop: nothing notices the deaths yet
            assert await engine.fetch_one("select 1") == (1,)
    finally:
        await engine.close()


@pytest.mark.serial  # bounds the time to fail
async def test_postgres_unreachable_fails_fast(engine_settings: Settings) -> None:
    require_postgres(engine_settings)
    settings = engine_settings.model_copy(
        update={"database_url": "postgresql://postgres@127.0.0.1:1/nothing", "db_connect_timeout": 1.0}
    )
    engine = connect(settings)
    started = time.monotonic()
    with pytest.raises(Unavailable) as info:
        await engine.start()
    assert time.monotonic() - started < 3
    assert (info.value.status, info.value.code) == (503, "PGRST000")
    assert "Could not connect" in info.value.message
    await engine.close()


@pytest.mark.serial  # bounds a 0.3 s pool timeout
async def test_postgres_pool_exhaustion_times_out(engine_settings: Settings) -> None:
    require_postgres(engine_settings)
    settings = engine_settings.model_copy(update={"db_pool_min": 1, "db_pool_max": 1, "db_connect_timeout": 0.3})
    engine = connect(settings)
    await engine.start()
    try:
        async with engine.transaction():
            started = time.monotonic()
            with pytest.raises(Unavailable) as info:
                await engine.fetch_one("select 1")
            assert time.monotonic() - started < 1.5
            assert info.value.code == "PGRST003"
            assert info.value.message == "Timed out acquiring connection from connection pool."
        assert await engine.fetch_one("select 1") == (1,)
    finally:
        await engine.close()


WRITER = textwrap.dedent(
    """
    import asyncio, sys, time
    from pathlib import Path
    from backstack.config import Settings
    from backstack.db.sqlite.engine import SqliteEngine

    async def main(project: str, worker: int, count: int) -> None:
        engine = SqliteEngine(Settings(project_dir=Path(project), database_url=None))
        await engine.start()
        try:
            for i in range(count):
                async with engine.transaction() as conn:
                    await conn.execute("insert into hits (worker, i) values (?, ?)", [worker, i])
                    time.sleep(0.002)  # hold the write lock so the other process has to wait for it
        finally:
            await engine.close()

    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
    """
)


async def test_sqlite_writers_in_two_processes_wait_for_each_other(engine: Engine, engine_settings: Settings) -> None:
    if not engine.dialect.is_sqlite:
        pytest.skip("SQLite file locking")
    await engine.execute_script("create table hits (worker integer, i integer, primary key (worker, i))")
    script = engine_settings.project_dir / "writer.py"
    script.write_text(WRITER)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    count = 150
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(engine_settings.project_dir), str(worker), str(count)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for worker in (1, 2)
    ]
    while any(p.poll() is None for p in procs):  # read while they write: WAL readers never block
        row = await engine.fetch_one("select count(*) from hits")
        assert row is not None
        await anyio.sleep(0.01)
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
        assert b"locked" not in err
    assert await engine.fetch_all("select worker, count(*) from hits group by worker order by worker") == [
        (1, count),
        (2, count),
    ]
