"""supabase-py's `client.rpc(...)` against a live `backstack serve`, on both engines.

The server is the compat one (tests/compat/conftest.py: `backstack init`, the compat schema as the
first migration, `backstack serve`), plus a migration of SQL functions and an `@rpc` Python function
in the project's functions/ folder, so what the official client sends (POST with a JSON body, GET
with `{a,b}` arrays and JSON objects in the query, HEAD with a count, filters chained after `rpc()`)
is checked end to end.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from postgrest.exceptions import APIError
from supabase import Client, create_client

from tests.compat.conftest import SCHEMA, LiveServer, _run, start_server, stop_server
from tests.services import postgres_database

pytestmark = pytest.mark.compat

FUNCTIONS_SQL = """
create function add_numbers(a int, b int default 10) returns int language sql immutable as $$ select a + b $$;
create function books_longer_than(min_pages int) returns setof books language sql stable as
  $$ select * from books where pages > min_pages $$;
create function echo_tags(tags text[]) returns text[] language sql immutable as $$ select tags $$;
create function echo_meta(meta jsonb) returns jsonb language sql immutable as $$ select meta $$;
create function forget() returns void language sql as $$ select 1 $$;
create function scribble() returns void language sql as $$ update books set pages = pages where false $$;
"""

FUNCTIONS_PY = """
from backstack import rpc


@rpc(volatility="stable")
async def whoami(ctx) -> dict:
    return {"role": ctx.caller.role}
"""


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def rpc_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The compat server with the functions above (a migration and functions/rpcs.py)."""
    engine = request.param
    project = tmp_path_factory.mktemp(f"compat-rpc-{engine}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKSTACK_") and k != "DATABASE_URL"}
    with postgres_database(engine) as database_url:
        if database_url:
            env["DATABASE_URL"] = database_url
        _run(["init", str(project)], env)
        shutil.copy(SCHEMA, project / "migrations" / "0001_compat_schema.sql")
        (project / "migrations" / "0002_functions.sql").write_text(FUNCTIONS_SQL, encoding="utf-8")
        (project / "functions" / "rpcs.py").write_text(FUNCTIONS_PY, encoding="utf-8")
        server, proc = start_server(project, env, engine)
        try:
            yield server
        finally:
            stop_server(proc)


@pytest.fixture(scope="module")
def sb(rpc_server: LiveServer) -> Client:
    return create_client(rpc_server.url, rpc_server.anon_key)


def test_scalar_post_and_get(sb: Client) -> None:
    assert sb.rpc("add_numbers", {"a": 1, "b": 2}).execute().data == 3
    assert sb.rpc("add_numbers", {"a": 5}).execute().data == 15
    assert sb.rpc("add_numbers", {"a": 1, "b": 2}, get=True).execute().data == 3


def test_set_result_with_filters_order_and_limit(sb: Client) -> None:
    res = (
        sb.rpc("books_longer_than", {"min_pages": 250})
        .select("title, pages")
        .lt("pages", 400)
        .order("pages", desc=True)
        .limit(2)
        .execute()
    )
    assert res.data == [
        {"title": "The Dispossessed", "pages": 387},
        {"title": "The Left Hand of Darkness", "pages": 304},
    ]
    res = sb.rpc("books_longer_than", {"min_pages": 250}, get=True).select("title").eq("pages", 272).execute()
    assert res.data == [{"title": "Mort"}]


def test_count_head_and_single(sb: Client) -> None:
    res = sb.rpc("books_longer_than", {"min_pages": 0}, count="exact").select("id").limit(1).execute()
    assert len(res.data) == 1 and res.count is not None and res.count >= 3
    res = sb.rpc("books_longer_than", {"min_pages": 400}).select("title").single().execute()
    assert res.data == {"title": "Guards! Guards!"}


def test_arrays_and_json_arguments(sb: Client) -> None:
    for get in (False, True):
        assert sb.rpc("echo_tags", {"tags": ["a", "b c"]}, get=get).execute().data == ["a", "b c"]
        assert sb.rpc("echo_meta", {"meta": {"k": [1, 2]}}, get=get).execute().data == {"k": [1, 2]}


def test_python_function(sb: Client) -> None:
    assert sb.rpc("whoami", {}).execute().data == {"role": "anon"}
    assert sb.rpc("whoami", {}, get=True).execute().data == {"role": "anon"}


def test_void_and_errors(sb: Client) -> None:
    assert sb.rpc("forget", {}).execute().data in (None, [], "")
    with pytest.raises(APIError) as raised:
        sb.rpc("add_numbrs", {"a": 1}).execute()
    assert raised.value.code == "PGRST202"
    assert raised.value.hint == "Perhaps you meant to call the function public.add_numbers"
    # as PostgREST: GET runs any function read-only, and fails only when the function writes
    assert sb.rpc("forget", {}, get=True).execute().data in (None, [], "")
    with pytest.raises(APIError) as raised:
        sb.rpc("scribble", {}, get=True).execute()
    assert raised.value.code == "25006"
