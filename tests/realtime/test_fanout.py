"""Broadcasts between the workers of one server and between nodes, over real `backstack serve`s.

Two workers: the project allows one socket per worker (`realtime_max_connections = 1`), so two
sockets that are both accepted are on different workers (a refused upgrade is retried: granian
hands each connection to one worker). On SQLite they hear each other through unix sockets, on
PostgreSQL through LISTEN/NOTIFY. Two nodes: two servers on their own ports, sharing PostgreSQL, or
(each on its own SQLite file) sharing Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tests.cache.limiters import redis_keys
from tests.compat.conftest import LiveServer, _run, start_server, stop_server
from tests.realtime.wire import join, recv, send, ws_url
from tests.services import postgres_database, run_sync

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
ONE_SOCKET_PER_WORKER = "realtime_max_connections = 1\n"
REDIS_DB = 7  # pub/sub ignores the database number: the prefix below is what isolates the test


def clean_env() -> dict[str, str]:
    shared = ("DATABASE_URL", "REDIS_URL")
    return {k: v for k, v in os.environ.items() if not k.startswith("BACKSTACK_") and k not in shared}


@contextlib.contextmanager
def serving(project: Path, env: dict[str, str], engine: str, workers: int = 1) -> Iterator[LiveServer]:
    server, proc = start_server(project, env, engine, workers=workers)
    try:
        yield server
    finally:
        stop_server(proc)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def two_workers(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    project = tmp_path_factory.mktemp(f"fanout-{request.param}") / "app"
    env = clean_env()
    with postgres_database(request.param) as url:
        if url:
            env["DATABASE_URL"] = url
        _run(["init", str(project)], env)
        with (project / "backstack.toml").open("a") as settings:
            settings.write(ONE_SOCKET_PER_WORKER)
        with serving(project, env, request.param, workers=2) as server:
            yield server


@contextlib.asynccontextmanager
async def on_two_workers(server: LiveServer) -> AsyncIterator[tuple[ClientConnection, ClientConnection]]:
    """Two sockets accepted by a server that takes one per worker: they are on different workers."""
    sockets: list[ClientConnection] = []
    try:
        for _ in range(200):
            try:
                sockets.append(await websockets.connect(ws_url(server)))
            except websockets.InvalidStatus:  # this worker has its socket: try again
                await asyncio.sleep(0.02)
            if len(sockets) == 2:
                break
        assert len(sockets) == 2, "granian never handed a connection to the second worker"
        yield sockets[0], sockets[1]
    finally:
        for socket in sockets:
            await socket.close()


async def broadcast(ws: ClientConnection, topic: str, event: str, payload: dict[str, Any]) -> None:
    await send(ws, topic, "broadcast", {"type": "broadcast", "event": event, "payload": payload}, ref="2")


async def nothing_more(ws: ClientConnection) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), 0.5)


async def test_a_broadcast_reaches_the_other_worker_once_and_self_still_holds(two_workers: LiveServer) -> None:
    async with on_two_workers(two_workers) as (first, second):
        assert (await join(first, "realtime:room", {"broadcast": {"self": True}}))["payload"]["status"] == "ok"
        assert (await join(second, "realtime:room"))["payload"]["status"] == "ok"
        await broadcast(first, "realtime:room", "hello", {"n": 1})
        for socket in (first, second):  # the sender hears itself (self: true) on its worker, once
            message = await recv(socket)
            assert message["event"] == "broadcast" and message["payload"]["payload"] == {"n": 1}
        await broadcast(second, "realtime:room", "back", {"n": 2})  # second joined without self
        assert (await recv(first))["payload"]["event"] == "back"
        await nothing_more(first)
        await nothing_more(second)


async def test_the_rest_broadcast_reaches_both_workers(two_workers: LiveServer) -> None:
    async with on_two_workers(two_workers) as (first, second):
        for socket in (first, second):
            await join(socket, "realtime:news")
        headers = {"apikey": two_workers.service_key, "Authorization": f"Bearer {two_workers.service_key}"}
        body = {"messages": [{"topic": "news", "event": "flash", "payload": {"big": "x" * 20000}}]}
        async with httpx.AsyncClient() as client:
            answer = await client.post(f"{two_workers.url}/realtime/v1/api/broadcast", json=body, headers=headers)
        assert answer.status_code == 202
        for socket in (first, second):  # 20 kB: above NOTIFY's payload limit on PostgreSQL
            assert (await recv(socket))["payload"]["payload"]["big"] == "x" * 20000
            await nothing_more(socket)


async def test_a_private_room_stays_private_across_workers(two_workers: LiveServer) -> None:
    async with on_two_workers(two_workers) as (public, private):
        await join(public, "realtime:vault")
        await join(private, "realtime:vault", {"private": True}, access_token=two_workers.service_key)
        headers = {"apikey": two_workers.service_key, "Authorization": f"Bearer {two_workers.service_key}"}
        body = {"messages": [{"topic": "vault", "event": "e", "payload": {"secret": 1}, "private": True}]}
        async with httpx.AsyncClient() as client:
            answer = await client.post(f"{two_workers.url}/realtime/v1/api/broadcast", json=body, headers=headers)
        assert answer.status_code == 202
        assert (await recv(private))["payload"]["payload"] == {"secret": 1}
        await nothing_more(public)


async def test_presence_is_shared_by_the_workers(two_workers: LiveServer) -> None:
    async with on_two_workers(two_workers) as (first, second):
        await join(first, "realtime:hall", {"presence": {"key": "ann", "enabled": True}})
        assert (await recv(first))["event"] == "presence_state"
        await send(first, "realtime:hall", "presence", {"type": "presence", "event": "track", "payload": {"a": 1}}, "3")
        diff, reply = await recv(first), await recv(first)  # the diff goes out before the reply
        assert reply["event"] == "phx_reply" and diff["payload"]["joins"]["ann"]["metas"][0]["a"] == 1
        await join(second, "realtime:hall", {"presence": {"key": "bob", "enabled": True}})
        state = await recv(second)  # the other worker's entries: in the state a join gets, or right after it
        assert state["event"] == "presence_state"
        if "ann" not in state["payload"]:  # the track was still on its way (a NOTIFY takes a few ms)
            state = await recv(second)
            assert state["event"] == "presence_diff" and not state["payload"]["leaves"]
            state["payload"] = state["payload"]["joins"]
        assert state["payload"]["ann"]["metas"][0]["a"] == 1
        await send(second, "realtime:hall", "presence", {"type": "presence", "event": "track", "payload": {}}, "3")
        diff = await recv(first)  # from the other worker
        assert diff["event"] == "presence_diff" and set(diff["payload"]["joins"]) == {"bob"}
        await first.close()  # its worker untracks it; the other worker's socket hears it leave
        while (message := await recv(second))["event"] != "presence_diff" or not message["payload"]["leaves"]:
            pass
        assert set(message["payload"]["leaves"]) == {"ann"}


# ---------------------------------------------------------------- two nodes


@pytest.fixture(scope="module", params=[pytest.param("postgres", marks=pytest.mark.postgres), "redis"])
def two_nodes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two servers of one project (one key set) on their own ports, sharing PostgreSQL or Redis."""
    folder = tmp_path_factory.mktemp(f"nodes-{request.param}")
    env = clean_env()
    with contextlib.ExitStack() as stack:
        if request.param == "redis":
            prefix = f"bs_test_{os.getpid()}_{secrets.token_hex(4)}:"
            stack.enter_context(redis_server_or_skip(prefix))
            env["REDIS_URL"] = f"redis://127.0.0.1:6379/{REDIS_DB}"
            env["BACKSTACK_REDIS_PREFIX"] = prefix
            engine = "sqlite"  # each node its own file: only Redis is shared
        else:
            url = stack.enter_context(postgres_database("postgres"))
            assert url is not None
            env["DATABASE_URL"], engine = url, "postgres"
        _run(["init", str(folder / "one")], env)
        shutil.copytree(folder / "one", folder / "two")
        yield (
            stack.enter_context(serving(folder / "one", env, engine)),
            stack.enter_context(serving(folder / "two", env, engine)),
        )


