"""The port the hub publishes to and is delivered from, and the outbox every real bus sends through.

A bus moves opaque bytes (the hub's JSON envelopes) between the hubs of every worker and node that
share it. `publish` never blocks and never raises: the hub calls it from a socket's frame handler,
and one slow or unreachable engine must not hold up the sockets of this worker (they are delivered
to before the bus is asked). What a bus delivers includes nothing the hub cannot tell apart: each
envelope names the node that sent it, and the hub skips its own (Redis and PostgreSQL echo a
publisher's messages back to it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

logger = logging.getLogger("backstack.realtime")

Deliver = Callable[[bytes], None]
OUTBOX_MESSAGES = 10_000  # queued while the engine is slow; past this, messages for other nodes are dropped
FLUSH_SECONDS = 2.0  # how long `close` lets the queued messages (the hub's goodbye) go out
READY_SECONDS = 5.0  # how long `start` waits for the first subscription before serving anyway
WARN_EVERY = 60.0


class Bus(Protocol):
    """What the hub needs of a bus."""

    @property
    def description(self) -> str: ...  # for the logs: where messages go

    async def start(self, deliver: Deliver) -> None:
        """Subscribe (waiting a little for the first subscription), then call `deliver` per message."""

    def publish(self, data: bytes) -> None:
        """Send `data` to every hub on the bus, this one included or not: never blocks, never raises."""

    async def close(self) -> None: ...


class Throttled:
    """A warning logged at most once a minute per reason (an engine outage must not flood the log)."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}

    def warn(self, reason: str, error: BaseException | None = None) -> None:
        now = time.monotonic()
        if now - self._last.get(reason, -WARN_EVERY) >= WARN_EVERY:
            self._last[reason] = now
            detail = f" ({type(error).__name__}: {error})" if error is not None else ""
            logger.warning("realtime bus: %s%s", reason, detail)


class Outbox:
    """Messages waiting to be sent, in order, by one task: `publish` queues, `send` does the I/O."""

    def __init__(self, send: Callable[[bytes], Awaitable[None]], warnings: Throttled) -> None:
        self._send, self._warnings = send, warnings
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(OUTBOX_MESSAGES)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def put(self, data: bytes) -> None:
        try:
            self._queue.put_nowait(data)
        except asyncio.QueueFull:
            self._warnings.warn("outbox full, messages for other workers and nodes dropped")

    async def _run(self) -> None:
        while True:
            data = await self._queue.get()
            try:
                await self._send(data)
            except Exception as error:  # the engine is down: this message is lost for the other nodes
                self._warnings.warn("a message could not be sent to other workers and nodes", error)
            finally:
                self._queue.task_done()

    async def close(self) -> None:
        """Send what is queued (for `FLUSH_SECONDS` at most), then stop."""
        if self._task is not None and not self._task.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), FLUSH_SECONDS)
        await cancel(self._task)


async def cancel(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def wait_ready(ready: asyncio.Event, description: str) -> None:
    """Wait a little for the first subscription; a bus that is not ready yet keeps trying in the background."""
    try:
        await asyncio.wait_for(ready.wait(), READY_SECONDS)
    except TimeoutError:
        logger.warning("realtime bus: %s not subscribed yet; retrying in the background", description)
