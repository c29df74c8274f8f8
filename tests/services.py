"""Real services for tests: a throw-away PostgreSQL database per use, Redis reachability.

With BACKSTACK_REQUIRE_SERVICES=1 (CI) a missing service fails the test; otherwise it skips loudly.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
import pytest

POSTGRES_ADMIN_URL = os.environ.get("BACKSTACK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def require_service(name: str, error: BaseException) -> None:
    """Fail (CI) or skip (laptop) when a real service the test needs is not reachable."""
    message = f"{name} is not reachable ({error}); start it or unset the test. THIS TEST DID NOT RUN."
    if os.environ.get("BACKSTACK_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _database_url(name: str) -> str:
    base, _, _ = POSTGRES_ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


@contextmanager
def postgres_database(engine: str) -> Iterator[str | None]:
    """Yield the URL of a fresh database named for this run (None for engine "sqlite"); drop it after."""
    if engine != "postgres":
        yield None
        return
    name = f"bs_test_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as error:
        require_service("PostgreSQL", error)
    try:
        yield _database_url(name)
    finally:
        asyncio.run(_admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}"'))
