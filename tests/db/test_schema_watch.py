"""How an engine learns of schema changes made elsewhere (issue 18 §5): event triggers + LISTEN on
PostgreSQL (installed once by concurrent starts, a warning and polling without superuser, the LISTEN
connection re-established when it drops), `PRAGMA schema_version` per request on SQLite."""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3

import anyio
import asyncpg
import pytest

from backstack.config import Settings
from backstack.db.engine import Engine, connect
from backstack.db.postgres.capture import EVENT_TRIGGER as CAPTURE_EVENT_TRIGGER
from backstack.db.postgres.schema_watch import TRIGGERS
from backstack.db.sqlite.engine import SCHEMA_CHECK_S
from tests.services import PG_ADMIN_URL

# On a new database (start installs the triggers); changes must be seen within a second: alone.
pytestmark = [pytest.mark.anyio, pytest.mark.pg_template("empty"), pytest.mark.serial]
NO_POLL = {"schema_poll_seconds": 60}  # only the mechanisms under test can help


def require_postgres(settings: Settings) -> str:
    if not settings.database_url:
        pytest.skip("event triggers and LISTEN are PostgreSQL's")
    return settings.database_url


async def _pg(url: str, sql: str) -> list[asyncpg.Record]:
    """Run `sql` on a connection of its own: one query's rows, or several statements' effect."""
    conn = await asyncpg.connect(url)
    try:
        if ";" in sql:
            await conn.execute(sql)
            return []
        return await conn.fetch(sql)
    finally:
        await conn.close()


async def _seen(engine: Engine, table: str, within: float = 1.0) -> None:
    with anyio.fail_after(within):
        while table not in (await engine.schema()).tables:
            await anyio.sleep(0.01)


async def test_concurrent_starts_install_the_event_triggers_once(engine_settings: Settings) -> None:
    url = require_postgres(engine_settings)
    engines = [connect(engine_settings.model_copy(update=NO_POLL)) for _ in range(3)]
    await asyncio.gather(*(e.start() for e in engines))
    try:
        assert all(e.watching for e in engines)  # type: ignore[attr-defined]
        rows = await _pg(url, "select evtname, evtevent from pg_event_trigger order by evtname")
        expected = [*TRIGGERS.items(), (CAPTURE_EVENT_TRIGGER, "ddl_command_end")]  # + db.postgres.capture's
        assert sorted((r["evtname"], r["evtevent"]) for r in rows) == sorted(expected)
        await _pg(url, "create table from_psql (id int primary key)")  # no NOTIFY by hand: the trigger sends it
        for engine in engines:
            await _seen(engine, "from_psql")
        await _pg(url, "drop table from_psql")
        for engine in engines:
            with anyio.fail_after(1):
                while "from_psql" in (await engine.schema()).tables:
                    await anyio.sleep(0.01)
    finally:
        for engine in engines:
            await engine.close()


async def test_without_superuser_one_warning_and_polling(
    engine_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    url = require_postgres(engine_settings)
    role = f"bs_plain_{secrets.token_hex(4)}"
    database = url.rsplit("/", 1)[1]
    await _pg(PG_ADMIN_URL, f'create role {role} login nosuperuser; grant create on database "{database}" to {role}')
    plain_url = url.replace("postgres@", f"{role}@", 1)
    engine = connect(engine_settings.model_copy(update={"database_url": plain_url, "schema_poll_seconds": 0.05}))
    try:
        with caplog.at_level(logging.WARNING, logger="backstack.db"):
            await engine.start()
        warnings = [r for r in caplog.records if "event triggers" in r.getMessage()]
        assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
        assert not engine.watching  # type: ignore[attr-defined]
        assert await _pg(url, "select 1 from pg_event_trigger") == []
        await _pg(url, "create table polled (id int)")
        await _seen(engine, "polled")
    finally:
        await engine.close()
        await _pg(url, f"drop owned by {role}")
        await _pg(PG_ADMIN_URL, f'revoke all on database "{database}" from {role}; drop role {role}')


async def test_lost_listen_connection_is_reopened_and_the_schema_reloaded(engine_settings: Settings) -> None:
    url = require_postgres(engine_settings)
    engine = connect(engine_settings.model_copy(update=NO_POLL))
    await engine.start()
    try:
        listener = engine._watch.connection  # type: ignore[attr-defined]
        await _pg(PG_ADMIN_URL, f"select pg_terminate_backend({listener.get_server_pid()})")
        await _pg(url, "create table while_down (id int)")  # may commit before the new LISTEN: a reload covers it
        await _seen(engine, "while_down", within=3)
        with anyio.fail_after(3):
            while engine._watch.connection is None or engine._watch.connection is listener:  # type: ignore[attr-defined]
                await anyio.sleep(0.01)
        await _pg(url, "create table after_reconnect (id int)")
        await _seen(engine, "after_reconnect")
    finally:
        await engine.close()


async def test_sqlite_next_schema_call_sees_another_connections_change(engine_settings: Settings) -> None:
    if engine_settings.database_url:
        pytest.skip("PRAGMA schema_version is SQLite's")
    engine = connect(engine_settings.model_copy(update=NO_POLL))
    await engine.start()
    try:
        changes = ("create table other (id integer primary key)", "alter table other add column b text")
        for step, sql in enumerate(changes):
            await anyio.sleep(SCHEMA_CHECK_S)  # before the change, never after it
            with sqlite3.connect(engine_settings.sqlite_path) as conn:
                conn.execute(sql)
            conn.close()
            schema = await engine.schema()  # the very next call
            assert "other" in schema.tables
            assert ("b" in schema.tables["other"].columns) == (step == 1)
    finally:
        await engine.close()
