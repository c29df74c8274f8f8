"""supabase-py's `postgres_changes` (async client, vsn 1.0.0) against a live `backstack serve`, on both engines.

Rows written by the service client reach the channels that asked for them; filters and events
choose; a table not published stays silent; `remove_channel` stops them; two users signed in for
real each hear the public notes and their own, never the other's (row-level security on `notes`,
tests/realtime/changes_schema.sql).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from realtime import RealtimeSubscribeStates
from supabase import AsyncClient, acreate_client

from tests.compat.conftest import LiveServer, compat_server

pytestmark = [pytest.mark.compat, pytest.mark.anyio]
SCHEMA = Path(__file__).parents[1] / "realtime" / "changes_schema.sql"
PASSWORD = "a long enough password 1"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with compat_server(request.param, tmp_path_factory.mktemp(f"compat-changes-{request.param}"), SCHEMA) as live:
        yield live


async def subscribed(channel: Any) -> RealtimeSubscribeStates:
    done: asyncio.Future[RealtimeSubscribeStates] = asyncio.get_running_loop().create_future()

    def on_status(status: RealtimeSubscribeStates, error: Any) -> None:
        if not done.done():
            done.set_result(status)

    await channel.subscribe(on_status)
    return await asyncio.wait_for(done, 10)


async def until(check: Any, seconds: float = 5, shown: Any = None) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out: {shown() if shown else ''}"
        await asyncio.sleep(0.02)


async def signed_up(server: LiveServer) -> tuple[AsyncClient, str]:
    """A client signed in as a new user (the realtime socket then speaks with the user's token)."""
    sb = await acreate_client(server.url, server.anon_key)
    answer = await sb.auth.sign_up({"email": f"{uuid.uuid4().hex[:12]}@example.com", "password": PASSWORD})
    assert answer.user is not None and answer.session is not None
    await asyncio.sleep(0.1)  # the client hands the new token to its realtime socket in a task of its own
    return sb, answer.user.id


async def test_changes_events_filters_and_remove_channel(server: LiveServer) -> None:
    sb = await acreate_client(server.url, server.anon_key)
    service = await acreate_client(server.url, server.service_key)
    every: list[dict[str, Any]] = []
    big: list[dict[str, Any]] = []
    channel = sb.channel("todos")
    channel.on_postgres_changes("*", every.append, table="todos", schema="public")
    channel.on_postgres_changes("INSERT", big.append, table="todos", filter="n=gt.10")
    assert await subscribed(channel) == RealtimeSubscribeStates.SUBSCRIBED
    unpublished: list[dict[str, Any]] = []
    silent = sb.channel("quiet")
    silent.on_postgres_changes("*", unpublished.append, table="quiet")
    await subscribed(silent)
    row = (await service.table("todos").insert({"title": "py", "n": 1}).execute()).data[0]
    await service.table("todos").insert({"title": "big", "n": 11}).execute()
    await service.table("todos").update({"done": True}).eq("id", row["id"]).execute()
    await service.table("todos").delete().eq("id", row["id"]).execute()
    await service.table("quiet").insert({"id": 1, "x": "unpublished"}).execute()
    await until(lambda: len(every) == 4, 5, lambda: every)
    assert [p["data"]["type"] for p in every] == ["INSERT", "INSERT", "UPDATE", "DELETE"]
    assert every[0]["data"]["record"] == row
    assert every[2]["data"]["record"]["done"] is True
    assert every[3]["data"]["old_record"] == {"id": row["id"]}
    assert [p["data"]["record"]["title"] for p in big] == ["big"]
    await sb.remove_channel(channel)
    await service.table("todos").insert({"title": "after", "n": 12}).execute()
    await asyncio.sleep(0.5)
    assert len(every) == 4 and len(big) == 1 and unpublished == []
    await sb.remove_all_channels()


async def test_two_users_signed_in_hear_only_what_their_policies_allow(server: LiveServer) -> None:
    (alice, alice_id), (bob, _) = await signed_up(server), await signed_up(server)
    service = await acreate_client(server.url, server.service_key)
    heard: dict[str, list[str]] = {"alice": [], "bob": []}
    for name, sb in (("alice", alice), ("bob", bob)):
        channel = sb.channel("notes")
        channel.on_postgres_changes(
            "INSERT", lambda p, who=name: heard[who].append(p["data"]["record"]["body"]), table="notes"
        )
        assert await subscribed(channel) == RealtimeSubscribeStates.SUBSCRIBED
    await service.table("notes").insert({"body": "alice's secret", "owner": alice_id}).execute()
    await service.table("notes").insert({"body": "for everyone", "public": True}).execute()
    await until(lambda: len(heard["alice"]) == 2 and len(heard["bob"]) == 1)
    await asyncio.sleep(0.3)
    assert heard == {"alice": ["alice's secret", "for everyone"], "bob": ["for everyone"]}
    await alice.remove_all_channels()
    await bob.remove_all_channels()
