"""How the hubs of every worker and node hear each other (issue 9, "fan-out between nodes").

`build_bus(settings)` picks one per app, as `cache.build_rate_limiter` picks the rate limits' store:
Redis pub/sub when `redis_url` is set (every node on that Redis); else PostgreSQL LISTEN/NOTIFY when
the database is PostgreSQL (every node on that database); else, for a server of several worker
processes, unix sockets between the workers of this machine; else process memory. Each is a `Bus`
(base.py); nothing connects until the hub starts it in the app's startup.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from backstack.realtime.bus.base import Bus
from backstack.realtime.bus.memory import MemoryBroker, MemoryBus

if TYPE_CHECKING:
    from backstack.config import Settings

__all__ = ["Bus", "MemoryBroker", "MemoryBus", "build_bus", "realtime_shared"]


def build_bus(settings: Settings) -> Bus:
    if settings.redis_url:
        from backstack.realtime.bus.redis import RedisBus

        return RedisBus(settings.redis_url, prefix=settings.redis_prefix)
    if settings.database_url:
        from backstack.realtime.bus.postgres import PostgresBus

        return PostgresBus(settings.database_url, connect_timeout=settings.db_connect_timeout)
    if settings.workers > 1 and sys.platform != "win32":  # unix sockets
        from backstack.realtime.bus.local import LocalBus

        return LocalBus(settings.data_dir / "realtime")
    return MemoryBus()


def realtime_shared(settings: Settings) -> str:
    """Who hears a worker's broadcasts and presence, in words (the `serve` banner says it)."""
    if settings.redis_url:
        return "through Redis, by every worker and node on it"
    if settings.database_url:
        return "through PostgreSQL (LISTEN/NOTIFY), by every worker and node on the database"
    if settings.workers > 1 and sys.platform != "win32":
        return "by this server's workers (unix sockets; Redis or PostgreSQL share it between machines)"
    return "by this worker's sockets"
