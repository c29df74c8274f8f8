"""The realtime socket over a real `backstack serve`, spoken to by a raw websocket client (vsn 1.0.0 and 2.0.0).

Broadcast and presence touch no database, so one engine (SQLite) serves these tests; the project
sets small limits (backstack.toml) so that the limits themselves can be reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator

import httpx
import jwt
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tests.compat.conftest import LiveServer
from tests.realtime.wire import heartbeats, join, push_frame, recv, send, serve_with, user_token, ws_url

LIMITS = """
realtime_max_channels = 3
realtime_queue_frames = 8
realtime_idle_seconds = 3
realtime_max_message_bytes = 70000
"""
pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serve_with(tmp_path_factory.mktemp("realtime") / "app", LIMITS) as live:
        yield live


@pytest.fixture
async def socket(server: LiveServer) -> AsyncIterator[ClientConnection]:
    async with websockets.connect(ws_url(server)) as connection:
        yield connection


async def test_heartbeat_is_answered_on_phoenix(socket: ClientConnection) -> None:
    await send(socket, "phoenix", "heartbeat", {}, ref="9")
    answer = await recv(socket)
    assert answer == {"topic": "phoenix", "event": "phx_reply", "payload": {"status": "ok", "response": {}}} | {
        "ref": "9",
        "join_ref": "9",
    }


async def test_join_echoes_postgres_changes_with_ids_then_says_the_tables_are_not_published(
    socket: ClientConnection,
) -> None:
    changes = [
        {"event": "*", "schema": "public", "table": "todos", "filter": "id=eq.1"},
        {"event": "INSERT", "schema": "public"},
    ]
    reply = await join(socket, "realtime:db", {"postgres_changes": changes})
    assert reply["event"] == "phx_reply" and reply["payload"]["status"] == "ok"
    echoed = reply["payload"]["response"]["postgres_changes"]
    assert [{k: v for k, v in entry.items() if k != "id"} for entry in echoed] == changes
    assert all(isinstance(entry["id"], int) and entry["id"] > 0 for entry in echoed)
    system = await recv(socket)  # no table is published: the channel is told so once, as Supabase tells it
    assert system["event"] == "system" and system["ref"] is None
    assert set(system["payload"]) == {"channel", "extension", "message", "status"}
    assert system["payload"]["channel"] == "db" and system["payload"]["status"] == "error"
    assert system["payload"]["message"].startswith("Unable to subscribe to changes with given parameters")
    again = await join(socket, "realtime:db2", {"postgres_changes": changes[:1]}, ref="5")
    assert again["payload"]["response"]["postgres_changes"][0]["id"] == echoed[0]["id"]  # stable per parameters


async def test_messages_to_a_topic_not_joined_are_unmatched(socket: ClientConnection) -> None:
    await send(socket, "realtime:nowhere", "broadcast", {"type": "broadcast", "event": "e", "payload": {}})
    assert (await recv(socket))["payload"] == {"status": "error", "response": {"reason": "unmatched topic"}}


async def test_bad_and_expired_tokens_and_private_channels_are_refused_at_join(
    server: LiveServer, socket: ClientConnection
) -> None:
    expired = await join(socket, "realtime:a", access_token=user_token(server, expires_in=-100))
    assert expired["payload"]["status"] == "error"
    assert expired["payload"]["response"]["reason"].startswith("InvalidJWTToken: Token has expired 1")
    forged = await join(socket, "realtime:a", access_token=jwt.encode({"role": "service_role"}, "x" * 32))
    assert forged["payload"]["response"]["reason"].startswith("InvalidJWTToken: ")
    private = await join(socket, "realtime:secret", {"private": True}, access_token=user_token(server))
    assert private["payload"]["response"] == {
        "reason": "Unauthorized: You do not have permissions to read from this Channel topic: secret"
    }
    malformed = await join(socket, "realtime:a", {"broadcast": {"self": "yes"}})
    assert malformed["payload"]["status"] == "error"


async def test_broadcast_reaches_others_and_the_sender_only_with_self_and_acks_on_request(server: LiveServer) -> None:
    async with websockets.connect(ws_url(server)) as a, websockets.connect(ws_url(server, "2.0.0")) as b:
        assert (await join(a, "realtime:room", {"broadcast": {"self": True, "ack": True}}))["payload"]["status"] == "ok"
        await b.send(json.dumps(["1", "1", "realtime:room", "phx_join", {"config": {}}]))
        assert json.loads(await b.recv())[3:] == ["phx_reply", {"status": "ok", "response": {"postgres_changes": []}}]
        await send(
            a, "realtime:room", "broadcast", {"type": "broadcast", "event": "cursor", "payload": {"x": 1}}, ref="2"
        )
        got_a = [await recv(a), await recv(a)]
        assert {m["event"] for m in got_a} == {"broadcast", "phx_reply"}
        assert next(m for m in got_a if m["event"] == "broadcast")["payload"] == {
            "type": "broadcast", "event": "cursor", "payload": {"x": 1}
        }  # fmt: skip
        assert json.loads(await b.recv()) == [
            None, None, "realtime:room", "broadcast", {"type": "broadcast", "event": "cursor", "payload": {"x": 1}}
        ]  # fmt: skip
        await b.send(push_frame("1", "3", "realtime:room", "cursor", b'{"x":2}'))  # supabase-js's binary push
        assert (await recv(a))["payload"]["payload"] == {"x": 2}
        with pytest.raises(TimeoutError):  # b joined without broadcast.self
            await asyncio.wait_for(b.recv(), 0.3)


async def test_presence_state_diff_and_leave_on_disconnect(server: LiveServer) -> None:
    async with websockets.connect(ws_url(server)) as watcher:
        await join(watcher, "realtime:lobby", {"presence": {"enabled": True}})
        assert (await recv(watcher))["event"] == "presence_state"
        async with websockets.connect(ws_url(server)) as tracker:
            await join(tracker, "realtime:lobby", {"presence": {"key": "bob", "enabled": True}})
            assert (await recv(tracker)) == {
                "topic": "realtime:lobby", "event": "presence_state", "payload": {}, "ref": None, "join_ref": None
            }  # fmt: skip
            await send(tracker, "realtime:lobby", "presence", {"event": "TRACK", "payload": {"mood": "ok"}}, ref="2")
            joined = await recv(watcher)
            assert joined["event"] == "presence_diff" and joined["payload"]["leaves"] == {}
            [meta] = joined["payload"]["joins"]["bob"]["metas"]
            assert meta["mood"] == "ok" and meta["phx_ref"]
            await send(
                tracker, "realtime:lobby", "presence", {"event": "track", "payload": ["not", "a", "map"]}, ref="3"
            )
            replies = [await recv(tracker), await recv(tracker)]  # its own diff and the two replies, in order
            replies.append(await recv(tracker))
            errors = [m for m in replies if m["event"] == "phx_reply" and m["payload"]["status"] == "error"]
            assert errors[0]["payload"]["response"] == {"reason": "Presence track payload must be a map"}
        left = await recv(watcher)
        assert left["event"] == "presence_diff" and left["payload"]["leaves"]["bob"]["metas"][0]["mood"] == "ok"


async def test_leave_closes_the_channel_and_a_rejoin_replaces_it(socket: ClientConnection) -> None:
    await join(socket, "realtime:x")
    second = await join(socket, "realtime:x", ref="7")
    closed = await recv(socket)
    assert {second["event"], closed["event"]} == {"phx_reply", "phx_close"}
    await send(socket, "realtime:x", "phx_leave", {}, ref="8")
    assert (await recv(socket))["payload"] == {"status": "ok", "response": {}}
    assert (await recv(socket))["event"] == "phx_close"
    await send(socket, "realtime:x", "broadcast", {"event": "e", "payload": {}}, ref="9")
    assert (await recv(socket))["payload"]["response"] == {"reason": "unmatched topic"}


async def test_too_many_channels_are_refused(socket: ClientConnection) -> None:
    for n in range(3):
        assert (await join(socket, f"realtime:c{n}"))["payload"]["status"] == "ok"
    refused = await join(socket, "realtime:c3")
    assert refused["payload"]["response"] == {"reason": "ChannelRateLimitReached: Too many channels"}


async def test_a_refreshed_token_keeps_the_channel_and_a_bad_one_closes_it(
    server: LiveServer, socket: ClientConnection
) -> None:
    await join(socket, "realtime:t", access_token=user_token(server))
    await send(socket, "realtime:t", "access_token", {"access_token": user_token(server, sub="u1")}, ref=None)
    await send(socket, "phoenix", "heartbeat", {}, ref="h")
    assert (await recv(socket))["topic"] == "phoenix"  # no reply to the refresh, channel still there
    await send(socket, "realtime:t", "access_token", {"access_token": "not.a.token"}, ref=None)
    system = await recv(socket)
    assert system["event"] == "system" and system["payload"]["status"] == "error"
    assert system["payload"]["message"].startswith("InvalidJWTToken")
    assert (await recv(socket))["event"] == "phx_close"


async def test_a_token_that_expires_closes_its_channel(server: LiveServer, socket: ClientConnection) -> None:
    await join(socket, "realtime:soon", access_token=user_token(server, expires_in=1))
    system = await recv(socket)
    assert system["payload"]["message"] == "Token has expired 0 seconds ago"
    assert (await recv(socket))["event"] == "phx_close"


@pytest.mark.parametrize(
    ("query", "status"), [("apikey=nope&vsn=1.0.0", 403), ("vsn=1.0.0", 403), ("apikey={key}&vsn=9.9.9", 403)]
)
async def test_bad_keys_and_versions_are_refused_at_the_upgrade(server: LiveServer, query: str, status: int) -> None:
    url = f"{server.url.replace('http://', 'ws://')}/realtime/v1/websocket?{query.format(key=server.anon_key)}"
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(url):
            pass
    assert refused.value.response.status_code == status


@pytest.mark.parametrize(("frame", "code"), [("{not json", 1007), ("x" * 80_000, 1009)])
async def test_unreadable_and_oversized_frames_close_the_socket(
    socket: ClientConnection, frame: str, code: int
) -> None:
    await socket.send(frame)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(socket.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == code


async def test_a_silent_socket_is_closed(socket: ClientConnection) -> None:
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(socket.recv(), 10)


async def test_a_client_that_stops_reading_is_disconnected_without_holding_up_others(server: LiveServer) -> None:
    async with websockets.connect(ws_url(server), max_queue=1) as slow, websockets.connect(ws_url(server)) as other:
        await join(slow, "realtime:flood", {"broadcast": {"self": True}})
        await join(other, "realtime:flood")
        big = {"type": "broadcast", "event": "e", "payload": {"blob": "x" * 60_000}}
        received = 0
        lively = asyncio.create_task(heartbeats(other))  # the idle limit is 3 s here
        with contextlib.suppress(websockets.ConnectionClosed, TimeoutError):
            for n in range(600):  # the slow socket's kernel buffers fill, then its queue of 8 frames
                await asyncio.wait_for(send(slow, "realtime:flood", "broadcast", big, ref=str(n)), 5)
                with contextlib.suppress(TimeoutError):  # the other socket keeps reading and getting
                    while True:
                        await asyncio.wait_for(other.recv(), 0.001 if n % 10 else 0.05)
                        received += 1
        assert received > 0
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(slow.recv(), 10)
        assert closed.value.rcvd is None or closed.value.rcvd.code == 1008
        lively.cancel()
        await send(other, "phoenix", "heartbeat", {}, ref="alive")  # the other socket is still served
        while (await recv(other)).get("ref") != "alive":
            pass


async def test_rest_broadcast_reaches_sockets_and_refuses_what_it_cannot_honour(server: LiveServer) -> None:
    async with websockets.connect(ws_url(server)) as listener, httpx.AsyncClient(base_url=server.url) as http:
        await join(listener, "realtime:news")
        keys = {"apikey": server.service_key, "Authorization": f"Bearer {server.service_key}"}
        body = {"messages": [{"topic": "news", "event": "flash", "payload": {"n": 1}}]}
        assert (await http.post("/realtime/v1/api/broadcast", json=body, headers=keys)).status_code == 202
        assert (await recv(listener))["payload"] == {"type": "broadcast", "event": "flash", "payload": {"n": 1}}
        one = await http.post("/realtime/v1/api/broadcast/realtime:news/events/flash", json={"n": 2}, headers=keys)
        assert one.status_code == 202 and (await recv(listener))["payload"]["payload"] == {"n": 2}
        anon = {"apikey": server.anon_key}
        private = {"messages": [{"topic": "news", "event": "e", "payload": {}, "private": True}]}
        assert (await http.post("/realtime/v1/api/broadcast", json=private, headers=anon)).status_code == 403
        assert (await http.post("/realtime/v1/api/broadcast", content=b"[", headers=anon)).status_code == 400
        assert (
            await http.post("/realtime/v1/api/broadcast", json={"messages": [{"topic": ""}]}, headers=anon)
        ).status_code == 400
        assert (await http.post("/realtime/v1/api/broadcast", json=body)).status_code == 401


async def test_health_and_metrics_count_this_workers_sockets_and_channels(server: LiveServer) -> None:
    async with websockets.connect(ws_url(server)) as ws, httpx.AsyncClient(base_url=server.url) as http:
        await join(ws, "realtime:counted")
        await join(ws, "realtime:counted-too", ref="2")
        health = (await http.get("/health")).json()["realtime"]
        assert health["connections"] >= 1 and health["channels"] >= 2 and health["rooms"] >= 2
        assert health["bus"] == "memory"  # one worker, no Redis, SQLite
        metrics = (await http.get("/metrics")).text
        assert "backstack_realtime_channels{pid=" in metrics
