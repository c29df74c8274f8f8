"""`postgres_changes` over a real `backstack serve`, one body on both engines (contract/realtime.md 4.3).

Rows written through /rest/v1 with the service key reach the sockets that subscribed to them, in the
shape the clients parse; filters, events and row-level security decide who gets what.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tests.compat.conftest import LiveServer, compat_server
from tests.realtime.wire import join, recv, send, user_token, ws_url

pytestmark = pytest.mark.anyio
SCHEMA = Path(__file__).with_name("changes_schema.sql")
ALICE, BOB = str(uuid.uuid4()), str(uuid.uuid4())
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
TODOS_TABLE_COLUMNS = [
    {"name": "id", "type": "int8"},
    {"name": "title", "type": "text"},
    {"name": "done", "type": "bool"},
    {"name": "n", "type": "int4"},
    {"name": "at", "type": "timestamptz"},
    {"name": "tags", "type": "_text"},
]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with compat_server(request.param, tmp_path_factory.mktemp("realtime-changes"), SCHEMA) as live:
        yield live


@pytest.fixture
async def api(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"apikey": server.service_key, "Authorization": f"Bearer {server.service_key}"}
    async with httpx.AsyncClient(base_url=f"{server.url}/rest/v1", headers=headers, timeout=10) as client:
        yield client


async def write(api: httpx.AsyncClient, method: str, path: str, body: Any = None) -> Any:
    response = await api.request(method, path, json=body, headers={"Prefer": "return=representation"})
    assert response.status_code in (200, 201), response.text
    return response.json()


async def subscribed(
    ws: ClientConnection, topic: str, *bindings: dict[str, Any], token: str | None = None
) -> list[int]:
    """Join `topic` asking for `bindings`; the ids of the reply, once "Subscribed to PostgreSQL" came."""
    extra = {} if token is None else {"access_token": token}
    reply = await join(ws, topic, {"postgres_changes": list(bindings)}, **extra)
    assert reply["payload"]["status"] == "ok", reply
    entries = reply["payload"]["response"]["postgres_changes"]
    system = await recv(ws)
    assert (
        system
        == {
            "event": "system",
            "topic": topic,
            "ref": None,
            "join_ref": None,
            "payload": {
                "channel": topic.removeprefix("realtime:"),
                "extension": "postgres_changes",
                "message": "Subscribed to PostgreSQL",
                "status": "ok",
            },
        }
        or system["payload"]["status"] == "ok"
    ), system
    return [entry["id"] for entry in entries]


async def change(ws: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    """The next `postgres_changes` frame's payload (heartbeat replies skipped)."""
    while True:
        frame = await asyncio.wait_for(recv(ws), timeout)
        if frame["event"] == "postgres_changes":
            assert frame["ref"] is None
            return dict(frame["payload"])


async def silent(ws: ClientConnection, seconds: float = 0.5) -> None:
    """No change arrives for `seconds`."""
    try:
        frame = await asyncio.wait_for(change(ws), seconds)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected change {frame}")


async def test_insert_update_delete_in_the_shape_the_clients_parse(server: LiveServer, api: httpx.AsyncClient) -> None:
    async with websockets.connect(ws_url(server)) as ws:
        [every] = await subscribed(ws, "realtime:todos-all", {"event": "*", "schema": "public", "table": "todos"})
        [row] = await write(api, "POST", "todos", {"title": "a", "n": 1, "tags": ["x"]})
        inserted = await change(ws)
        assert inserted["ids"] == [every]
        data = inserted["data"]
        assert set(data) == {"schema", "table", "commit_timestamp", "type", "errors", "columns", "record"}
        assert (data["schema"], data["table"], data["type"], data["errors"]) == ("public", "todos", "INSERT", None)
        assert data["columns"] == TODOS_TABLE_COLUMNS
        assert data["record"] == row  # typed as the data API returns it
        assert STAMP.match(data["commit_timestamp"]), data["commit_timestamp"]
        await write(api, "PATCH", f"todos?id=eq.{row['id']}", {"done": True})
        updated = (await change(ws))["data"]
        assert updated["type"] == "UPDATE"
        assert updated["record"] == {**row, "done": True}
        assert updated["old_record"] == {"id": row["id"]}  # the replica identity: the primary key
        await write(api, "DELETE", f"todos?id=eq.{row['id']}")
        deleted = (await change(ws))["data"]
        assert deleted["type"] == "DELETE"
        assert "record" not in deleted and deleted["old_record"] == {"id": row["id"]}


