"""Schema changes made by another connection or process are seen by the next request (issue 18 §5).

The app runs in process with `schema_poll_seconds=60`, so no background poll can help: what makes
these pass is the event trigger + NOTIFY (PostgreSQL), the per-request `schema_version` check
(SQLite) and the re-check a missing table makes before answering 404 PGRST205.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from backstack.config import Settings
from backstack.db.schema.cache import RECHECK_INTERVAL_S
from tests.rest.http_api import Api, assert_error_shape, http_settings, running_api

pytestmark = pytest.mark.anyio

FIRST = "create table items (id bigint primary key, a text);\ninsert into items values (1, 'one');\n"
SECOND = "create table items (id bigint primary key, b text);\ninsert into items values (2, 'two');\n"


@pytest.fixture
async def api(engine_settings: Settings) -> AsyncIterator[Api]:
    async with running_api(http_settings(engine_settings, schema_poll_seconds=60), FIRST) as running:
        yield running


async def _elsewhere(settings: Settings, sql: str) -> None:
    """Run `sql` on a connection of its own (not the app's engine) and commit."""
    if settings.database_url:
        conn = await asyncpg.connect(settings.database_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()
    else:
        with sqlite3.connect(settings.sqlite_path) as conn:
            conn.executescript(sql)
        conn.close()


async def test_table_created_by_another_connection_is_served_at_once(api: Api) -> None:
    settings = api.app.settings
    missing = await api.request("GET", "/late", role="service")
    assert missing.status_code == 404 and missing.json()["code"] == "PGRST205"
    await asyncio.sleep(RECHECK_INTERVAL_S)  # the 404 above used this interval's re-check
    await _elsewhere(settings, "create table late (id int primary key, note text); insert into late values (1, 'x')")
    found = await api.request("GET", "/late?select=id,note", role="service")  # no sleep: the very next request
    assert found.status_code == 200, found.text
    assert found.json() == [{"id": 1, "note": "x"}]


async def test_db_reset_by_another_process_is_seen_by_the_next_request(api: Api) -> None:
    settings = api.app.settings
    before = await api.request("GET", "/items?select=a", role="service")
    assert before.status_code == 200 and before.json() == [{"a": "one"}]
    (settings.project_dir / "migrations" / "0001_http_schema.sql").write_text(SECOND, encoding="utf-8")
    (settings.project_dir / "backstack.toml").write_text(f'jwt_secret = "{settings.jwt_secret}"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKSTACK_") and k != "DATABASE_URL"}
    if settings.database_url:
        env["DATABASE_URL"] = settings.database_url
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "backstack", "db", "reset", "--yes", "--dir", str(settings.project_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    after = await api.request("GET", "/items?select=b", role="service")  # no sleep
    assert after.status_code == 200, after.text
    assert after.json() == [{"b": "two"}]
    gone = await api.request("GET", "/items?select=a", role="service")
    assert gone.status_code == 400
    assert_error_shape(gone, "42703")


async def test_missing_table_is_404_and_rechecks_are_rate_limited(api: Api) -> None:
    engine = api.app.engine
    reloads = engine.schema_reloads  # type: ignore[attr-defined]
    rechecks = engine.schema_rechecks  # type: ignore[attr-defined]
    started = time.monotonic()
    answers = []
    for _ in range(5):  # sequential and concurrent floods
        answers.append(await api.request("GET", "/nowhere", role="service"))
        answers += await asyncio.gather(*(api.request("GET", "/nowhere", role="anon") for _ in range(20)))
    elapsed = time.monotonic() - started
    for answer in answers:
        assert answer.status_code == 404
        assert_error_shape(answer, "PGRST205")
        assert answer.json()["message"] == "Could not find the table 'public.nowhere' in the schema cache"
    assert engine.schema_reloads == reloads  # type: ignore[attr-defined]
    checks = engine.schema_rechecks - rechecks  # type: ignore[attr-defined]
    assert 1 <= checks <= 1 + elapsed / RECHECK_INTERVAL_S, (checks, elapsed, len(answers))
