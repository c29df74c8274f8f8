"""Change capture through the real app (issue 9): a data API write and a SQL function called by
RPC land in the outbox on both engines, as db.changes reads them; a failed write leaves nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from backstack.config import Settings
from backstack.db.changes import captured
from tests.rest.http_api import SCHEMA, Api, http_settings, running_api

pytestmark = pytest.mark.anyio

SQL = (
    SCHEMA
    + """
alter publication supabase_realtime add table todos;
create function add_todo(title text) returns todos language sql as
  $$ insert into todos (title) values (add_todo.title) returning * $$;
"""
)


@pytest.fixture
async def api(engine_settings: Settings) -> AsyncIterator[Api]:
    async with running_api(http_settings(engine_settings), SQL) as running:
        yield running


async def test_data_api_and_rpc_writes_are_captured(api: Api) -> None:
    before = await captured(api.app.engine)
    start = before[-1].id if before else 0
    created = await api.request(
        "POST", "todos", body={"title": "by api", "note": "n"}, headers={"Prefer": "return=representation"}
    )
    assert created.status_code == 201, created.text
    assert (await api.request("POST", "rpc/add_todo", body={"title": "by rpc"})).status_code == 200
    assert (await api.request("PATCH", "todos?title=eq.by api", body={"done": True})).status_code == 204
    assert (await api.request("POST", "todos", body={"title": None})).status_code == 400  # rolled back
    assert (await api.request("DELETE", "todos?title=eq.by rpc")).status_code == 204
    assert (await api.request("POST", "authors", body={"name": "unpublished"})).status_code == 201
    changes = await captured(api.app.engine, start)
    assert [(c.table, c.operation) for c in changes] == [
        ("todos", "INSERT"),
        ("todos", "INSERT"),
        ("todos", "UPDATE"),
        ("todos", "DELETE"),
    ]
    row = created.json()[0]
    assert changes[0].record == row  # the data API's JSON, key for key
    assert changes[2].record == {**row, "done": True}
    assert changes[2].old_record == {"id": row["id"]}
    assert changes[3].record is None and changes[3].old_record == {"id": row["id"] + 1}