async def test_events_and_filters_choose_the_bindings(server: LiveServer, api: httpx.AsyncClient) -> None:
    todos = {"schema": "public", "table": "todos"}
    async with websockets.connect(ws_url(server)) as ws:
        ids = await subscribed(
            ws,
            "realtime:todos-filtered",
            {"event": "INSERT", **todos},
            {"event": "UPDATE", **todos},
            {"event": "*", **todos, "filter": "n=gt.10"},
            {"event": "*", **todos, "filter": "n=in.(1,2,3)"},
            {"event": "DELETE", **todos, "filter": "id=eq.-1"},
        )
        insert, update, big, small, _ = ids
        assert len(set(ids)) == 5 and all(ids)
        [row] = await write(api, "POST", "todos", {"title": "f", "n": 2})
        assert (await change(ws))["ids"] == [insert, small]
        await write(api, "PATCH", f"todos?id=eq.{row['id']}", {"n": 11})
        assert (await change(ws))["ids"] == [update, big]
        await write(api, "DELETE", f"todos?id=eq.{row['id']}")  # id=eq.-1 does not match; the filters see old_record
        await silent(ws)


ROWS = [(4, "Apple pie"), (5, "banana"), (6, None)]  # (n, title) inserted, in this order


@pytest.mark.parametrize(
    ("filter_", "matches"),
    [
        ("n=eq.5", [5]),
        ("n=neq.5", [4, 6]),
        ("n=lt.5", [4]),
        ("n=lte.5", [4, 5]),
        ("n=gt.5", [6]),
        ("n=gte.5", [5, 6]),
        ("n=in.(4,6)", [4, 6]),
        ("n=not.in.(4,6)", [5]),
        ("title=like.*pie", [4]),
        ("title=like.b_nana", [5]),
        ("title=ilike.apple%", [4]),
        ("title=match.^[ab]", [5]),
        ("title=imatch.^[ab]", [4, 5]),
        ("title=is.null", [6]),
        ("title=not.is.null", [4, 5]),
        ("title=isdistinct.banana", [4, 6]),
        ("title=not.eq.banana", [4]),  # a NULL title is unknown: neither eq nor not.eq
        ("n=gt.4,title=not.is.null", [5]),  # several conditions: all must hold
    ],
)
async def test_each_filter_operator(
    server: LiveServer, api: httpx.AsyncClient, filter_: str, matches: list[int]
) -> None:
    async with websockets.connect(ws_url(server)) as ws:
        binding = {"event": "INSERT", "schema": "public", "table": "todos", "filter": filter_}
        await subscribed(ws, f"realtime:op-{filter_}", binding)
        await write(api, "POST", "todos", [{"title": title, "n": n} for n, title in ROWS])
        got = [(await change(ws))["data"]["record"]["n"] for _ in matches]
        assert got == matches
        await silent(ws, 0.3)


async def test_select_narrows_the_rows_sent_and_a_star_table_is_every_table(
    server: LiveServer, api: httpx.AsyncClient
) -> None:
    async with websockets.connect(ws_url(server)) as ws:
        narrow = {"event": "INSERT", "schema": "public", "table": "todos", "select": ["id", "title"]}
        await subscribed(ws, "realtime:select", narrow)
        [row] = await write(api, "POST", "todos", {"title": "narrow", "n": 9})
        data = (await change(ws))["data"]
        assert data["record"] == {"id": row["id"], "title": "narrow"}
        assert data["columns"] == TODOS_TABLE_COLUMNS[:2]
    async with websockets.connect(ws_url(server)) as ws:
        await subscribed(ws, "realtime:star", {"event": "INSERT", "schema": "public", "table": "*"})
        await write(api, "POST", "notes", {"body": "via star", "public": True})
        assert (await change(ws))["data"]["table"] == "notes"


