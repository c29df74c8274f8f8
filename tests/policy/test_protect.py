"""`RowPolicies.protect(sql)` on a real SQLite engine: SQL the data API did not build (RPC bodies,
`@rpc` functions' queries) reads and writes only what the caller's policies allow."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from backstack.core.caller import Caller
from backstack.core.errors import ApiError
from backstack.core.ports import RowPolicies
from backstack.db.engine import Engine, SyncWriter, connect
from backstack.policy.service import SqlitePolicies
from tests.conftest import apply_sql_to, make_settings

pytestmark = pytest.mark.anyio

A = "00000000-0000-4000-8000-00000000000a"
B = "00000000-0000-4000-8000-00000000000b"
ALICE = Caller("authenticated", {"sub": A, "role": "authenticated"})

SCHEMA = f"""
create table todos (id bigint primary key, owner uuid, title text not null);
alter table todos enable row level security;
create policy own on todos for all using (auth.uid() = owner);
create table notes (id bigint primary key, todo_id bigint references todos(id), body text);
create table open_data (id bigint primary key);
insert into todos values (1, '{A}', 'a1'), (2, '{B}', 'b1'), (3, '{A}', 'a2');
insert into notes values (1, 1, 'on a1'), (2, 2, 'on b1');
insert into open_data values (1);
"""


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    eng = connect(make_settings(tmp_path))
    await eng.start()
    await apply_sql_to(eng, SCHEMA)
    try:
        yield eng
    finally:
        await eng.close()


async def policies_of(engine: Engine) -> RowPolicies:
    found = SqlitePolicies().for_role(await engine.schema(), "authenticated")
    assert found is not None
    return found


async def read(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    protected = (await policies_of(engine)).protect(sql)
    return [tuple(r) for r in await engine.fetch_all(protected, caller=ALICE)]


async def write(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    protected = (await policies_of(engine)).protect(sql)
    assert isinstance(engine, SyncWriter)
    rows = await engine.run_write(lambda conn: conn.fetch_all(protected), ALICE)
    return [tuple(r) for r in rows]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("select id from todos order by id", [(1,), (3,)]),
        ("select n.body from notes n join todos t on t.id = n.todo_id order by n.id", [("on a1",)]),
        ("with mine as (select * from todos) select count(*) from mine", [(2,)]),
        ("select id from todos union all select id + 10 from todos order by 1", [(1,), (3,), (11,), (13,)]),
        ("select count(*) from notes where todo_id in (select id from todos)", [(1,)]),
        ("select (select count(*) from todos) as n", [(2,)]),
    ],
)
async def test_reads_see_visible_rows_only(engine: Engine, sql: str, expected: list[tuple[Any, ...]]) -> None:
    assert await read(engine, sql) == expected


async def test_numbered_parameters(engine: Engine) -> None:
    policies = await policies_of(engine)
    protected = policies.protect("select id from todos where id > ?1 and title <> '?2' order by id")
    assert "?1" in protected and "'?2'" in protected
    assert [tuple(r) for r in await engine.fetch_all(protected, (0,), caller=ALICE)] == [(1,), (3,)]


async def test_sql_without_protected_tables_is_untouched(engine: Engine) -> None:
    sql = "select id from open_data where id = :id"
    assert (await policies_of(engine)).protect(sql) == sql


async def test_update_and_delete_skip_hidden_rows(engine: Engine) -> None:
    assert await write(engine, "update todos set title = 'x' returning id") == [(1,), (3,)]
    assert await write(engine, "delete from todos where id in (2, 3) returning id") == [(3,)]
    assert [tuple(r) for r in await engine.fetch_all("select id, title from todos order by id")] == [
        (1, "x"),
        (2, "b1"),
    ]


async def test_with_check_refuses_the_whole_statement(engine: Engine) -> None:
    with pytest.raises(ApiError) as info:
        await write(engine, f"insert into todos (id, owner, title) values (7, '{A}', 'ok'), (8, '{B}', 'no')")
    assert (info.value.code, info.value.status) == ("42501", 403)
    assert info.value.message == 'new row violates row-level security policy for table "todos"'
    with pytest.raises(ApiError):
        await write(engine, f"update todos set owner = '{B}' where id = 1")
    assert [tuple(r) for r in await engine.fetch_all("select id, cast(owner as text) from todos order by id")] == [
        (1, A),
        (2, B),
        (3, A),
    ]


async def test_returning_keeps_its_shape(engine: Engine) -> None:
    rows = await write(engine, f"insert into todos (id, owner, title) values (9, '{A}', 'new') returning *")
    assert rows == [(9, A, "new")]
    assert await write(engine, "update todos set title = 'y' where id = 9 returning title, id") == [("y", 9)]


async def test_upsert_on_a_protected_table_is_refused(engine: Engine) -> None:
    with pytest.raises(ApiError) as info:
        await write(
            engine,
            f"insert into todos (id, owner, title) values (2, '{A}', 'x') "
            "on conflict (id) do update set title = excluded.title",
        )
    assert (info.value.code, info.value.status) == ("0A000", 400)
