"""Redis pub/sub: every worker of every node that points at the same Redis hears every message.

One channel, `<redis_prefix>realtime`, carries every topic: each node gets every message and the hub
drops the topics it has no sockets for (one subscription per node, nothing to subscribe per join).
Pub/sub channels are global to a Redis server, not per database number: `redis_prefix` is what
keeps two projects on one Redis apart. Redis delivers to the subscribers connected when the message
is published: while a node is disconnected it misses messages (its subscriber reconnects, with a
warning in the log); its own sockets are delivered to either way.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from backstack.realtime.bus.base import Deliver, Outbox, Throttled, cancel, wait_ready

RETRY_SECONDS = 1.0


class RedisBus:
    def __init__(self, url: str, prefix: str = "backstack:", timeout: float = 2.0) -> None:
        self.channel = prefix + "realtime"
        self.description = f"Redis channel {self.channel}"
        # No socket_timeout: the subscriber's read waits as long as no one publishes.
        self._client: Any = redis.from_url(url, socket_connect_timeout=timeout)
        self._warnings = Throttled()
        self._outbox = Outbox(self._send, self._warnings)
        self._ready = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None

    async def start(self, deliver: Deliver) -> None:
        self._listener = asyncio.create_task(self._listen(deliver))
        self._outbox.start()
        await wait_ready(self._ready, self.description)

    def publish(self, data: bytes) -> None:
        self._outbox.put(data)

    async def _send(self, data: bytes) -> None:
        await self._client.publish(self.channel, data)

    async def _listen(self, deliver: Deliver) -> None:
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._ready.set()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        deliver(message["data"])
            except (RedisError, OSError) as error:
                self._warnings.warn(f"Redis subscription lost, reconnecting ({self.description})", error)
            finally:
                await pubsub.aclose()
            await asyncio.sleep(RETRY_SECONDS)

    async def close(self) -> None:
        await self._outbox.close()
        await cancel(self._listener)
        await self._client.aclose()
