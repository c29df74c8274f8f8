"""Attacks on the realtime socket over a real `backstack serve`: each test is a hole that was found and closed.

Private channels must stay private (apart from public channels of the same name), one client must not be
able to disconnect the others with a frame the server accepts, and the limits must hold under concurrency.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
import websockets

from tests.compat.conftest import LiveServer
from tests.realtime.wire import join, push_frame, recv, secret, send, serve_with, user_token, ws_url

LIMITS = """
realtime_max_connections = 12
realtime_idle_seconds = 5
"""
pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serve_with(tmp_path_factory.mktemp("realtime-attacks") / "app", LIMITS) as live:
        yield live


async def silent(ws: websockets.ClientConnection, seconds: float = 0.4) -> bool:
    """True when nothing arrives within `seconds`."""
    try:
        await asyncio.wait_for(ws.recv(), seconds)
    except TimeoutError:
        return True
    return False


async def alive(ws: websockets.ClientConnection, vsn: str = "1.0.0") -> bool:
    """The socket still answers a heartbeat (whatever else it had queued is skipped)."""
    try:
        if vsn == "1.0.0":
            await send(ws, "phoenix", "heartbeat", {}, ref="alive?")
        else:
            await ws.send(json.dumps([None, "alive?", "phoenix", "heartbeat", {}]))
        while "alive?" not in str(await asyncio.wait_for(ws.recv(), 5)):
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


@pytest.mark.parametrize("vsn", ["1.0.0", "2.0.0"])
async def test_a_payload_nested_too_deep_closes_only_its_sender(server: LiveServer, vsn: str) -> None:
    async with websockets.connect(ws_url(server)) as a, websockets.connect(ws_url(server, vsn)) as b:
        await join(a, "realtime:deep", {"presence": {"enabled": True}})
        await recv(a)  # presence_state
        if vsn == "1.0.0":
            await join(b, "realtime:deep")
        else:
            await b.send(json.dumps(["1", "1", "realtime:deep", "phx_join", {"config": {}}]))
            await b.recv()
        nested = deep(300)  # orjson reads 1,024 levels but writes only 255
        if vsn == "1.0.0":
            await send(b, "realtime:deep", "broadcast", {"event": "e", "payload": nested}, ref="2")
        else:
            await b.send(push_frame("1", "2", "realtime:deep", "e", json.dumps(nested).encode()))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(b.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007
        assert await alive(a)
    async with websockets.connect(ws_url(server)) as tracker, websockets.connect(ws_url(server)) as late:
        await join(tracker, "realtime:deep-presence")
        await send(tracker, "realtime:deep-presence", "presence", {"event": "track", "payload": deep(300)}, ref="2")
        with contextlib.suppress(websockets.ConnectionClosed, TimeoutError):
            await asyncio.wait_for(tracker.recv(), 5)
        await join(late, "realtime:deep-presence", {"presence": {"enabled": True}})
        assert (await recv(late))["event"] == "presence_state"
        assert await alive(late)


async def test_binary_broadcast_metadata_that_grows_when_rewritten_does_not_disconnect_receivers(
    server: LiveServer,
) -> None:
    meta = '{"meta":[' + ",".join(["1e9"] * 60) + "]}"  # 250 bytes in; each 1e9 is rewritten 1000000000.0
    assert len(meta) <= 255
    async with websockets.connect(ws_url(server, "2.0.0")) as a, websockets.connect(ws_url(server, "2.0.0")) as b:
        for ws in (a, b):
            await ws.send(json.dumps(["1", "1", "realtime:bin", "phx_join", {"config": {}}]))
            await ws.recv()
        await a.send(push_frame("1", "2", "realtime:bin", "blob", b"\x00\x01raw", encoding=0, meta=meta))
        got = await asyncio.wait_for(b.recv(), 5)
        assert isinstance(got, bytes) and got[0] == 4 and got.endswith(b"\x00\x01raw")
        assert await alive(b, "2.0.0")


async def test_concurrent_upgrades_cannot_pass_the_connection_limit(server: LiveServer) -> None:
    async def connect() -> websockets.ClientConnection | None:
        try:
            return await websockets.connect(ws_url(server))
        except websockets.InvalidStatus:
            return None

    opened = await asyncio.gather(*(connect() for _ in range(40)))
    accepted = [ws for ws in opened if ws is not None]
    try:
        assert 0 < len(accepted) <= 12
    finally:
        await asyncio.gather(*(ws.close() for ws in accepted))


async def test_forged_tokens_are_refused_and_never_echoed(server: LiveServer) -> None:
    claims = {"sub": "x", "role": "service_role", "exp": 2**31}
    forged = [
        jwt.encode(claims, "another-secret-of-32-bytes-at-least!", algorithm="HS256"),
        jwt.encode(claims, "", algorithm="none"),
        jwt.encode(claims, secret(server), algorithm="HS512"),
        jwt.encode({**claims, "role": "postgres"}, secret(server), algorithm="HS256"),
        jwt.encode({**claims, "exp": 10**30}, "x" * 32, algorithm="HS256"),
    ]
    async with websockets.connect(ws_url(server)) as ws:
        for n, token in enumerate(forged):
            reply = await join(ws, "realtime:forged", {"private": True}, access_token=token, ref=str(n))
            assert reply["payload"]["status"] == "error", token
            reason = reply["payload"]["response"]["reason"]
            assert reason.startswith("InvalidJWTToken") and token not in reason and secret(server) not in reason
        assert await alive(ws)
