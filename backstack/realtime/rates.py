"""Rates of one worker: channel joins and client messages per second (Supabase Realtime's project limits).

A token bucket each: `per_second` tokens a second, at most one second's worth saved up. Supabase counts
these per project across its cluster; backstack counts them per worker (N workers allow N times as
many), which bounds what one worker spends without a shared counter on every message.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(slots=True)
class Rate:
    per_second: float
    _tokens: float = field(init=False)
    _at: float = field(init=False, default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self._tokens = self.per_second

    def allow(self) -> bool:
        """Take a token if one is there."""
        now = time.monotonic()
        self._tokens = min(self.per_second, self._tokens + (now - self._at) * self.per_second)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


@dataclass(frozen=True, slots=True)
class Rates:
    joins: Rate
    messages: Rate
