"""The rate limiter backends: one test body on process memory and on the real Redis."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backstack.cache import MemoryRateLimiter, build_rate_limiter
from backstack.cache.limiter_file import FileRateLimiter
from backstack.cache.limiter_redis import RedisRateLimiter
from backstack.config import Settings
from backstack.core.ports import RateLimiter
from tests.cache.limiters import KINDS, REDIS_URL, open_limiter, redis_keys, unique_prefix

pytestmark = pytest.mark.anyio


@pytest.fixture(params=KINDS)
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    async with open_limiter(request.param) as opened:
        yield opened


async def test_allows_up_to_the_limit_then_refuses(limiter: RateLimiter) -> None:
    decisions = [await limiter.hit("k", 3, 60) for _ in range(5)]
    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert [d.count for d in decisions] == [1, 2, 3, 4, 5]
    assert all(d.limit == 3 for d in decisions)
    assert 55 < decisions[-1].retry_after <= 60


async def test_keys_count_separately(limiter: RateLimiter) -> None:
    assert (await limiter.hit("a", 1, 60)).allowed
    assert not (await limiter.hit("a", 1, 60)).allowed
    assert (await limiter.hit("b", 1, 60)).allowed


async def test_a_new_window_starts_over(limiter: RateLimiter) -> None:
    first = await limiter.hit("w", 1, 1.5)  # long enough that a slow machine stays inside the window
    second = await limiter.hit("w", 1, 1.5)
    assert first.allowed and not second.allowed
    await asyncio.sleep(second.retry_after + 0.1)
    decision = await limiter.hit("w", 1, 1.5)
    assert decision.allowed and decision.count == 1


async def test_refund_takes_back_one_hit_and_never_goes_below_zero(limiter: RateLimiter) -> None:
    assert (await limiter.hit("r", 2, 60)).allowed
    assert (await limiter.hit("r", 2, 60)).allowed
    await limiter.refund("r")
    assert (await limiter.hit("r", 2, 60)).count == 2
    await limiter.refund("never-hit")
    assert (await limiter.hit("never-hit", 1, 60)).count == 1


async def test_concurrent_hits_are_counted_exactly(limiter: RateLimiter) -> None:
    decisions = await asyncio.gather(*(limiter.hit("c", 10, 60) for _ in range(50)))
    assert sum(d.allowed for d in decisions) == 10
    assert sorted(d.count for d in decisions) == list(range(1, 51))


async def test_redis_counts_are_shared_by_every_node() -> None:
    prefix = unique_prefix()
    async with redis_keys(prefix) as client:
        nodes = [RedisRateLimiter(REDIS_URL, prefix=prefix) for _ in range(3)]
        try:
            decisions = [await nodes[i % 3].hit("shared", 4, 60) for i in range(6)]
        finally:
            for node in nodes:
                await node.close()
        assert [d.allowed for d in decisions] == [True] * 4 + [False] * 2
        assert int(await client.get(prefix + "rl:shared")) == 6
        assert 0 < await client.pttl(prefix + "rl:shared") <= 60_000


async def test_redis_down_falls_back_to_counting_in_memory(caplog: pytest.LogCaptureFixture) -> None:
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", timeout=0.2)  # nothing listens on port 1
    try:
        decisions = [await limiter.hit("k", 2, 60) for _ in range(3)]
    finally:
        await limiter.close()
    assert [d.allowed for d in decisions] == [True, True, False]
    assert "Redis unreachable" in caplog.text
    assert caplog.text.count("Redis unreachable") == 1  # warned once, not per request


def test_memory_windows_follow_the_clock_and_are_pruned() -> None:
    now = [0.0]
    limiter = MemoryRateLimiter(clock=lambda: now[0])

    async def run() -> None:
        for i in range(2000):
            await limiter.hit(f"k{i}", 1, 1)
            now[0] += 0.01
        assert len(limiter._windows) < 1100  # windows older than 1 s were swept

    asyncio.run(run())


def test_build_picks_the_backend_from_settings(tmp_path: Path) -> None:
    assert isinstance(build_rate_limiter(Settings(redis_url=None)), MemoryRateLimiter)
    assert isinstance(build_rate_limiter(Settings(redis_url=REDIS_URL)), RedisRateLimiter)
    # several workers (`backstack serve` exports the resolved count): a file they share
    several = Settings(redis_url=None, workers=2, project_dir=tmp_path)
    assert isinstance(build_rate_limiter(several), FileRateLimiter)
    assert isinstance(build_rate_limiter(Settings(redis_url=REDIS_URL, workers=2)), RedisRateLimiter)


_WORKER = """
import asyncio, sys
from pathlib import Path
from backstack.cache.limiter_file import FileRateLimiter

async def main() -> None:
    limiter = FileRateLimiter(Path(sys.argv[1]))
    for _ in range(int(sys.argv[2])):
        await limiter.hit("shared", 5, 60)
    await limiter.close()

asyncio.run(main())
"""


async def test_file_counts_are_shared_by_worker_processes(tmp_path: Path) -> None:
    """Worker processes of one server count in the same file: together they get the budget once."""
    path = tmp_path / "ratelimit.db"
    workers = [await asyncio.create_subprocess_exec(sys.executable, "-c", _WORKER, str(path), "3") for _ in range(2)]
    assert [await w.wait() for w in workers] == [0, 0]
    limiter = FileRateLimiter(path)
    try:
        decision = await limiter.hit("shared", 5, 60)
    finally:
        await limiter.close()
    assert decision.count == 7 and not decision.allowed


async def test_file_unusable_falls_back_to_counting_in_memory(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "blocker").write_text("a file where the folder should be")
    limiter = FileRateLimiter(tmp_path / "blocker" / "ratelimit.db")
    try:
        decisions = [await limiter.hit("k", 2, 60) for _ in range(3)]
    finally:
        await limiter.close()
    assert [d.allowed for d in decisions] == [True, True, False]
    assert caplog.text.count("rate limits counted per process") == 1
