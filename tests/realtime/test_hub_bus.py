"""Hubs that share a bus: broadcasts once per socket, presence as one state, dead nodes forgotten.

The hubs run in this process on one `MemoryBroker` (the other buses are tested in test_bus.py and
over real servers in test_fanout.py); the dying node is a real process on PostgreSQL or Redis,
killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from backstack.realtime.bus import Bus, MemoryBroker, MemoryBus
from backstack.realtime.bus.postgres import PostgresBus
from backstack.realtime.bus.redis import RedisBus
from backstack.realtime.hub import Hub
from backstack.realtime.protocol import Frame
from backstack.realtime.replicas import DEAD_SECONDS, HEARTBEAT_SECONDS
from tests.cache.limiters import REDIS_URL, redis_keys
from tests.services import postgres_database

pytestmark = pytest.mark.anyio


@dataclass
class Member:
    """A joined channel that keeps what it is sent."""

    topic: str
    owner: str
    broadcast_self: bool = False
    private: bool = False
    presence_enabled: bool = True
    presence_key: str = "k"
    frames: list[Frame] = field(default_factory=list)

    def push(self, frame: Frame) -> None:
        self.frames.append(frame)

    def events(self, event: str) -> list[dict[str, Any]]:
        return [frame.payload for frame in self.frames if frame.event == event]


def broker_of(hub: Hub) -> MemoryBroker:
    assert isinstance(hub.bus, MemoryBus)
    return hub.bus.broker


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.fixture
async def hubs() -> AsyncIterator[list[Hub]]:
    broker = MemoryBroker()
    started = [Hub(MemoryBus(broker)) for _ in range(2)]
    for hub in started:
        await hub.start()
    yield started
    for hub in started:
        await hub.close()


async def test_a_broadcast_reaches_every_hubs_members_of_its_room_once(hubs: list[Hub]) -> None:
    first, second = hubs
    sender, near = Member("t", "1", broadcast_self=True), Member("t", "2")
    far, elsewhere, private = Member("t", "3"), Member("other", "4"), Member("t", "5", private=True)
    for hub, member in ((first, sender), (first, near), (second, far), (second, elsewhere), (second, private)):
        hub.join(member)
    first.broadcast("t", {"event": "e"}, sender=sender)
    await settle()
    assert [len(m.events("broadcast")) for m in (sender, near, far, elsewhere, private)] == [1, 1, 1, 0, 0]
    first.broadcast("t", {"event": "secret"}, private=True)  # the private room is another room on every hub
    await settle()
    assert private.events("broadcast") == [{"event": "secret"}] and len(far.events("broadcast")) == 1


async def test_presence_is_one_state_across_hubs(hubs: list[Hub]) -> None:
    first, second = hubs
    here, there = Member("t", "1", presence_key="ann"), Member("t", "2", presence_key="bob")
    first.join(here)
    second.join(there)
    first.track(here, {"at": 1})
    hidden = Member("t", "3", private=True)
    second.join(hidden)
    await settle()
    assert second.presence_state(hidden) == {} and hidden.events("presence_diff") == []
    assert there.events("presence_diff")[-1]["joins"]["ann"]["metas"][0]["at"] == 1
    second.track(there, {"at": 2})
    await settle()
    assert set(first.presence_state(here)) == set(second.presence_state(there)) == {"ann", "bob"}
    first.leave(here)
    await settle()
    assert set(there.events("presence_diff")[-1]["leaves"]) == {"ann"}
    assert set(second.presence_state(there)) == {"bob"}


async def test_a_hub_that_starts_later_gets_the_state_and_one_that_stops_takes_its_entries(hubs: list[Hub]) -> None:
    first, _ = hubs
    tracked = Member("t", "1", presence_key="ann")
    first.join(tracked)
    first.track(tracked, {})
    late = Hub(MemoryBus(broker_of(first)))
    await late.start()
    await settle()
    watcher = Member("t", "9")
    assert set(late.presence_state(watcher)) == {"ann"}  # its hello was answered with the state
    late.join(watcher)
    await first.close()  # goodbye: the entries leave at once
    await settle()
    assert late.presence_state(watcher) == {}
    assert set(watcher.events("presence_diff")[-1]["leaves"]) == {"ann"}
    await late.close()


NODE = """
import asyncio, sys
from backstack.realtime.bus.postgres import PostgresBus
from backstack.realtime.bus.redis import RedisBus
from backstack.realtime.hub import Hub

class Member:
    topic, owner, broadcast_self, presence_enabled, presence_key, private = "t", "x", False, True, "doomed", False
    def push(self, frame): pass

async def main():
    kind, url, prefix = sys.argv[1:4]
    hub = Hub(PostgresBus(url) if kind == "postgres" else RedisBus(url, prefix=prefix))
    await hub.start()
    member = Member()
    hub.join(member)
    hub.track(member, {"pid": 1})
    print("ready", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


@pytest.mark.slow
@pytest.mark.parametrize("kind", [pytest.param("postgres", marks=pytest.mark.postgres), "redis"])
async def test_a_node_that_dies_has_its_presence_removed_after_the_timeout(kind: str) -> None:
    prefix = f"bs_test_{os.getpid()}_{secrets.token_hex(4)}:"
    with postgres_database(kind) as url:
        if kind == "redis":
            async with redis_keys(prefix):
                await _dies(kind, REDIS_URL, prefix, RedisBus(REDIS_URL, prefix=prefix))
        else:
            assert url is not None
            await _dies(kind, url, prefix, PostgresBus(url))


async def _dies(kind: str, url: str, prefix: str, bus: Bus) -> None:
    hub = Hub(bus)
    await hub.start()
    watcher = Member("t", "w")
    hub.join(watcher)
    node = subprocess.Popen([sys.executable, "-c", textwrap.dedent(NODE), kind, url, prefix], stdout=subprocess.PIPE)
    try:
        assert node.stdout is not None
        assert node.stdout.readline().strip() == b"ready"
        await _until(lambda: "doomed" in hub.presence_state(watcher), 10)
        os.kill(node.pid, signal.SIGKILL)  # no goodbye
        killed = time.monotonic()
        await _until(lambda: "doomed" not in hub.presence_state(watcher), DEAD_SECONDS + 2 * HEARTBEAT_SECONDS)
        assert time.monotonic() - killed >= DEAD_SECONDS - HEARTBEAT_SECONDS  # by the timeout, not before
        assert set(watcher.events("presence_diff")[-1]["leaves"]) == {"doomed"}
    finally:
        node.kill()
        node.wait()
        await hub.close()


async def _until(condition: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)
