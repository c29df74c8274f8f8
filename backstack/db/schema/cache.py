"""When an engine reloads its schema cache: one reload at a time, and rate-limited re-checks.

Both engines keep the introspected `Schema` in memory and replace it when the database's schema
changes. `SchemaReloads` holds what they share:

- `request()` (a change is known: NOTIFY, a new `schema_version`): starts a reload, or when one is
  running, runs another after it, since the running one may have read its snapshot before the change.
- `join()`: waits for the running reload or starts one, without queueing another.
- `settled()`: what a request plans against; waits for a reload in progress, so a request arriving
  after the change was noticed never sees the old schema. A failed reload keeps the old schema.
- `recheck()`: for a table missing from the cache (PGRST205), ask the database whether the schema
  changed since the last reload, at most once per `RECHECK_INTERVAL_S`; concurrent callers share
  one check, so a flood of requests for a truly missing table costs one cheap check per interval
  and no reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from backstack.core.errors import ApiError

if TYPE_CHECKING:
    from backstack.db.schema.model import Schema

RECHECK_INTERVAL_S = 0.1


class SchemaReloads:
    """The reload and re-check tasks of one engine (`reload` introspects and swaps the cache;
    `changed` asks the database cheaply whether the cached schema is out of date)."""

    def __init__(
        self,
        current: Callable[[], Schema],
        reload: Callable[[], Awaitable[Schema]],
        changed: Callable[[], Awaitable[bool]],
        interval: float = RECHECK_INTERVAL_S,
    ) -> None:
        self._current = current
        self._reload = reload
        self._changed = changed
        self._interval = interval
        self._task: asyncio.Task[Schema] | None = None
        self._again = False
        self._check: asyncio.Task[None] | None = None
        self._last_check = -float("inf")
        self.rechecks = 0  # checks run for missing tables (tests read it to see the rate limit)

    async def reload(self) -> Schema:
        """Reload and return the new schema (a running reload is followed by another one)."""
        return await asyncio.shield(self.request())

    def request(self) -> asyncio.Task[Schema]:
        """Reload now; when a reload is running, reload once more after it."""
        if self._task is not None:
            self._again = True
            return self._task
        return self.join()

    def join(self) -> asyncio.Task[Schema]:
        """The running reload, or a new one."""
        if self._task is None:
            self._again = False
            self._task = _spawn(self._run())
        return self._task

    async def _run(self) -> Schema:
        try:
            while True:
                self._again = False
                schema = await self._reload()
                if not self._again:
                    return schema
        finally:
            self._task = None

    async def settled(self) -> Schema:
        """The cached schema, after the reload in progress (if any); the old one if it fails."""
        task = self._task
        if task is not None:
            with contextlib.suppress(ApiError):
                return await asyncio.shield(task)
        return self._current()

    async def recheck(self) -> Schema:
        """The schema after asking the database whether it changed (rate-limited, shared)."""
        check = self._check
        if check is None:
            now = time.monotonic()
            if now - self._last_check < self._interval:
                return await self.settled()
            self._last_check = now
            self.rechecks += 1
            check = self._check = _spawn(self._run_check())
        with contextlib.suppress(ApiError):
            await asyncio.shield(check)
        return await self.settled()

    async def _run_check(self) -> None:
        try:
            if await self._changed():
                await self.join()
        finally:
            self._check = None

    async def close(self) -> None:
        """Cancel what is running (engine shutdown)."""
        for task in (self._task, self._check):
            if task is not None:
                task.cancel()
                await asyncio.wait([task], timeout=5)


def _spawn(coro: Any) -> asyncio.Task[Any]:
    """A task whose failure is retrieved even when nobody awaits it (no 'never retrieved' warning)."""
    task = asyncio.get_running_loop().create_task(coro)
    task.add_done_callback(lambda t: t.cancelled() or t.exception())
    return task


class ReloadingSchema:
    """The part of the `Engine` protocol both engines answer from their `SchemaReloads` alike."""

    _reloads: SchemaReloads

    @property
    def schema_rechecks(self) -> int:
        """Re-checks made for missing tables (rate-limited; tests read it)."""
        return self._reloads.rechecks

    async def recheck_schema(self) -> Schema:
        return await self._reloads.recheck()

    async def reload_schema(self) -> Schema:
        return await self._reloads.reload()
