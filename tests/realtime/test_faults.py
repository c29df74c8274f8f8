"""Realtime under faults, over real servers: Redis restarted while two nodes share it, a client that
vanishes without a close frame, and a thousand joins from one connection.

The Redis here is a private `redis-server` on a free port (the machine's own is shared by other
tests and must not be restarted), killed with SIGKILL and started again on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets

from tests.compat.conftest import LiveServer, _free_port, _run, start_server, stop_server
from tests.realtime.test_fanout import clean_env
from tests.realtime.wire import join, recv, send, ws_url
from tests.services import require_service

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


class PrivateRedis:
    """A redis-server of the test's own, stopped and started at will on one port."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            require_service("redis-server is needed to restart a Redis under test (not found on PATH)")
        self.binary, self.folder, self.port = binary, folder, _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(args, cwd=self.folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return
            time.sleep(0.05)
        raise RuntimeError("the private redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture(scope="module")
def redis_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrivateRedis, LiveServer, LiveServer]]:
    """Two nodes of one project (each its own SQLite file) whose only shared service is a private Redis."""
    folder = tmp_path_factory.mktemp("faults")
    redis = PrivateRedis(folder)
    redis.start()
    env = {**clean_env(), "REDIS_URL": redis.url}
    _run(["init", str(folder / "one")], env)
    shutil.copytree(folder / "one", folder / "two")
    one, one_proc = start_server(folder / "one", env, "sqlite")
    try:
        two, two_proc = start_server(folder / "two", env, "sqlite")
        try:
            yield redis, one, two
        finally:
            stop_server(two_proc)
    finally:
        stop_server(one_proc)
        redis.kill()


async def broadcast_until_heard(sender: websockets.ClientConnection, listener: websockets.ClientConnection) -> float:
    """Broadcast every 100 ms until the listener hears one; the seconds it took."""
    started = time.monotonic()
    n = 0
    while time.monotonic() - started < 20:
        n += 1
        await send(sender, "realtime:lobby", "broadcast", {"type": "broadcast", "event": "tick", "payload": {"n": n}})
        with contextlib.suppress(TimeoutError):
            while True:
                message = await asyncio.wait_for(recv(listener), 0.1)
                if message["event"] == "broadcast":
                    return time.monotonic() - started
    raise AssertionError("no broadcast crossed the nodes within 20 s of Redis coming back")


async def test_broadcasts_cross_the_nodes_again_after_redis_restarts(
    redis_nodes: tuple[PrivateRedis, LiveServer, LiveServer],
) -> None:
    redis, one, two = redis_nodes
    async with websockets.connect(ws_url(one)) as listener, websockets.connect(ws_url(two)) as sender:
        for ws in (listener, sender):
            assert (await join(ws, "realtime:lobby"))["payload"]["status"] == "ok"
        await broadcast_until_heard(sender, listener)
        redis.kill()
        await send(sender, "realtime:lobby", "broadcast", {"type": "broadcast", "event": "lost", "payload": {}})
        await asyncio.sleep(0.5)
        redis.start()
        # the clients stay connected: each node's subscriber reconnects by itself (RETRY_SECONDS)
        assert await broadcast_until_heard(sender, listener) < 15
        await send(sender, "phoenix", "heartbeat", {}, ref="hb")  # both sockets survived the outage
        assert (await recv(sender))["payload"]["status"] == "ok"


async def test_a_client_that_vanishes_without_a_close_frame_leaves_presence(
    redis_nodes: tuple[PrivateRedis, LiveServer, LiveServer],
) -> None:
    _, one, _ = redis_nodes
    async with websockets.connect(ws_url(one)) as watcher:
        await join(watcher, "realtime:hall", {"presence": {"enabled": True}})
        assert (await recv(watcher))["event"] == "presence_state"
        ghost = await websockets.connect(ws_url(one))
        await join(ghost, "realtime:hall", {"presence": {"key": "ghost", "enabled": True}})
        await send(ghost, "realtime:hall", "presence", {"type": "presence", "event": "track", "payload": {}}, ref="2")
        while (message := await recv(watcher))["event"] != "presence_diff" or not message["payload"]["joins"]:
            pass
        ghost.transport.abort()  # the TCP connection is gone: no close frame, no FIN handshake
        started = time.monotonic()
        while (message := await recv(watcher))["event"] != "presence_diff" or not message["payload"]["leaves"]:
            pass
        assert set(message["payload"]["leaves"]) == {"ghost"}
        assert time.monotonic() - started < 3


async def test_a_thousand_joins_from_one_connection_are_bounded(
    redis_nodes: tuple[PrivateRedis, LiveServer, LiveServer],
) -> None:
    _, one, _ = redis_nodes
    async with websockets.connect(ws_url(one), max_queue=None) as ws:
        for n in range(1000):
            await send(ws, f"realtime:room-{n}", "phx_join", {"config": {}}, ref=str(n))
        replies = [await recv(ws) for _ in range(1000)]
        reasons = [r["payload"]["response"].get("reason", "ok") for r in replies]
        assert reasons.count("ok") == 100  # realtime_max_channels
        assert set(reasons) == {"ok", "ChannelRateLimitReached: Too many channels"}
        await send(ws, "phoenix", "heartbeat", {}, ref="hb")
        assert (await recv(ws))["payload"]["status"] == "ok"
    async with websockets.connect(ws_url(one)) as other:  # the worker serves others as before
        assert (await join(other, "realtime:after"))["payload"]["status"] == "ok"
