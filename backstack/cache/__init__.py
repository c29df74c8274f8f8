"""Shared counters for the platform: rate limits in process memory, a file the workers share, or Redis.

`build_rate_limiter(settings)` picks the backend: Redis when `redis_url` is set (every node counts
in the same keys); else, for a server of several worker processes (`workers` > 1, as `backstack
serve` sets it), a SQLite file the workers of this machine share; else process memory. All satisfy
`core.ports.RateLimiter`, which is all the services see.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstack.cache.limiter_memory import MemoryRateLimiter

if TYPE_CHECKING:
    from pathlib import Path

    from backstack.config import Settings
    from backstack.core.ports import RateLimiter

__all__ = ["MemoryRateLimiter", "build_rate_limiter"]


def build_rate_limiter(settings: Settings) -> RateLimiter:
    """The limiter `settings` ask for; the Redis client connects lazily, on the first request."""
    if settings.redis_url:
        from backstack.cache.limiter_redis import RedisRateLimiter

        return RedisRateLimiter(settings.redis_url, prefix=settings.redis_prefix)
    if settings.workers > 1:
        from backstack.cache.limiter_file import FileRateLimiter

        return FileRateLimiter(rate_limit_file(settings))
    return MemoryRateLimiter()


def rate_limit_file(settings: Settings) -> Path:
    """The file the workers of one server count in when there is no Redis."""
    return settings.data_dir / "ratelimit.db"


def rate_limits_shared(settings: Settings) -> str:
    """Where the rate limits are counted, in words (the `serve` banner says it)."""
    if settings.redis_url:
        return "in Redis, shared by every worker and node"
    if settings.workers > 1:
        return f"in {rate_limit_file(settings)}, shared by this server's workers (Redis shares them between machines)"
    return "in process memory"
