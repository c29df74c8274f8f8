"""Real services for tests: a throw-away PostgreSQL database per use, skip-or-fail when unreachable.

The admin URL is postgresql://postgres@127.0.0.1:5432/postgres (override with env
BACKSTACK_TEST_PG_URL). With BACKSTACK_REQUIRE_SERVICES=1 (CI) a missing service fails the test;
otherwise it skips with a loud reason. `tests/conftest.py` re-exports these helpers.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import queue
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


class _DatabasePool:
    """Throw-away databases made ahead and dropped behind, on one background thread.

    CREATE DATABASE costs ~0.35 s and DROP ~0.2 s on this machine; a test waits for neither while
    the next database is already being made and the last one dropped. One admin connection serves
    all of it. A database is handed out once and dropped after its test, never reused.
    """

    AHEAD = 2

    def __init__(self) -> None:
        self._ready: queue.Queue[str | BaseException] = queue.Queue()
        self._work: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)
        self._thread.start()
        for _ in range(self.AHEAD):
            self._work.put(("create", ""))
        atexit.register(self.close)

    def take(self) -> str:
        """A new, empty database's name; raises what creating one raised."""
        self._work.put(("create", ""))  # keep AHEAD in the making
        item = self._ready.get(timeout=60)
        if isinstance(item, BaseException):
            raise item
        return item

    def drop(self, name: str) -> None:
        self._work.put(("drop", name))

    def close(self) -> None:
        """Drop what is still queued, and the databases made ahead that no test took."""
        self._work.put(None)
        self._thread.join(timeout=60)

    async def _serve(self) -> None:
        import asyncpg

        conn: Any = None
        made: list[str] = []
        while (job := self._work.get()) is not None:
            kind, name = job
            try:
                if conn is None or conn.is_closed():
                    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
                if kind == "create":
                    name = f"bs_test_{os.getpid()}_{secrets.token_hex(4)}"
                    await conn.execute(f'create database "{name}"')
                    made.append(name)
                    self._ready.put(name)
                else:
                    await conn.execute(f'drop database if exists "{name}" with (force)')
            except Exception as exc:  # refused, timed out, auth failure: all mean "no server to test on"
                conn = None
                if kind == "create":
                    self._ready.put(exc)
        while not self._ready.empty():  # made ahead, never taken
            item = self._ready.get()
            if isinstance(item, str) and conn is not None:
                await conn.execute(f'drop database if exists "{item}" with (force)')
        if conn is not None:
            await conn.close()


_pool: _DatabasePool | None = None


def create_pg_database() -> str:
    """Create a uniquely named database; skip (or fail) loudly when PostgreSQL is unreachable."""
    global _pool
    if _pool is None:
        _pool = _DatabasePool()
    try:
        return _pool.take()
    except Exception as exc:
        require_service(f"PostgreSQL UNREACHABLE at {PG_ADMIN_URL} ({exc!r}): postgres tests NOT RUN")


def drop_pg_database(name: str) -> None:
    """Drop the database (its sessions are ended) behind the test, in the background."""
    if _pool is None:
        run_sync(_pg_admin(f'drop database if exists "{name}" with (force)'))
    else:
        _pool.drop(name)


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
