"""What a `postgres_changes` subscriber must never learn or disturb, over a real `backstack serve`.

The rule: a change reaches a subscriber only as the data API would show it the row (grants, column
privileges, row-level security), and its filter only ever sees that much, so neither a frame, its
absence, its timing nor an error depends on a row or a column it may not read. And one socket's
bindings cannot stop or stall the delivery of anyone else's changes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import websockets

from tests.compat.conftest import LiveServer, compat_server
from tests.realtime.test_changes import change, silent, subscribed, write
from tests.realtime.wire import join, recv, secret, send, user_token, ws_url

pytestmark = pytest.mark.anyio
HERE = Path(__file__).parent
ALICE, BOB = str(uuid.uuid4()), str(uuid.uuid4())
SECRETS = {"schema": "public", "table": "secrets"}
PLAIN = {"schema": "public", "table": "plain"}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("realtime-changes-security")
    schema = root / "schema.sql"
    parts = ["changes_security_schema.sql"] + (["changes_security_postgres.sql"] if request.param == "postgres" else [])
    schema.write_text("\n".join((HERE / part).read_text() for part in parts))
    with compat_server(request.param, root / "project", schema) as live:
        yield live


@pytest.fixture
async def api(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"apikey": server.service_key, "Authorization": f"Bearer {server.service_key}"}
    async with httpx.AsyncClient(base_url=f"{server.url}/rest/v1", headers=headers, timeout=10) as client:
        yield client


async def refused(ws: websockets.ClientConnection, topic: str, binding: dict[str, Any]) -> str:
    """Join asking for `binding`; the `system` error's message (the join itself succeeds, as Supabase's)."""
    reply = await join(ws, topic, {"postgres_changes": [binding]})
    assert reply["payload"]["status"] == "ok", reply
    system = await recv(ws)
    assert system["event"] == "system" and system["payload"]["status"] == "error", system
    return str(system["payload"]["message"])


# ---------------------------------------------------------------- what a filter may see


async def test_a_delete_filter_on_an_rls_table_sees_only_the_primary_key(
    server: LiveServer, api: httpx.AsyncClient
) -> None:
    """With `replica identity full` (PostgreSQL) the outbox holds the whole deleted row; a filter on
    another column must not tell anon whether a hidden row it cannot read held that value."""
    async with websockets.connect(ws_url(server)) as anon:
        await subscribed(anon, "realtime:delete-oracle", {"event": "DELETE", **SECRETS, "filter": "code=eq.hunter2"})
        [hidden] = await write(api, "POST", "secrets", {"owner": ALICE, "code": "hunter2"})
        await write(api, "DELETE", f"secrets?id=eq.{hidden['id']}")
        await silent(anon)
    async with websockets.connect(ws_url(server)) as anon:  # the primary key is what DELETE shows
        await subscribed(anon, "realtime:delete-by-key", {"event": "DELETE", **SECRETS, "filter": "id=gt.0"})
        [hidden] = await write(api, "POST", "secrets", {"owner": ALICE, "code": "hunter2"})
        await write(api, "DELETE", f"secrets?id=eq.{hidden['id']}")
        assert (await change(anon))["data"]["old_record"] == {"id": hidden["id"]}


async def test_an_update_of_an_rls_table_sends_only_the_key_as_old_record(
    server: LiveServer, api: httpx.AsyncClient
) -> None:
    token = user_token(server, sub=ALICE)
    async with websockets.connect(ws_url(server)) as alice:
        await subscribed(alice, "realtime:update-old", {"event": "UPDATE", **SECRETS}, token=token)
        [row] = await write(api, "POST", "secrets", {"owner": ALICE, "code": "before"})
        await write(api, "PATCH", f"secrets?id=eq.{row['id']}", {"code": "after"})
        data = (await change(alice))["data"]
        assert data["record"]["code"] == "after" and data["old_record"] == {"id": row["id"]}


# ---------------------------------------------------------------- identity while subscribed


async def test_a_refreshed_token_of_another_user_is_who_delivery_asks_for(
    server: LiveServer, api: httpx.AsyncClient
) -> None:
    async with websockets.connect(ws_url(server)) as ws:
        await subscribed(ws, "realtime:refresh", {"event": "INSERT", **SECRETS}, token=user_token(server, sub=ALICE))
        await send(ws, "realtime:refresh", "access_token", {"access_token": user_token(server, sub=BOB)}, ref="2")
        await asyncio.sleep(0.2)
        await write(api, "POST", "secrets", {"owner": ALICE, "code": "alice's"})
        [bobs] = await write(api, "POST", "secrets", {"owner": BOB, "code": "bob's"})
        assert (await change(ws))["data"]["record"]["id"] == bobs["id"]  # Alice's row was not sent first
        expired = user_token(server, expires_in=-60)
        await send(ws, "realtime:refresh", "access_token", {"access_token": expired}, ref="3")
        closing = [await recv(ws), await recv(ws)]
        assert [frame["event"] for frame in closing] == ["system", "phx_close"]
        await write(api, "POST", "secrets", {"owner": BOB, "code": "after the close"})
        await silent(ws)


# ---------------------------------------------------------------- one socket cannot stop the others


@pytest.mark.parametrize("filter_", ["n=lt.NaN", "n=eq.sNaN", "n=in.(1,sNaN)", "n=gt.Infinity"])
async def test_a_number_that_is_not_finite_is_refused(server: LiveServer, filter_: str) -> None:
    async with websockets.connect(ws_url(server, apikey=server.service_key)) as ws:
        message = await refused(ws, "realtime:nan", {"event": "*", **PLAIN, "filter": filter_})
        assert "not a number" in message or "finite" in message, message


async def test_a_filter_that_fails_on_a_row_does_not_stop_the_other_subscribers(
    server: LiveServer, api: httpx.AsyncClient
) -> None:
    """A comparison that raises (a NaN sent by a filter) once made the worker drop the whole batch."""
    service = ws_url(server, apikey=server.service_key)
    async with websockets.connect(service) as attacker, websockets.connect(service) as victim:
        nan = {"event": "*", **PLAIN, "filter": "n=lt.NaN"}
        await join(attacker, "realtime:nan-attack", {"postgres_changes": [nan]})
        await subscribed(victim, "realtime:nan-victim", {"event": "INSERT", **PLAIN})
        [row] = await write(api, "POST", "plain", {"title": "still delivered", "n": 1})
        assert (await change(victim))["data"]["record"]["id"] == row["id"]


@pytest.mark.parametrize(
    "filter_",
    [
        "title=match.^(a+)+$",  # exponential backtracking in Python's re
        "title=imatch.^(a|a)*$",
        "title=like.%a%a%a%a%a%a%a%a%a%a%a%a%b",  # polynomial: one more `%` is one more power of the length
    ],
)
async def test_a_catastrophic_pattern_cannot_stall_the_worker(
    server: LiveServer, api: httpx.AsyncClient, filter_: str
) -> None:
    service = ws_url(server, apikey=server.service_key)
    async with websockets.connect(service) as attacker, websockets.connect(service) as victim:
        await join(attacker, "realtime:redos", {"postgres_changes": [{"event": "*", **PLAIN, "filter": filter_}]})
        await recv(attacker)  # the system message: subscribed, or refused
        await subscribed(victim, "realtime:redos-victim", {"event": "INSERT", **PLAIN})
        started = time.monotonic()
        [row] = await write(api, "POST", "plain", {"title": "a" * 40 + "!", "body": "a" * 200})
        assert (await change(victim, timeout=10))["data"]["record"]["id"] == row["id"]
        assert time.monotonic() - started < 1.0


async def test_a_pattern_that_needs_backtracking_is_refused(server: LiveServer) -> None:
    async with websockets.connect(ws_url(server, apikey=server.service_key)) as ws:
        message = await refused(ws, "realtime:backref", {"event": "*", **PLAIN, "filter": r"title=match.(a)\1"})
        assert "regular expression" in message, message


async def test_an_in_list_and_the_bindings_of_a_join_are_bounded(server: LiveServer) -> None:
    async with websockets.connect(ws_url(server, apikey=server.service_key)) as ws:
        many = "n=in.(" + ",".join(str(i) for i in range(101)) + ")"
        assert "at most 100" in await refused(ws, "realtime:big-in", {"event": "*", **PLAIN, "filter": many})
        bindings = [{"event": "*", **PLAIN, "filter": f"n=eq.{i}"} for i in range(101)]
        reply = await join(ws, "realtime:many", {"postgres_changes": bindings})
        assert reply["payload"]["status"] == "error", reply
        assert "at most 100" in reply["payload"]["response"]["reason"]


@pytest.mark.parametrize(
    "binding",
    [
        {"event": "*", "schema": "public", "table": "plain", "filter": 7},
        {"event": "*", "schema": ["public"], "table": "plain"},
        {"event": "*", "schema": "public", "table": {"name": "plain"}},
        {"event": "*", "schema": "public", "table": "plain", "select": "id"},
        {"event": "*", "schema": "public", "table": "plain", "select": [1]},
        {"event": "x" * 100_000, "schema": "public", "table": "plain"},
        "postgres_changes",
    ],
)
async def test_a_malformed_binding_is_refused_and_the_socket_lives_on(server: LiveServer, binding: Any) -> None:
    async with websockets.connect(ws_url(server)) as ws:
        reply = await join(ws, "realtime:malformed", {"postgres_changes": [binding]})
        assert reply["payload"]["status"] == "error", reply
        await send(ws, "phoenix", "heartbeat", {}, ref="hb")
        assert (await recv(ws))["payload"]["status"] == "ok"


# ---------------------------------------------------------------- the outbox itself


@pytest.mark.parametrize(
    ("path", "profile"),
    [
        ("_backstack_realtime_changes", None),
        ("_backstack_realtime_readers", None),
        ("_backstack_publication", None),
        ("realtime_changes", "_backstack"),
        ("realtime_readers", "_backstack"),
    ],
)
async def test_the_outbox_is_not_reachable_through_the_data_api(
    server: LiveServer, path: str, profile: str | None
) -> None:
    headers = {"apikey": server.anon_key, "Authorization": f"Bearer {server.anon_key}"}
    if profile is not None:
        headers["Accept-Profile"] = profile
    async with httpx.AsyncClient(base_url=f"{server.url}/rest/v1", headers=headers, timeout=10) as client:
        response = await client.get(path)
        assert response.status_code in (400, 401, 403, 404, 406), response.text
        assert "hunter2" not in response.text


# ---------------------------------------------------------------- PostgreSQL: column privileges, other schemas


async def test_columns_the_role_may_not_read_are_never_sent(server: LiveServer, api: httpx.AsyncClient) -> None:
    """`grant select (id, title) on plain to anon`: the data API refuses `body` and `n`; so does realtime,
    in `record`, `old_record`, `columns`, and in what a filter or `select` can see."""
    if server.engine != "postgres":
        pytest.skip("SQLite refuses column privileges (db/translate/grants.py): nothing to hide there")
    async with (
        websockets.connect(ws_url(server)) as every,
        websockets.connect(ws_url(server)) as filtered,
        websockets.connect(ws_url(server)) as selected,
    ):
        await subscribed(every, "realtime:columns", {"event": "*", **PLAIN})
        await subscribed(filtered, "realtime:columns-filter", {"event": "*", **PLAIN, "filter": "body=eq.secret"})
        await subscribed(selected, "realtime:columns-select", {"event": "*", **PLAIN, "select": ["id", "body"]})
        [row] = await write(api, "POST", "plain", {"title": "t", "body": "secret", "n": 5})
        inserted = (await change(every))["data"]
        assert inserted["record"] == {"id": row["id"], "title": "t"}
        assert [column["name"] for column in inserted["columns"]] == ["id", "title"]
        assert (await change(selected))["data"]["record"] == {"id": row["id"]}
        await write(api, "PATCH", f"plain?id=eq.{row['id']}", {"title": "u"})
        updated = (await change(every))["data"]
        assert updated["old_record"] == {"id": row["id"], "title": "t"}
        await write(api, "DELETE", f"plain?id=eq.{row['id']}")
        assert (await change(every))["data"]["old_record"] == {"id": row["id"], "title": "u"}
        await silent(filtered)


async def test_one_topic_and_binding_heard_by_two_roles_is_two_frames(
    server: LiveServer, api: httpx.AsyncClient
) -> None:
    """Frames are shared between the channels of a topic with the same bindings (encoded once), but
    never between callers who may read different columns."""
    if server.engine != "postgres":
        pytest.skip("SQLite refuses column privileges (db/translate/grants.py): nothing to hide there")
    binding = {"event": "INSERT", **PLAIN}
    async with (
        websockets.connect(ws_url(server, apikey=server.service_key)) as service,
        websockets.connect(ws_url(server)) as anon,
    ):
        await subscribed(service, "realtime:shared-topic", binding)
        await subscribed(anon, "realtime:shared-topic", binding)
        [row] = await write(api, "POST", "plain", {"title": "t", "body": "secret", "n": 5})
        assert (await change(service))["data"]["record"]["body"] == "secret"
        assert (await change(anon))["data"]["record"] == {"id": row["id"], "title": "t"}


async def test_a_published_table_outside_the_exposed_schemas_is_never_delivered(
    server: LiveServer, api: httpx.AsyncClient
) -> None:
    if server.engine != "postgres":
        pytest.skip("SQLite has one schema: every table is in public")
    async with websockets.connect(ws_url(server)) as ws:
        reply = await join(ws, "realtime:hidden", {"postgres_changes": [{"event": "*", "schema": "hidden"}]})
        assert reply["payload"]["status"] == "ok"
        await recv(ws)  # subscribed or refused: either way nothing may arrive
        response = await api.post("rpc/touch_hidden", json={})
        assert response.status_code in (200, 204), response.text
        await silent(ws)


# ---------------------------------------------------------------- the row as captured, not as it is now


async def test_a_hidden_version_of_a_row_is_not_sent_when_the_row_became_visible_since(
    server: LiveServer, api: httpx.AsyncClient
) -> None:
    """A row written hidden, then made public before its change is delivered: the first change carries
    the hidden version (the draft), which anon could never read. Visibility is asked of the row as it is
    now; what is sent must be what that answer was about."""
    async with websockets.connect(ws_url(server)) as anon:
        await subscribed(anon, "realtime:draft", {"event": "*", **SECRETS})
        response = await api.post("rpc/draft_then_publish", json={})
        assert response.status_code in (200, 204), response.text
        frames = []
        try:
            while True:
                frames.append((await change(anon, timeout=1))["data"])
        except TimeoutError:
            pass
        assert frames, "the published version is delivered"
        assert all(frame["record"]["code"] != "draft secret" for frame in frames), frames


async def test_a_row_captured_in_another_time_zone_is_still_the_row_read(
    server: LiveServer, api: httpx.AsyncClient
) -> None:
    """The captured row and the row read now are compared: the same instant written with another
    offset (a writer whose session is not in UTC) is the same value."""
    if server.engine != "postgres":
        pytest.skip("SQLite's timestamps are written by the data API in UTC")
    async with websockets.connect(ws_url(server)) as anon:
        await subscribed(anon, "realtime:tokyo", {"event": "INSERT", **SECRETS})
        response = await api.post("rpc/write_in_tokyo", json={})
        assert response.status_code in (200, 204), response.text
        record = (await change(anon))["data"]["record"]
        assert record["code"] == "from tokyo", record


KINDS = {
    "n": 1.50,
    "f": 0.1,
    "r": 1.25,
    "j": {"b": 1, "a": [1, 2]},
    "jb": {"b": 1, "a": {"c": None}},
    "arr": [1, 2, 3],
    "words": ["a", "b,c", 'd"e'],
    "d": "2024-02-29",
    "t": "13:14:15.5",
    "ts": "2024-01-02T03:04:05.123456",
    "tz": "2024-01-02T03:04:05.5+02:00",
    "u": "9F1E2D3C-0000-4000-8000-000000000001",
    "b": "\\x00ff",
    "flag": True,
    "big": 9007199254740993,
}


@pytest.mark.parametrize("column", sorted(KINDS))
async def test_every_kind_of_value_captured_is_the_value_read(
    server: LiveServer, api: httpx.AsyncClient, column: str
) -> None:
    """An RLS row is sent only when the row read now holds the captured values: any type whose captured
    form differed from the data API's would silently lose its changes."""
    async with websockets.connect(ws_url(server)) as anon:
        await subscribed(anon, f"realtime:kind-{column}", {"event": "*", "schema": "public", "table": "kinds"})
        [row] = await write(api, "POST", "kinds", {column: KINDS[column]})
        assert (await change(anon))["data"]["record"]["id"] == row["id"]
        await write(api, "PATCH", f"kinds?id=eq.{row['id']}", {"flag": False})
        assert (await change(anon))["data"]["type"] == "UPDATE"


