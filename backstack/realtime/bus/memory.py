"""One process: the hubs on one `MemoryBroker` hear each other (an app's own broker: nobody else).

The bus of a single worker (`--workers 1`, tests, an app embedded in another server); several hubs
in one process share a broker in tests of the hub's fan-out. Delivery is scheduled on the event
loop rather than made inside `publish`, as the real buses deliver later too.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backstack.realtime.bus.base import Deliver


class MemoryBroker:
    def __init__(self) -> None:
        self.subscribers: list[Deliver] = []


class MemoryBus:
    description = "this process"

    def __init__(self, broker: MemoryBroker | None = None) -> None:
        self.broker = broker or MemoryBroker()
        self._deliver: Deliver | None = None

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver
        self.broker.subscribers.append(deliver)

    def publish(self, data: bytes) -> None:
        for deliver in self.broker.subscribers:
            if deliver is not self._deliver:  # the hub has delivered its own message already
                asyncio.get_running_loop().call_soon(deliver, data)

    async def close(self) -> None:
        if self._deliver in self.broker.subscribers:
            self.broker.subscribers.remove(self._deliver)
        self._deliver = None
