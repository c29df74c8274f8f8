"""Fixed-window request counters in a SQLite file, shared by the worker processes of one server.

Why: `backstack serve` runs one worker per core by default, and counters in process memory would
let each worker count alone (N workers, N times the budget of a password guesser). Without Redis,
the workers of one machine share this file instead (`.backstack/ratelimit.db`, beside the data;
SQLite's own locking makes each hit atomic across processes). Nodes on several machines still
need Redis.

One hit is one `INSERT ... ON CONFLICT DO UPDATE ... RETURNING` (a transaction of its own, WAL,
no fsync: counters need not survive a power cut), run on a thread of its own so that a worker
waiting for another's lock never blocks its event loop, nor waits behind other threaded work.
Time is the wall clock, which all processes share.
When the file cannot be used (disk full, permissions) the hit is counted in process memory
instead and a warning is logged at most once a minute, as the Redis backend does.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from backstack.cache.limiter_memory import MemoryRateLimiter
from backstack.core.ports import RateDecision

logger = logging.getLogger("backstack.cache")
T = TypeVar("T")

_SCHEMA = "create table if not exists windows (key text primary key, count integer not null, ends real not null)"
_HIT = """
insert into windows (key, count, ends) values (?1, 1, ?2 + ?3)
on conflict (key) do update set
    count = case when windows.ends <= ?2 then 1 else windows.count + 1 end,
    ends = case when windows.ends <= ?2 then ?2 + ?3 else windows.ends end
returning count, ends
"""
_REFUND = "update windows set count = count - 1 where key = ?1 and count > 0 and ends > ?2"
_PRUNE = "delete from windows where ends <= ?1"
_PRUNE_EVERY = 1024
_WARN_EVERY = 60.0


class FileRateLimiter:
    """`core.ports.RateLimiter` over a SQLite file that several processes open at once."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self._path = path
        self._clock = clock
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # the connection: used on the limiter's thread, closed from the loop
        self._thread: ThreadPoolExecutor | None = None
        self._fallback = MemoryRateLimiter()
        self._warned_at = -_WARN_EVERY
        self._hits = 0

    async def hit(self, key: str, limit: int, window: float) -> RateDecision:
        now = self._clock()
        self._hits += 1
        prune = self._hits % _PRUNE_EVERY == 0
        try:
            count, ends = await self._run(lambda conn: self._hit(conn, key, now, window, prune))
        except (sqlite3.Error, OSError) as exc:
            self._warn(exc)
            return await self._fallback.hit(key, limit, window)
        return RateDecision(count <= limit, count, limit, max(ends - now, 0.0))

    @staticmethod
    def _hit(conn: sqlite3.Connection, key: str, now: float, window: float, prune: bool) -> tuple[int, float]:
        if prune:
            conn.execute(_PRUNE, (now,))
        row = conn.execute(_HIT, (key, now, window)).fetchone()
        return int(row[0]), float(row[1])

    async def refund(self, key: str) -> None:
        now = self._clock()
        try:
            await self._run(lambda conn: conn.execute(_REFUND, (key, now)))
        except (sqlite3.Error, OSError) as exc:
            self._warn(exc)
            await self._fallback.refund(key)

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def work() -> T:
            with self._lock:
                return fn(self._connect())

        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="bs-ratelimit")
        return await asyncio.get_running_loop().run_in_executor(self._thread, work)

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self._path, timeout=5, isolation_level=None, check_same_thread=False)
            try:
                conn.execute("pragma journal_mode = wal")
                conn.execute("pragma synchronous = off")
                conn.execute(_SCHEMA)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _warn(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY:
            self._warned_at = now
            logger.warning("rate limits counted per process: %s unusable (%s: %s)", self._path, type(exc).__name__, exc)

    async def close(self) -> None:
        if self._thread is not None:
            self._thread.shutdown(wait=False)
            self._thread = None
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        await self._fallback.close()
