"""Protocols services call instead of each other: a service receives an implementation from `app.py`.

A service names the capability it needs here (a rate limiter, later a mailer, a blob store) and
never imports the module that provides it, so services stay independent of each other and of the
infrastructure behind them (Redis, SMTP, S3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RateDecision:
    """The outcome of one counted request: allowed or not, and when the window starts over."""

    allowed: bool
    count: int
    limit: int
    retry_after: float  # seconds until the current window ends


class RateLimiter(Protocol):
    """Counts requests per key in fixed windows; shared by every node when the backend is shared."""

    async def hit(self, key: str, limit: int, window: float) -> RateDecision:
        """Count one request under `key`; allowed while at most `limit` were counted in the `window` seconds."""
        ...

    async def refund(self, key: str) -> None:
        """Take back one hit under `key` (an attempt that turned out legitimate), if its window still runs."""
        ...

    async def close(self) -> None:
        """Release connections (called at shutdown)."""
        ...
