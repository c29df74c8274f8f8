"""Shared counters for the platform: rate limits in process memory, or in Redis when several nodes share them.

`build_rate_limiter(settings)` picks the backend: Redis when `redis_url` is set (every node counts
in the same keys), else process memory (each worker counts alone). Both satisfy
`core.ports.RateLimiter`, which is all the services see.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstack.cache.limiter_memory import MemoryRateLimiter

if TYPE_CHECKING:
    from backstack.config import Settings
    from backstack.core.ports import RateLimiter

__all__ = ["MemoryRateLimiter", "build_rate_limiter"]


def build_rate_limiter(settings: Settings) -> RateLimiter:
    """The limiter `settings` ask for; the Redis client connects lazily, on the first request."""
    if settings.redis_url:
        from backstack.cache.limiter_redis import RedisRateLimiter

        return RedisRateLimiter(settings.redis_url, prefix=settings.redis_prefix)
    return MemoryRateLimiter()
