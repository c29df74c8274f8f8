"""Real services for tests: a throw-away PostgreSQL database per use, skip-or-fail when unreachable.

The admin URL is postgresql://postgres@127.0.0.1:5432/postgres (override with env
BACKSTACK_TEST_PG_URL). With BACKSTACK_REQUIRE_SERVICES=1 (CI) a missing service fails the test;
otherwise it skips with a loud reason. `tests/conftest.py` re-exports these helpers.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import pytest

PG_ADMIN_URL = os.environ.get("BACKSTACK_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_SERVICES = os.environ.get("BACKSTACK_REQUIRE_SERVICES") == "1"

T = TypeVar("T")


def require_service(reason: str) -> NoReturn:
    """Fail (CI: BACKSTACK_REQUIRE_SERVICES=1) or skip (laptop) a test whose real service is missing."""
    if REQUIRE_SERVICES:
        pytest.fail(reason + " and BACKSTACK_REQUIRE_SERVICES=1")
    pytest.skip(reason)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion on a private loop in a thread (never disturbs the test's loop)."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]  # type: ignore[no-any-return]


def pg_url(database: str) -> str:
    """The admin URL with its database replaced by `database`."""
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_pg_database() -> str:
    """Create a uniquely named database; skip (or fail) loudly when PostgreSQL is unreachable."""
    name = f"bs_test_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        run_sync(_pg_admin(f'create database "{name}"'))
    except Exception as exc:  # refused, timed out, auth failure: all mean "no server to test on"
        require_service(f"PostgreSQL UNREACHABLE at {PG_ADMIN_URL} ({exc!r}): postgres tests NOT RUN")
    return name


def drop_pg_database(name: str) -> None:
    """Terminate the database's sessions, then drop it."""
    run_sync(
        _pg_admin(
            "select pg_terminate_backend(pid) from pg_stat_activity "
            f"where datname = '{name}' and pid <> pg_backend_pid()"
        )
    )
    run_sync(_pg_admin(f'drop database if exists "{name}"'))


@contextmanager
def postgres_database(engine: str) -> Iterator[str | None]:
    """The URL of a fresh database for engine "postgres" (None for "sqlite"); dropped afterwards."""
    if engine != "postgres":
        yield None
        return
    name = create_pg_database()
    try:
        yield pg_url(name)
    finally:
        drop_pg_database(name)
