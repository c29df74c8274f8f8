"""Fixed-window request counters in this process's memory (the default backend; one count per worker)."""

from __future__ import annotations

import time
from collections.abc import Callable

from backstack.core.ports import RateDecision

_PRUNE_EVERY = 1024  # hits between sweeps of expired windows, so idle keys do not pile up


class MemoryRateLimiter:
    """`core.ports.RateLimiter` over a dict: key -> (count, end of window).

    Single-threaded by construction (one event loop), so a hit needs no lock. With several worker
    processes each counts on its own; configure Redis to share counts between them.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[str, tuple[int, float]] = {}
        self._hits = 0

    async def hit(self, key: str, limit: int, window: float) -> RateDecision:
        now = self._clock()
        self._hits += 1
        if self._hits % _PRUNE_EVERY == 0:
            self._prune(now)
        count, ends = self._windows.get(key, (0, 0.0))
        if ends <= now:
            count, ends = 0, now + window
        count += 1
        self._windows[key] = (count, ends)
        return RateDecision(count <= limit, count, limit, max(ends - now, 0.0))

    async def refund(self, key: str) -> None:
        count, ends = self._windows.get(key, (0, 0.0))
        if count > 0 and ends > self._clock():
            self._windows[key] = (count - 1, ends)

    def _prune(self, now: float) -> None:
        expired = [key for key, (_, ends) in self._windows.items() if ends <= now]
        for key in expired:
            del self._windows[key]

    async def close(self) -> None:
        self._windows.clear()