async def test_a_caller_whose_role_the_database_lacks_gets_nothing_and_stops_no_one(
    server: LiveServer, api: httpx.AsyncClient
) -> None:
    """A token for a role that does not exist (a custom claim hook's mistake): the data API refuses it,
    so realtime sends it nothing, and the others sharing the batch still get their changes."""
    claims = {"sub": ALICE, "role": "ghost", "aud": "authenticated", "exp": int(time.time()) + 3600}
    ghost_token = jwt.encode(claims, secret(server), algorithm="HS256")
    async with websockets.connect(ws_url(server)) as ghost, websockets.connect(ws_url(server)) as anon:
        reply = await join(
            ghost, "realtime:ghost", {"postgres_changes": [{"event": "*", **SECRETS}]}, access_token=ghost_token
        )
        if reply["payload"]["status"] == "ok":
            await recv(ghost)  # its system message
        await subscribed(anon, "realtime:ghost-victim", {"event": "INSERT", **SECRETS})
        [row] = await write(api, "POST", "secrets", {"owner": ALICE, "code": "public", "public": True})
        assert (await change(anon))["data"]["record"]["id"] == row["id"]
        await silent(ghost)


async def test_two_channels_of_one_socket_with_the_same_join_ref_keep_their_bindings(
    server: LiveServer, api: httpx.AsyncClient
) -> None:
    """A client chooses its join refs; two topics joined with the same one are still two channels."""
    async with websockets.connect(ws_url(server, apikey=server.service_key)) as ws:
        await subscribed(ws, "realtime:same-ref-a", {"event": "INSERT", **PLAIN})
        await subscribed(ws, "realtime:same-ref-b", {"event": "INSERT", **SECRETS})
        [row] = await write(api, "POST", "plain", {"title": "to a"})
        frame = await asyncio.wait_for(recv(ws), 5)
        assert (frame["topic"], frame["payload"]["data"]["record"]["id"]) == ("realtime:same-ref-a", row["id"])
        [secret_row] = await write(api, "POST", "secrets", {"code": "to b", "public": True})
        frame = await asyncio.wait_for(recv(ws), 5)
        assert (frame["topic"], frame["payload"]["data"]["record"]["id"]) == ("realtime:same-ref-b", secret_row["id"])


