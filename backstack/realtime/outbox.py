"""What this worker does with the captured row changes until they are delivered to sockets: trims them.

The engines capture every change of a `supabase_realtime` table into an outbox (db/changes.py), but
no dispatcher reads it yet (issue 9: delivery is the next step), so without this the outbox would
only grow. Every `every` seconds the trimmer deletes what had been captured by its previous round:
a change is kept one to two rounds. Each worker trims (deleting what another deleted is nothing);
the dispatcher takes over the outbox when it lands.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backstack.core.ports import ChangeOutbox

logger = logging.getLogger("backstack.realtime")
TRIM_SECONDS = 60.0


class OutboxTrimmer:
    def __init__(self, outbox: ChangeOutbox, every: float = TRIM_SECONDS) -> None:
        self.outbox, self.every = outbox, every
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        mark = None
        while True:
            await asyncio.sleep(self.every)
            try:
                if mark is not None:
                    await self.outbox.trim(mark)
                mark = await self.outbox.last_id()
            except Exception:  # a database hiccup: try again next round, never stop the worker
                logger.warning("trimming the realtime outbox failed; retrying in %s s", self.every, exc_info=True)
