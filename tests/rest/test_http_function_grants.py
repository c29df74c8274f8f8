"""EXECUTE privileges on SQL functions through the real app, one body on both engines (issue 16, finding 3).

PostgreSQL checks EXECUTE itself; SQLite keeps the same grants in its catalog (db.catalog.function_acl) and
`/rpc` checks them. The expected answers are PostgreSQL's with Supabase's defaults: a new function is
executable by PUBLIC and the API roles until revoked; a revoked one is 42501 `permission denied for
function f` (401 for anon, 403 for a signed-in user), and service_role keeps its own default grant.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from backstack.config import Settings
from backstack.core.errors import DatabaseError
from backstack.db.translate.ddl import translate
from tests.rest.http_api import Api, assert_error_shape, http_settings, running_api

pytestmark = pytest.mark.anyio

USER_A = "00000000-0000-4000-8000-00000000000a"
USER_B = "00000000-0000-4000-8000-00000000000b"

SCHEMA = f"""
create table secrets (id bigint primary key, owner uuid, secret text);
alter table secrets enable row level security;
create policy own_secrets on secrets for select using (auth.uid() = owner);
insert into secrets (id, owner, secret) values (1, '{USER_A}', 'alice'), (2, '{USER_B}', 'bob');

create function leak() returns setof secrets language sql stable security definer
  as $$ select * from secrets order by id $$;
revoke execute on function leak() from public, anon, authenticated;

create function open_fn() returns int language sql stable as $$ select 1 $$;

create function regranted(n int) returns int language sql stable as $$ select n $$;
revoke all on function regranted from public, anon, authenticated;
grant execute on function regranted(integer) to authenticated;