async def test_the_bindings_of_a_socket_are_bounded(server: LiveServer) -> None:
    """100 channels of 100 bindings of 20 conditions, each run on every change of its table, would let
    one socket spend about a second of the worker per change: a socket's filters hold at most 1,000
    conditions (a binding without a filter counts one)."""
    nineteen = ",".join(["n=gt.0"] * 19)
    bindings = [{"event": "*", **PLAIN, "filter": f"{nineteen},title=neq.{i}"} for i in range(100)]
    async with websockets.connect(ws_url(server, apikey=server.service_key)) as ws:
        for index in range(5):  # 5 joins x 9 bindings x 20 conditions = 900
            config = {"postgres_changes": bindings[index * 9 : index * 9 + 9]}
            reply = await join(ws, f"realtime:full-{index}", config, ref=str(index + 1))
            assert reply["payload"]["status"] == "ok", reply
            assert (await recv(ws))["payload"]["status"] == "ok"
        reply = await join(ws, "realtime:full-5", {"postgres_changes": bindings[:6]}, ref="9")  # 900 + 120
        assert reply["payload"]["status"] == "error"
        assert "Too many postgres_changes bindings" in reply["payload"]["response"]["reason"]
        closed = await join(ws, "realtime:full-0", {"postgres_changes": bindings[:10]}, ref="10")  # 720 + 200
        assert closed["event"] == "phx_close", closed
        reply = await recv(ws)
        assert reply["payload"]["status"] == "ok", reply
        assert (await recv(ws))["payload"]["status"] == "ok"  # subscribed
        reply = await join(ws, "realtime:no-changes", {}, ref="11")  # channels without bindings are not counted
        assert reply["payload"]["status"] == "ok", reply


