"""Each realtime bus against its real engine: two buses on one medium hear each other's messages,
once each and in order, small and large (above NOTIFY's 8000 bytes and a datagram's size).

"memory" is two buses on one broker, "local" two on one folder of unix sockets, "redis" the server at
127.0.0.1:6379 under a throw-away prefix, "postgres" a throw-away database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from backstack.realtime.bus import Bus, MemoryBroker, MemoryBus
from backstack.realtime.bus.local import LocalBus
from backstack.realtime.bus.postgres import NOTIFY_BYTES, PostgresBus
from backstack.realtime.bus.redis import RedisBus
from tests.cache.limiters import REDIS_URL, redis_keys
from tests.services import postgres_database

pytestmark = pytest.mark.anyio
KINDS = ["memory", "local", "redis", pytest.param("postgres", marks=pytest.mark.postgres)]


@contextlib.asynccontextmanager
async def bus_pair(kind: str, folder: Path) -> AsyncIterator[Callable[[], Bus]]:
    """A factory of buses that all share one medium of `kind`."""
    if kind == "memory":
        broker = MemoryBroker()
        yield lambda: MemoryBus(broker)
    elif kind == "local":
        yield lambda: LocalBus(folder / "realtime")
    elif kind == "redis":
        prefix = f"bs_test_{os.getpid()}_{secrets.token_hex(4)}:"
        async with redis_keys(prefix):
            yield lambda: RedisBus(REDIS_URL, prefix=prefix)
    else:
        with postgres_database("postgres") as url:
            assert url is not None
            yield lambda: PostgresBus(url)


class Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.arrived = asyncio.Event()

    def __call__(self, data: bytes) -> None:
        self.messages.append(data)
        self.arrived.set()

    async def wait_for(self, count: int) -> list[bytes]:
        async with asyncio.timeout(10):
            while len(self.messages) < count:
                self.arrived.clear()
                await self.arrived.wait()
        await asyncio.sleep(0.2)  # nothing more comes
        return self.messages


@pytest.mark.parametrize("kind", KINDS)
async def test_two_buses_hear_each_other_once_in_order(kind: str, tmp_path: Path) -> None:
    async with bus_pair(kind, tmp_path) as make:
        first, second = make(), make()
        inbox_first, inbox_second = Inbox(), Inbox()
        await first.start(inbox_first)
        await second.start(inbox_second)
        try:
            sent = [f'{{"n":{n}}}'.encode() for n in range(50)]
            for data in sent:
                first.publish(data)
            second.publish(b'{"from":"second"}')
            echoes = kind in ("redis", "postgres")  # they hear their own messages too (the hub skips its own)
            heard = await inbox_second.wait_for(51 if echoes else 50)
            assert [data for data in heard if data in sent] == sent  # every message once, in the order published
            assert heard.count(b'{"from":"second"}') == (1 if echoes else 0)
            echoed = await inbox_first.wait_for(51 if echoes else 1)
            assert [data for data in echoed if data in sent] == (sent if echoes else [])
            assert echoed.count(b'{"from":"second"}') == 1
        finally:
            await first.close()
            await second.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_a_large_message_arrives_whole(kind: str, tmp_path: Path) -> None:
    """1 MiB (realtime_max_message_bytes): far above NOTIFY's limit, carried through the spill table there."""
    async with bus_pair(kind, tmp_path) as make:
        first, second = make(), make()
        inbox = Inbox()
        await first.start(lambda data: None)
        await second.start(inbox)
        try:
            large = b'{"x":"' + b"a" * (1024 * 1024) + b'"}'
            just_below = b'{"x":"' + b"b" * (NOTIFY_BYTES - 20) + b'"}'
            first.publish(large)
            first.publish(just_below)
            first.publish(b'{"after":1}')
            assert await inbox.wait_for(3) == [large, just_below, b'{"after":1}']
        finally:
            await first.close()
            await second.close()


async def test_a_dead_workers_socket_is_skipped_and_removed(tmp_path: Path) -> None:
    first, second = LocalBus(tmp_path / "realtime"), LocalBus(tmp_path / "realtime")
    folder = first.folder  # or one under /tmp, when a socket path there would be too long
    inbox = Inbox()
    await first.start(lambda data: None)
    await second.start(inbox)
    stale = folder / "deadbeefdeadbeef.sock"  # a worker killed with -9 leaves its socket file
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(str(stale))
    os.utime(stale, (0, 0))
    try:
        first.publish(b'{"n":1}')
        assert await inbox.wait_for(1) == [b'{"n":1}']
        assert not stale.exists()
        assert (folder.stat().st_mode & 0o777) == 0o700
    finally:
        await first.close()
        await second.close()
    assert list(folder.iterdir()) == []  # each worker removes its socket when it stops


async def test_an_unreachable_redis_does_not_stop_the_app(tmp_path: Path) -> None:
    bus = RedisBus("redis://127.0.0.1:1/0", timeout=0.2)  # nothing listens on port 1
    await asyncio.wait_for(bus.start(lambda data: None), 10)
    bus.publish(b"{}")  # dropped with a warning, never raised
    await asyncio.sleep(0.1)
    await bus.close()


@pytest.mark.postgres
async def test_the_postgres_bus_reconnects_when_its_connection_is_killed() -> None:
    import asyncpg

    with postgres_database("postgres") as url:
        assert url is not None
        first, second = PostgresBus(url), PostgresBus(url)
        inbox = Inbox()
        await first.start(lambda data: None)
        await second.start(inbox)
        try:
            admin = await asyncpg.connect(url)
            try:
                killed = await admin.fetchval(
                    "select count(pg_terminate_backend(pid)) from pg_stat_activity"
                    " where datname = current_database() and application_name = 'backstack realtime'"
                )
            finally:
                await admin.close()
            assert killed == 2
            async with asyncio.timeout(15):  # each bus reconnects by itself (a second or so)
                while not inbox.messages:
                    first.publish(b'{"again":1}')
                    await asyncio.sleep(0.3)
            assert inbox.messages[0] == b'{"again":1}'
        finally:
            await first.close()
            await second.close()