@contextlib.contextmanager
def redis_server_or_skip(prefix: str) -> Iterator[None]:
    async def check() -> None:
        async with redis_keys(prefix):
            pass

    run_sync(check())
    yield


async def test_a_broadcast_on_node_two_reaches_node_one(two_nodes: tuple[LiveServer, LiveServer]) -> None:
    one, two = two_nodes
    async with websockets.connect(ws_url(one)) as listener, websockets.connect(ws_url(two)) as sender:
        await join(listener, "realtime:lobby")
        await join(sender, "realtime:lobby", {"broadcast": {"self": True}})
        await broadcast(sender, "realtime:lobby", "wave", {"from": "two"})
        assert (await recv(listener))["payload"] == {"type": "broadcast", "event": "wave", "payload": {"from": "two"}}
        assert (await recv(sender))["payload"]["event"] == "wave"  # its own, once
        headers = {"apikey": two.service_key, "Authorization": f"Bearer {two.service_key}"}
        async with httpx.AsyncClient() as client:
            url = f"{two.url}/realtime/v1/api/broadcast/lobby/events/bell"
            assert (await client.post(url, json={"ring": 1}, headers=headers)).status_code == 202
        assert (await recv(listener))["payload"]["payload"] == {"ring": 1}
        assert (await recv(sender))["payload"]["payload"] == {"ring": 1}
        await nothing_more(listener)
        await nothing_more(sender)