async def test_a_schema_wide_binding_hears_only_the_tables_its_role_may_read(
    server: LiveServer, api: httpx.AsyncClient
) -> None:
    async with websockets.connect(ws_url(server)) as anon:
        await subscribed(anon, "realtime:schema-anon", {"event": "INSERT", "schema": "public"})
        await write(api, "POST", "staff", {"salary": 100})
        [row] = await write(api, "POST", "secrets", {"code": "public", "public": True})
        data = (await change(anon))["data"]
        assert (data["table"], data["record"]["id"]) == ("secrets", row["id"])  # staff's came first: not sent
        await silent(anon, 0.3)


async def test_a_row_captured_with_another_interval_style_is_still_the_row_read(
    server: LiveServer, api: httpx.AsyncClient
) -> None:
    """The capture writes with PostgreSQL's default output styles, as the data API reads: a writer's
    own `intervalstyle` does not make its RLS rows undeliverable."""
    if server.engine != "postgres":
        pytest.skip("SQLite has no output styles: the data API writes every value")
    async with websockets.connect(ws_url(server)) as anon:
        await subscribed(anon, "realtime:interval", {"event": "INSERT", "schema": "public", "table": "kinds"})
        response = await api.post("rpc/write_interval_sql_standard", json={})
        assert response.status_code in (200, 204), response.text
        await change(anon, timeout=2)


async def test_a_rejoin_as_another_caller_hears_as_that_caller_once(server: LiveServer, api: httpx.AsyncClient) -> None:
    async with websockets.connect(ws_url(server)) as ws:
        binding = {"event": "INSERT", **SECRETS}
        await subscribed(ws, "realtime:rejoin", binding, token=user_token(server, sub=ALICE))
        closed = await join(ws, "realtime:rejoin", {"postgres_changes": [binding]})  # now as anon
        assert closed["event"] == "phx_close", closed
        assert (await recv(ws))["payload"]["status"] == "ok"
        assert (await recv(ws))["payload"]["message"] == "Subscribed to PostgreSQL"
        await write(api, "POST", "secrets", {"owner": ALICE, "code": "alice only"})
        [public] = await write(api, "POST", "secrets", {"owner": ALICE, "code": "everyone", "public": True})
        assert (await change(ws))["data"]["record"]["id"] == public["id"]
        await silent(ws)