@pytest.mark.parametrize(
    "binding",
    [
        {"event": "*", "schema": "public", "table": "quiet"},  # not published
        {"event": "*", "schema": "public", "table": "missing"},
        {"event": "*", "schema": "elsewhere"},
        {"event": "*", "schema": "public", "table": "todos", "filter": "nope=eq.1"},
        {"event": "*", "schema": "public", "table": "todos", "filter": "n=between.1"},
        {"event": "*", "schema": "public", "table": "todos", "filter": "n=eq.one"},
        {"event": "*", "schema": "public", "table": "todos", "filter": "n"},
        {"event": "*", "schema": "public", "table": "todos", "filter": "n=in.1,2"},
        {"event": "*", "schema": "public", "table": "todos", "filter": "title=match.("},
        {"event": "*", "schema": "public", "table": "todos", "filter": "title=is.maybe"},
        {"event": "*", "schema": "public", "table": "todos", "select": ["nope"]},
        {"event": "*", "schema": "public", "filter": "n=eq.1"},  # a filter needs a table
        {"event": "*", "schema": "public", "table": "staff_only"},  # published, but anon has no grant
    ],
)
async def test_what_cannot_be_subscribed_gets_a_system_error(server: LiveServer, binding: dict[str, Any]) -> None:
    async with websockets.connect(ws_url(server)) as ws:
        reply = await join(ws, "realtime:bad", {"postgres_changes": [binding]})
        assert reply["payload"]["status"] == "ok"  # as Supabase: the join succeeds, the changes do not
        system = await recv(ws)
        assert system["event"] == "system" and system["ref"] is None
        assert system["payload"]["status"] == "error"
        assert system["payload"]["extension"] == "postgres_changes"
        assert system["payload"]["message"].startswith("Unable to subscribe to changes with given parameters")


async def test_a_schema_wide_binding_hears_every_published_table(server: LiveServer, api: httpx.AsyncClient) -> None:
    async with websockets.connect(ws_url(server)) as ws:
        await subscribed(ws, "realtime:schema-wide", {"event": "INSERT", "schema": "public"})
        await write(api, "POST", "todos", {"title": "w"})
        await write(api, "POST", "notes", {"body": "public note", "public": True})
        tables = [(await change(ws))["data"]["table"] for _ in range(2)]
        assert tables == ["todos", "notes"]


async def test_row_level_security_decides_who_hears_a_row(server: LiveServer, api: httpx.AsyncClient) -> None:
    """Alice and Bob subscribe with their own tokens, anon with the key: each gets the public notes and
    their own, never another's; a DELETE of an RLS table carries only the primary key."""
    notes = {"event": "*", "schema": "public", "table": "notes"}
    async with (
        websockets.connect(ws_url(server)) as alice,
        websockets.connect(ws_url(server)) as bob,
        websockets.connect(ws_url(server)) as anon,
    ):
        await subscribed(alice, "realtime:notes", notes, token=user_token(server, sub=ALICE))
        await subscribed(bob, "realtime:notes", notes, token=user_token(server, sub=BOB))
        await subscribed(anon, "realtime:notes", notes)
        await write(api, "POST", "notes", {"body": "alice only", "owner": ALICE})
        [public] = await write(api, "POST", "notes", {"body": "everyone", "owner": BOB, "public": True})
        assert (await change(alice))["data"]["record"]["body"] == "alice only"
        for ws in (alice, bob, anon):
            assert (await change(ws))["data"]["record"]["body"] == "everyone"
        await silent(bob, 0.3)
        await silent(anon, 0.1)
        await write(api, "DELETE", f"notes?id=eq.{public['id']}")
        for ws in (alice, bob, anon):
            deleted = (await change(ws))["data"]
            assert (deleted["type"], deleted["old_record"]) == ("DELETE", {"id": public["id"]})


async def test_leaving_stops_the_changes(server: LiveServer, api: httpx.AsyncClient) -> None:
    async with websockets.connect(ws_url(server)) as ws:
        await subscribed(ws, "realtime:leaving", {"event": "*", "schema": "public", "table": "todos"})
        await send(ws, "realtime:leaving", "phx_leave", {}, ref="9")
        assert (await recv(ws))["payload"]["status"] == "ok"
        await write(api, "POST", "todos", {"title": "after leaving"})
        await silent(ws)


async def test_a_write_by_a_sql_function_is_delivered(server: LiveServer, api: httpx.AsyncClient) -> None:
    """Captured in the writing transaction whoever writes: here a SQL function called by RPC."""
    async with websockets.connect(ws_url(server)) as ws:
        await subscribed(ws, "realtime:rpc", {"event": "INSERT", "schema": "public", "table": "todos"})
        response = await api.post("rpc/add_todo", json={"title": "by rpc"})
        assert response.status_code == 200, response.text
        assert (await change(ws))["data"]["record"]["title"] == "by rpc"


async def test_a_table_without_a_grant_is_refused_at_join_but_served_to_whom_may_read_it(
    server: LiveServer, api: httpx.AsyncClient
) -> None:
    binding = {"event": "INSERT", "schema": "public", "table": "staff_only"}
    async with websockets.connect(ws_url(server)) as ws:
        await subscribed(ws, "realtime:staff", binding, token=server.service_key)
        await write(api, "POST", "staff_only", {"id": 1, "x": "internal"})
        assert (await change(ws))["data"]["record"] == {"id": 1, "x": "internal"}
