"""supabase-py's realtime (async client, vsn 1.0.0) against a live `backstack serve`: broadcast and presence.

Broadcast and presence touch no database, so one engine (SQLite) serves them; row changes
(`postgres_changes`) will run on both engines once they are captured (issue 9). Private channels
allowed by a policy on realtime.messages run on both engines (`policy_server`: the same migration).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from realtime import RealtimeSubscribeStates
from supabase import AsyncClient, acreate_client

from tests.compat.conftest import LiveServer, compat_server
from tests.conftest import ENGINES

pytestmark = [pytest.mark.compat, pytest.mark.anyio]
PRIVATE_POLICIES = Path(__file__).parents[1] / "realtime" / "private_policies.sql"  # each user its own room


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with compat_server("sqlite", tmp_path_factory.mktemp("compat-realtime")) as live:
        yield live


@pytest.fixture(scope="module", params=ENGINES)
def policy_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with compat_server(request.param, tmp_path_factory.mktemp("compat-realtime-policies"), PRIVATE_POLICIES) as live:
        yield live


async def client(server: LiveServer, key: str | None = None) -> AsyncClient:
    return await acreate_client(server.url, key or server.anon_key)


async def subscribed(channel: Any) -> tuple[RealtimeSubscribeStates, Any]:
    """Subscribe and wait for the first status the client reports."""
    done: asyncio.Future[tuple[RealtimeSubscribeStates, Any]] = asyncio.get_running_loop().create_future()

    def on_status(status: RealtimeSubscribeStates, error: Any) -> None:
        if not done.done():
            done.set_result((status, error))

    await channel.subscribe(on_status)
    return await asyncio.wait_for(done, 10)


async def until(check: Any, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_broadcast_self_ack_and_from_the_server(server: LiveServer) -> None:
    alice, bob = await client(server), await client(server)
    heard: list[tuple[str, dict[str, Any]]] = []
    loud = alice.channel("room", {"config": {"broadcast": {"self": True, "ack": True}}})
    loud.on_broadcast("cursor", lambda message: heard.append(("alice", message)))
    quiet = bob.channel("room")
    quiet.on_broadcast("cursor", lambda message: heard.append(("bob", message)))
    assert (await subscribed(loud))[0] == RealtimeSubscribeStates.SUBSCRIBED
    assert (await subscribed(quiet))[0] == RealtimeSubscribeStates.SUBSCRIBED
    await loud.send_broadcast("cursor", {"x": 1})
    await until(lambda: len(heard) == 2)
    assert sorted(who for who, _ in heard) == ["alice", "bob"]
    assert all(message["payload"] == {"x": 1} for _, message in heard)
    await quiet.send_broadcast("cursor", {"x": 2})  # bob did not ask for self: only alice hears it
    await until(lambda: len(heard) == 3)
    assert heard[2] == ("alice", {"event": "cursor", "payload": {"x": 2}})
    keys = {"apikey": server.service_key, "Authorization": f"Bearer {server.service_key}"}
    body = {"messages": [{"topic": "room", "event": "cursor", "payload": {"x": 3}}]}
    async with httpx.AsyncClient() as http:
        assert (await http.post(f"{server.url}/realtime/v1/api/broadcast", json=body, headers=keys)).status_code == 202
    await until(lambda: len(heard) == 5)
    await alice.remove_all_channels()
    await bob.remove_all_channels()


async def test_presence_sync_join_and_leave(server: LiveServer) -> None:
    watcher_client, tracker_client = await client(server), await client(server)
    joins: list[str] = []
    leaves: list[str] = []
    watcher = watcher_client.channel("lobby")
    watcher.on_presence_join(lambda key, current, new: joins.append(key))
    watcher.on_presence_leave(lambda key, current, left: leaves.append(key))
    watcher.on_presence_sync(lambda: None)
    assert (await subscribed(watcher))[0] == RealtimeSubscribeStates.SUBSCRIBED
    tracker = tracker_client.channel("lobby", {"config": {"presence": {"key": "bob"}}})
    tracker.on_presence_sync(lambda: None)
    assert (await subscribed(tracker))[0] == RealtimeSubscribeStates.SUBSCRIBED
    await tracker.track({"mood": "fine"})
    await until(lambda: joins == ["bob"])
    [meta] = watcher.presence_state()["bob"]
    assert meta["mood"] == "fine"
    await tracker.untrack()
    await until(lambda: leaves == ["bob"])
    assert watcher.presence_state() == {}
    await watcher_client.remove_all_channels()
    await tracker_client.remove_all_channels()


async def test_a_bad_token_and_a_private_channel_are_refused(server: LiveServer) -> None:
    secret = _secret(server.project)
    expired = jwt.encode({"sub": "u", "role": "authenticated", "exp": int(time.time()) - 60}, secret, "HS256")
    sb = await client(server)
    await sb.realtime.set_auth(expired)
    status, _ = await subscribed(sb.channel("room"))
    assert status == RealtimeSubscribeStates.CHANNEL_ERROR
    user = jwt.encode({"sub": "u", "role": "authenticated", "exp": int(time.time()) + 600}, secret, "HS256")
    other = await client(server)
    await other.realtime.set_auth(user)
    status, _ = await subscribed(other.channel("secret", {"config": {"private": True}}))
    assert status == RealtimeSubscribeStates.CHANNEL_ERROR
    await sb.remove_all_channels()
    await other.remove_all_channels()


async def test_a_private_channel_allowed_by_a_policy_is_joined(policy_server: LiveServer) -> None:
    user = str(uuid.uuid4())
    token = jwt.encode(
        {"sub": user, "role": "authenticated", "exp": int(time.time()) + 600}, _secret(policy_server.project), "HS256"
    )
    sb = await client(policy_server)
    await sb.realtime.set_auth(token)
    heard: list[dict[str, Any]] = []
    own = sb.channel(f"room-{user}", {"config": {"private": True, "broadcast": {"self": True}}})
    own.on_broadcast("hello", heard.append)
    assert (await subscribed(own))[0] == RealtimeSubscribeStates.SUBSCRIBED
    await own.send_broadcast("hello", {"n": 1})
    await until(lambda: len(heard) == 1)
    assert heard[0]["payload"] == {"n": 1}
    status, _ = await subscribed(sb.channel(f"room-{uuid.uuid4()}", {"config": {"private": True}}))
    assert status == RealtimeSubscribeStates.CHANNEL_ERROR  # someone else's room
    await sb.remove_all_channels()


def _secret(project: Path) -> str:
    text = (project / "backstack.toml").read_text()
    return text.split('jwt_secret = "', 1)[1].split('"', 1)[0]
