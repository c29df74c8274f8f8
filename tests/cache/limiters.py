"""Rate limiters for tests: process memory, a throw-away SQLite file, or the real Redis at 127.0.0.1:6379
under a throw-away prefix.

`open_limiter("memory" | "file" | "redis")` is an async context manager yielding a `core.ports.RateLimiter`.
The Redis one checks that the server answers first: unreachable -> the test is skipped with a loud
reason, or fails under BACKSTACK_REQUIRE_SERVICES=1; its keys are deleted afterwards. Override the
server with env BACKSTACK_TEST_REDIS_URL.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import redis.asyncio as redis

from backstack.cache import MemoryRateLimiter
from backstack.cache.limiter_file import FileRateLimiter
from backstack.cache.limiter_redis import RedisRateLimiter
from backstack.core.ports import RateLimiter
from tests.services import require_service

REDIS_URL = os.environ.get("BACKSTACK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
KINDS = ["memory", "file", "redis"]


def unique_prefix() -> str:
    return f"bs_test_{os.getpid()}_{secrets.token_hex(4)}:"


@contextlib.asynccontextmanager
async def redis_keys(prefix: str) -> AsyncIterator[redis.Redis]:
    """A client to the test server (skip or fail when down); deletes `prefix*` keys at the end."""
    client = redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.ping()
    except Exception as exc:  # refused, timed out: no server to test on
        await client.aclose()
        require_service(f"Redis UNREACHABLE at {REDIS_URL} ({exc!r}): Redis tests NOT RUN")
    try:
        yield client
    finally:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@contextlib.asynccontextmanager
async def open_limiter(kind: str, prefix: str | None = None) -> AsyncIterator[RateLimiter]:
    if kind == "memory":
        yield MemoryRateLimiter()
        return
    if kind == "file":
        with tempfile.TemporaryDirectory() as folder:
            limiter = FileRateLimiter(Path(folder) / "ratelimit.db")
            try:
                yield limiter
            finally:
                await limiter.close()
        return
    prefix = prefix or unique_prefix()
    async with redis_keys(prefix):
        limiter = RedisRateLimiter(REDIS_URL, prefix=prefix)
        try:
            yield limiter
        finally:
            await limiter.close()
