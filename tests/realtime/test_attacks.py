"""Attacks on the realtime socket over a real `backstack serve`: each test is a hole that was found and closed.

Private channels must stay private (apart from public channels of the same name), one client must not be
able to disconnect the others with a frame the server accepts, and the limits must hold under concurrency.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets

from tests.compat.conftest import LiveServer, _run, start_server, stop_server
from tests.realtime.test_socket import join, recv, send, user_token, ws_url

LIMITS = """
realtime_max_connections = 12
realtime_idle_seconds = 5
"""
pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    project = tmp_path_factory.mktemp("realtime-attacks") / "app"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKSTACK_") and k != "DATABASE_URL"}
    _run(["init", str(project)], env)
    with (project / "backstack.toml").open("a") as settings:
        settings.write(LIMITS)
    live, proc = start_server(project, env, "sqlite")
    try:
        yield live
    finally:
        stop_server(proc)


async def silent(ws: websockets.ClientConnection, seconds: float = 0.4) -> bool:
    """True when nothing arrives within `seconds`."""
    try:
        await asyncio.wait_for(ws.recv(), seconds)
    except TimeoutError:
        return True
    return False


async def alive(ws: websockets.ClientConnection) -> bool:
    """The socket still answers a heartbeat (whatever else it had queued is skipped)."""
    try:
        await send(ws, "phoenix", "heartbeat", {}, ref="alive?")
        while (await recv(ws)).get("ref") != "alive?":
            pass
    except websockets.ConnectionClosed:
        return False
    return True


def deep(levels: int) -> Any:
    value: Any = {}
    for _ in range(levels):
        value = {"a": value}
    return value


async def test_a_public_join_does_not_hear_the_private_channel_of_the_same_name(server: LiveServer) -> None:
    service = {"access_token": server.service_key}
    async with websockets.connect(ws_url(server)) as insider, websockets.connect(ws_url(server)) as outsider:
        assert (await join(insider, "realtime:vault", {"private": True, "presence": {"enabled": True}}, **service))[
            "payload"
        ]["status"] == "ok"
        assert (await recv(insider))["event"] == "presence_state"
        assert (await join(outsider, "realtime:vault", {"presence": {"enabled": True}}))["payload"]["status"] == "ok"
        assert (await recv(outsider))["payload"] == {}  # no presence of the private channel
        await send(insider, "realtime:vault", "broadcast", {"event": "secret", "payload": {"pin": 1234}}, ref="2")
        await send(insider, "realtime:vault", "presence", {"event": "track", "payload": {"who": "admin"}}, ref="3")
        assert await silent(outsider)
        # and the other way: a public sender (socket or REST with the anon key) does not reach the private channel
        await send(outsider, "realtime:vault", "broadcast", {"event": "forged", "payload": {}}, ref="4")
        anon = {"apikey": server.anon_key}
        body = {"messages": [{"topic": "vault", "event": "forged", "payload": {}}]}
        async with httpx.AsyncClient(base_url=server.url) as http:
            assert (await http.post("/realtime/v1/api/broadcast", json=body, headers=anon)).status_code == 202
            keys = {"apikey": server.service_key}
            private = {"messages": [{"topic": "vault", "event": "ok", "payload": {}, "private": True}]}
            assert (await http.post("/realtime/v1/api/broadcast", json=private, headers=keys)).status_code == 202
        got = [await recv(insider) for _ in range(3)]  # ack-less: its own presence diff and reply, then the REST one
        events = [m["payload"].get("event") for m in got if m["event"] == "broadcast"]
        assert events == ["ok"]


async def test_a_refresh_to_a_role_without_access_closes_a_private_channel(server: LiveServer) -> None:
    async with websockets.connect(ws_url(server)) as ws:
        joined = await join(ws, "realtime:vault2", {"private": True}, access_token=server.service_key)
        assert joined["payload"]["status"] == "ok"
        for token in (user_token(server), "sb_publishable_x"):
            await send(ws, "realtime:vault2", "access_token", {"access_token": token}, ref=None)
            system = await recv(ws)
            assert system["event"] == "system" and system["payload"]["status"] == "error"
            assert system["payload"]["message"].startswith("Unauthorized")
            assert (await recv(ws))["event"] == "phx_close"
            await join(ws, "realtime:vault2", {"private": True}, access_token=server.service_key)
