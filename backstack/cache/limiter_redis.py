"""Fixed-window request counters in Redis, shared by every node that points at the same server.

One hit is one round trip: a Lua script (sent once, then called by its SHA) increments the key,
starts its expiry on the first hit of a window and returns the count with the time left. When
Redis cannot be reached the hit is counted in process memory instead and a warning is logged (at
most once a minute), so an outage weakens the limits to per-node ones rather than opening them.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from backstack.cache.limiter_memory import MemoryRateLimiter
from backstack.core.ports import RateDecision

logger = logging.getLogger("backstack.cache")

_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
    ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""
_REFUND = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 0 then return redis.call('DECR', KEYS[1]) end
return 0
"""
_WARN_EVERY = 60.0


class RedisRateLimiter:
    """`core.ports.RateLimiter` over Redis (redis-py asyncio); keys are `<prefix>rl:<key>`."""

    def __init__(self, url: str, *, prefix: str = "backstack:", timeout: float = 1.0) -> None:
        self._client: Any = redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._script = self._client.register_script(_HIT)
        self._refund = self._client.register_script(_REFUND)
        self._prefix = prefix + "rl:"
        self._fallback = MemoryRateLimiter()
        self._warned_at = -_WARN_EVERY

    async def hit(self, key: str, limit: int, window: float) -> RateDecision:
        window_ms = max(int(window * 1000), 1)
        try:
            count, ttl_ms = await self._script(keys=[self._prefix + key], args=[window_ms])
        except (RedisError, OSError) as exc:
            self._warn(exc)
            return await self._fallback.hit(key, limit, window)
        count = int(count)
        return RateDecision(count <= limit, count, limit, max(int(ttl_ms), 0) / 1000)

    async def refund(self, key: str) -> None:
        try:
            await self._refund(keys=[self._prefix + key])
        except (RedisError, OSError) as exc:
            self._warn(exc)
            await self._fallback.refund(key)

    def _warn(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY:
            self._warned_at = now
            logger.warning("rate limits counted per process: Redis unreachable (%s)", type(exc).__name__)

    async def close(self) -> None:
        await self._client.aclose()
        await self._fallback.close()
