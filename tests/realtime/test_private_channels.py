"""Private channels on both engines: the policies on realtime.messages decide, as Supabase's Realtime
Authorization does (`private_policies.sql`, the same migration on both: each user its own room,
everyone signed in the lobby to read).

A real `backstack serve` on a fresh SQLite file and on a fresh PostgreSQL database; without any policy
a private join is refused (test_socket.py `..._private_channels_are_refused_at_join`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from tests.compat.conftest import LiveServer, compat_server
from tests.conftest import ENGINES
from tests.realtime.wire import join, recv, send, user_token, ws_url

pytestmark = pytest.mark.anyio
POLICIES = Path(__file__).with_name("private_policies.sql")
COUNTED = Path(__file__).with_name("private_policies_counted.sql")  # PostgreSQL only: counts the probes
ALICE, BOB = str(uuid.uuid4()), str(uuid.uuid4())
REFUSED_READ = "Unauthorized: You do not have permissions to read from this Channel topic: "
REFUSED_WRITE = "Unauthorized: You do not have permissions to write to this Channel topic: "
PRIVATE = {"private": True, "broadcast": {"ack": True}}


@pytest.fixture(scope="module", params=ENGINES)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("realtime-private")
    migration = folder / "policies.sql"
    extra = COUNTED.read_text() if request.param == "postgres" else ""
    migration.write_text(POLICIES.read_text() + extra)
    with compat_server(request.param, folder / "project", migration) as live:
        yield live


def reason(reply: dict[str, object]) -> object:
    payload = reply["payload"]
    assert isinstance(payload, dict)
    return payload["response"].get("reason") if payload["status"] == "error" else "ok"


async def joined(server: LiveServer, topic: str, token: str | None) -> object:
    """What a private join of `topic` with `token` (None: the socket's anon key) is answered, on a socket of its own."""
    extra = {} if token is None else {"access_token": token}
    async with websockets.connect(ws_url(server)) as socket:
        return reason(await join(socket, f"realtime:{topic}", PRIVATE, **extra))


async def test_a_private_room_is_joined_only_by_whom_the_policies_let_read(server: LiveServer) -> None:
    room = f"room-{ALICE}"
    assert await joined(server, room, user_token(server, sub=ALICE)) == "ok"
    assert await joined(server, room, user_token(server, sub=BOB)) == REFUSED_READ + room
    assert await joined(server, room, None) == REFUSED_READ + room  # anon
    assert await joined(server, room, server.anon_key) == REFUSED_READ + room
    assert await joined(server, room, server.service_key) == "ok"
    assert await joined(server, f"room-{BOB}", user_token(server, sub=BOB)) == "ok"
    assert await joined(server, "lobby", user_token(server, sub=BOB)) == "ok"
    assert await joined(server, "elsewhere", user_token(server, sub=BOB)) == REFUSED_READ + "elsewhere"


async def test_sending_needs_the_insert_policy(server: LiveServer) -> None:
    alice = user_token(server, sub=ALICE)
    async with websockets.connect(ws_url(server)) as sender, websockets.connect(ws_url(server)) as listener:
        room = f"realtime:room-{ALICE}"
        assert reason(await join(listener, room, PRIVATE, access_token=server.service_key)) == "ok"
        assert reason(await join(sender, room, PRIVATE, access_token=alice)) == "ok"
        await send(sender, room, "broadcast", {"type": "broadcast", "event": "e", "payload": {"n": 1}}, ref="2")
        assert (await recv(sender))["payload"] == {"status": "ok", "response": {}}
        assert (await recv(listener))["payload"]["payload"] == {"n": 1}
        assert reason(await join(sender, "realtime:lobby", PRIVATE, access_token=alice, ref="3")) == "ok"
        await send(sender, "realtime:lobby", "broadcast", {"type": "broadcast", "event": "e", "payload": {}}, ref="4")
        assert reason(await recv(sender)) == REFUSED_WRITE + "lobby"
        await send(sender, "realtime:lobby", "presence", {"type": "presence", "event": "track", "payload": {}}, ref="5")
        assert reason(await recv(sender)) == REFUSED_WRITE + "lobby"


async def test_a_token_refresh_to_another_user_is_checked_again(server: LiveServer) -> None:
    room = f"realtime:room-{ALICE}"
    async with websockets.connect(ws_url(server)) as socket:
        assert reason(await join(socket, room, PRIVATE, access_token=user_token(server, sub=ALICE))) == "ok"
        await send(socket, room, "access_token", {"access_token": user_token(server, sub=ALICE, expires_in=7200)})
        await send(socket, room, "broadcast", {"type": "broadcast", "event": "e", "payload": {}}, ref="2")
        assert reason(await recv(socket)) == "ok"  # the same user's new token keeps the channel
        await send(socket, room, "access_token", {"access_token": user_token(server, sub=BOB)})
        system = await recv(socket)
        assert system["event"] == "system" and system["payload"]["message"] == REFUSED_READ + f"room-{ALICE}"
        assert (await recv(socket))["event"] == "phx_close"


async def test_a_rest_private_broadcast_needs_the_insert_policy(server: LiveServer) -> None:
    def headers(token: str) -> dict[str, str]:
        return {"apikey": server.anon_key, "Authorization": f"Bearer {token}"}

    def body(topic: str) -> dict[str, object]:
        return {"messages": [{"topic": topic, "event": "e", "payload": {}, "private": True}]}

    alice = user_token(server, sub=ALICE)
    async with httpx.AsyncClient(base_url=server.url) as http:
        own = await http.post("/realtime/v1/api/broadcast", json=body(f"room-{ALICE}"), headers=headers(alice))
        assert own.status_code == 202
        other = await http.post("/realtime/v1/api/broadcast", json=body(f"room-{BOB}"), headers=headers(alice))
        assert other.status_code == 403 and other.json()["message"].endswith(f"topic: room-{BOB}")
        anon = await http.post(
            "/realtime/v1/api/broadcast", json=body(f"room-{ALICE}"), headers=headers(server.anon_key)
        )
        assert anon.status_code == 403
        one = await http.post(
            f"/realtime/v1/api/broadcast/room-{ALICE}/events/e?private=true", json={}, headers=headers(alice)
        )
        assert one.status_code == 202


async def test_a_rest_broadcast_with_one_refused_message_sends_none(server: LiveServer) -> None:
    alice = user_token(server, sub=ALICE)
    rooms = (f"room-{ALICE}", f"room-{BOB}")
    messages = [{"topic": topic, "event": "e", "payload": {"n": 1}, "private": True} for topic in rooms]
    async with websockets.connect(ws_url(server)) as listener, httpx.AsyncClient(base_url=server.url) as http:
        assert reason(await join(listener, f"realtime:room-{ALICE}", PRIVATE, access_token=server.service_key)) == "ok"
        sent = await http.post(
            "/realtime/v1/api/broadcast",
            json={"messages": messages},
            headers={"apikey": server.anon_key, "Authorization": f"Bearer {alice}"},
        )
        assert sent.status_code == 403
        with pytest.raises(TimeoutError):  # refused as a whole: not the first message, then a 403
            await asyncio.wait_for(listener.recv(), 0.5)


async def test_a_rest_broadcast_to_an_empty_topic_is_refused(server: LiveServer) -> None:
    headers = {"apikey": server.service_key}
    async with httpx.AsyncClient(base_url=server.url) as http:
        sent = await http.post(
            "/realtime/v1/api/broadcast",
            json={"messages": [{"topic": "realtime:", "event": "e", "payload": {}}]},
            headers=headers,
        )
        assert sent.status_code == 400
        one = await http.post("/realtime/v1/api/broadcast/realtime:/events/e", json={}, headers=headers)
        assert one.status_code == 400


async def test_a_rest_broadcast_asks_the_policies_once_per_topic(server: LiveServer) -> None:
    if server.engine != "postgres":
        pytest.skip("counted by a sequence (PostgreSQL's: SQLite's probe writes nothing); routes.py's count is shared")
    alice = user_token(server, sub=ALICE)
    headers = {"apikey": server.anon_key, "Authorization": f"Bearer {alice}"}
    messages = [{"topic": "counted", "event": "e", "payload": {}, "private": True}] * 50
    async with httpx.AsyncClient(base_url=server.url) as http:
        before = (await http.post("/rest/v1/rpc/probes", json={}, headers=headers)).json()
        sent = await http.post("/realtime/v1/api/broadcast", json={"messages": messages}, headers=headers)
        assert sent.status_code == 202
        after = (await http.post("/rest/v1/rpc/probes", json={}, headers=headers)).json()
    assert after - before == 1  # not one transaction per message