create table notes (id bigint primary key, body text);
insert into notes (id, body) values (1, 'n');
revoke select on notes from public, anon;
"""

DEFAULTS = """
create function before_defaults() returns int language sql stable as $$ select 1 $$;
alter default privileges revoke execute on functions from public;
alter default privileges in schema public revoke execute on functions from anon, authenticated;
create function after_defaults() returns int language sql stable as $$ select 2 $$;
create function granted_to_all() returns int language sql stable as $$ select 3 $$;
revoke execute on all functions in schema public from anon;
grant execute on all functions in schema public to authenticated;
"""


@pytest.fixture
async def api(engine_settings: Settings) -> AsyncIterator[Api]:
    async with running_api(http_settings(engine_settings), SCHEMA) as running:
        yield running


async def call(api: Api, actor: str, fn: str, body: object = None) -> tuple[int, object]:
    headers = {}
    if actor == "user":
        headers["Authorization"] = f"Bearer {api.token(sub=USER_B, role='authenticated')}"
    role = "service" if actor == "service" else "anon"
    response = await api.request("POST", f"rpc/{fn}", role=role, headers=headers, body=body or {})
    if response.status_code >= 400:
        error = assert_error_shape(response)
        return response.status_code, (error["code"], error["message"])
    return response.status_code, response.json()


def denied(status: int, fn: str) -> tuple[int, object]:
    return status, ("42501", f"permission denied for function {fn}")


async def test_revoked_function_is_refused(api: Api) -> None:
    """A SECURITY DEFINER function revoked from public, anon and authenticated answers 42501 to them,
    and still runs for service_role (Supabase's own grant)."""
    assert await call(api, "anon", "leak") == denied(401, "leak"), api.dialect
    assert await call(api, "user", "leak") == denied(403, "leak"), api.dialect
    status, rows = await call(api, "service", "leak")
    assert status == 200 and [r["secret"] for r in rows] == ["alice", "bob"], api.dialect  # type: ignore[union-attr]


async def test_default_grant_and_regrant(api: Api) -> None:
    """Without a REVOKE every role may call a function; a GRANT after a REVOKE gives it back."""
    for actor in ("anon", "user", "service"):
        assert await call(api, actor, "open_fn") == (200, 1), (api.dialect, actor)
    assert await call(api, "anon", "regranted", {"n": 5}) == denied(401, "regranted"), api.dialect
    assert await call(api, "user", "regranted", {"n": 5}) == (200, 5), api.dialect
    assert await call(api, "service", "regranted", {"n": 5}) == (200, 5), api.dialect


async def test_revoke_from_public_and_a_role_takes_both(api: Api) -> None:
    """`revoke select on t from public, anon` takes anon's own grant too (SQLite kept it before)."""
    response = await api.request("GET", "notes?select=id", role="anon")
    assert response.status_code == 401, (api.dialect, response.text)
    assert assert_error_shape(response, "42501")["message"] == "permission denied for table notes"


async def test_default_privileges_for_functions(engine_settings: Settings) -> None:
    """`alter default privileges` changes what functions created later get; `all functions in schema`."""
    async with running_api(http_settings(engine_settings), DEFAULTS) as api:
        # created before: PUBLIC still holds EXECUTE, so revoking anon's own grant changes nothing
        assert await call(api, "anon", "before_defaults") == (200, 1), api.dialect
        assert await call(api, "anon", "after_defaults") == denied(401, "after_defaults"), api.dialect
        assert await call(api, "user", "after_defaults") == (200, 2), api.dialect  # granted to all afterwards
        assert await call(api, "service", "after_defaults") == (200, 2), api.dialect


async def test_default_privileges_in_a_schema_do_not_take_public(engine_settings: Settings) -> None:
    """As on PostgreSQL, a schema's default privileges only add to the global ones: revoking PUBLIC in
    schema public leaves new functions executable by everyone."""
    sql = (
        "alter default privileges in schema public revoke execute on functions from public;\n"
        "create function still_open() returns int language sql stable as $$ select 7 $$;"
    )
    async with running_api(http_settings(engine_settings), sql) as api:
        assert await call(api, "anon", "still_open") == (200, 7), api.dialect


@pytest.mark.parametrize(
    "statement",
    [
        "alter default privileges in schema public revoke select on tables from anon",
        "alter default privileges revoke all on sequences from authenticated",
        "revoke usage on schema public from anon",
        "revoke all on all sequences in schema public from anon, authenticated",
    ],
)
def test_revokes_sqlite_cannot_honour_are_refused(statement: str) -> None:
    """PostgreSQL accepts these; SQLite refuses them (never accepts a REVOKE and ignores it)."""
    with pytest.raises(DatabaseError) as caught:
        translate(statement)
    assert caught.value.code == "0A000"
    assert "cannot run statement 1" in caught.value.message
    assert "SQLite" in str(caught.value.details)


@pytest.mark.parametrize(
    "statement",
    [
        "grant usage on schema public to anon",
        "grant all on all sequences in schema public to anon, authenticated, service_role",
        "alter default privileges in schema public grant all on tables to anon",
        "alter default privileges for role supabase_admin in schema public revoke all on tables from anon",
        "revoke usage on schema public from public",
    ],
)
def test_statements_with_nothing_to_record_are_accepted(statement: str) -> None:
    assert [s for t in translate(statement) for s in t.sqlite] == []


def test_function_privilege_errors() -> None:
    with pytest.raises(DatabaseError) as caught:
        translate("grant select on function f() to anon")
    assert (caught.value.code, caught.value.message) == ("0LP01", "invalid privilege type SELECT for function")


PRIVATE_LEAK = f"""
create table secrets (id bigint primary key, owner uuid, secret text);
alter table secrets enable row level security;
create policy own_secrets on secrets for select using (auth.uid() = owner);
insert into secrets (id, owner, secret) values (1, '{USER_A}', 'alice'), (2, '{USER_B}', 'bob');

create schema private;
create function private.leak() returns setof secrets language sql stable security definer
  as $$ select * from secrets order by id $$;
"""

SAME_NAMES = """
create schema private;
create function public.f() returns int language sql stable as $$ select 1 $$;
create or replace function private.f() returns int language sql stable as $$ select 2 $$;
revoke execute on function private.f() from public, anon, authenticated;
comment on function private.f() is 'the private one';

create function public.g() returns int language sql stable as $$ select 3 $$;
create function private.g() returns int language sql stable as $$ select 4 $$;
drop function private.g();
"""


async def test_functions_of_other_schemas_are_not_served(engine_settings: Settings) -> None:
    """Only the exposed schema `public` is served at /rpc (red-team F1): a SECURITY DEFINER function in
    schema private is 404 PGRST202 for every role, never run."""
    async with running_api(http_settings(engine_settings), PRIVATE_LEAK) as api:
        for actor in ("anon", "user", "service"):
            status, error = await call(api, actor, "leak")
            assert status == 404 and error[0] == "PGRST202", (api.dialect, actor, status, error)  # type: ignore[index]
            role = "service" if actor == "service" else "anon"
            response = await api.request("GET", "rpc/leak", role=role)
            assert response.status_code == 404, (api.dialect, actor, response.text)
            assert assert_error_shape(response, "PGRST202")


async def test_same_name_in_two_schemas_stays_distinct(engine_settings: Settings) -> None:
    """`public.f` and `private.f` are two functions: creating, revoking and dropping the private one
    leaves the public one as it was (red-team F1)."""
    async with running_api(http_settings(engine_settings), SAME_NAMES) as api:
        for actor in ("anon", "user", "service"):
            assert await call(api, actor, "f") == (200, 1), (api.dialect, actor)
            assert await call(api, actor, "g") == (200, 3), (api.dialect, actor)
