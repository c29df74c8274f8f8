"""The caller's settings kept per pooled PostgreSQL connection (db/postgres/session.py): one round trip
for a repeated caller, and never another caller's role or claims, whatever the previous request did.

Every test runs on a pool of one connection, so each request lands on the connection the previous
one left behind. Simple-protocol statements are counted on that connection (a spy on `execute`; the
database is real): a read whose settings are already in force sends none.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from backstack.config import Settings
from backstack.core.caller import ANON, Caller
from backstack.core.errors import ApiError
from backstack.db.dialect import POSTGRES
from backstack.db.engine import connect
from backstack.db.postgres.engine import PostgresEngine
from backstack.db.postgres.session import SessionConnection, checked

pytestmark = pytest.mark.anyio

ALICE = Caller(role="authenticated", claims={"sub": "00000000-0000-0000-0000-00000000000a", "role": "authenticated"})
BOB = Caller(role="authenticated", claims={"sub": "00000000-0000-0000-0000-00000000000b", "role": "authenticated"})
WHO = (
    "select current_user::text, auth.uid()::text, current_setting('request.jwt.claim.role', true), "
    "current_setting('transaction_read_only')"
)
SETUP = """
create schema if not exists auth;
create or replace function auth.uid() returns uuid language sql stable as $$
  select nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $$;
grant usage on schema auth to anon, authenticated;
create table notes (id int primary key, owner uuid, body text);
alter table notes enable row level security;
create policy own on notes for all to authenticated using (owner = auth.uid()) with check (owner = auth.uid());
grant all on notes to anon, authenticated;
insert into notes values (1, '00000000-0000-0000-0000-00000000000a', 'alice'),
                         (2, '00000000-0000-0000-0000-00000000000b', 'bob');
-- what a careless (or hostile) function could do: change the session for whoever comes next
create function hijack() returns int language sql as $$
  select 1 from (select set_config('request.jwt.claim.sub', '00000000-0000-0000-0000-00000000000b', false),
                        set_config('role', 'none', false)) s $$;
grant execute on function hijack() to anon, authenticated;
create function slow() returns int language sql as $$ select 1 from pg_sleep(5) $$;
create function scribble() returns int language sql volatile as $$
  insert into notes values (9, null, 'x') returning 1 $$;
grant execute on function slow(), scribble() to anon, authenticated;
"""


@pytest.fixture
async def pg(engine_settings: Settings) -> AsyncIterator[PostgresEngine]:
    if not engine_settings.database_url:
        pytest.skip("pooled-connection session state is PostgreSQL's (SQLite compiles policies in)")
    settings = engine_settings.model_copy(update={"db_pool_min": 1, "db_pool_max": 1})
    engine = connect(settings)
    assert isinstance(engine, PostgresEngine)
    await engine.start()
    await engine.execute_script(SETUP)
    try:
        yield engine
    finally:
        await engine.close()


@pytest.fixture
def simple_queries(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every simple-protocol statement the pooled connection runs from now on."""
    sent: list[str] = []
    original = SessionConnection.execute

    async def spy(self: SessionConnection, query: str, *args: Any, **kwargs: Any) -> str:
        if not args:
            sent.append(query)
        return await original(self, query, *args, **kwargs)

    monkeypatch.setattr(SessionConnection, "execute", spy)
    return sent


async def who(engine: PostgresEngine, caller: Caller | None) -> tuple[Any, ...] | None:
    return await engine.fetch_one(WHO, caller=caller)


async def test_repeated_caller_reads_send_nothing_but_the_statement(
    pg: PostgresEngine, simple_queries: list[str]
) -> None:
    assert await who(pg, ALICE) == ("authenticated", ALICE.uid, "authenticated", "on")
    assert len(simple_queries) == 1  # the settings, once
    for _ in range(3):
        assert await who(pg, ALICE) == ("authenticated", ALICE.uid, "authenticated", "on")
    assert len(simple_queries) == 1
    assert await pg.fetch_all("select id from notes", caller=ALICE) == [(1,)]
    assert len(simple_queries) == 1
    assert await who(pg, BOB) == ("authenticated", BOB.uid, "authenticated", "on")
    assert len(simple_queries) == 2


async def test_callers_take_turns_on_one_connection(pg: PostgresEngine) -> None:
    for caller, body in ((ALICE, "alice"), (BOB, "bob"), (ALICE, "alice"), (ANON, None)):
        rows = await pg.fetch_all("select body from notes order by id", caller=caller)
        assert rows == ([(body,)] if body else [])
    # internal work: the connecting user, no claims, read-write, RLS bypassed as owner
    user, uid, role, read_only = await who(pg, None) or ()
    assert (uid, role or "", read_only) == (None, "", "off") and user not in ("anon", "authenticated")
    assert await pg.fetch_one("select count(*) from notes") == (2,)


async def test_user_code_changing_the_session_does_not_reach_the_next_request(
    pg: PostgresEngine, simple_queries: list[str]
) -> None:
    assert await who(pg, ALICE) == ("authenticated", ALICE.uid, "authenticated", "on")
    assert await pg.fetch_one("select hijack()", caller=ALICE) == (1,)  # runs, as today
    # the settings are checked at the end of every statement: the next one sets them again
    assert await who(pg, ALICE) == ("authenticated", ALICE.uid, "authenticated", "on")
    assert await pg.fetch_all("select body from notes", caller=ALICE) == [("alice",)]
    assert len(simple_queries) == 2


async def test_user_code_in_a_write_does_not_reach_the_next_request(pg: PostgresEngine) -> None:
    await pg.write_one("select hijack()", caller=ALICE)
    assert await who(pg, ALICE) == ("authenticated", ALICE.uid, "authenticated", "on")
    async with pg.transaction(ALICE) as conn:
        await conn.fetch_one("select hijack()")
    assert await who(pg, ALICE) == ("authenticated", ALICE.uid, "authenticated", "on")
    async with pg.transaction() as conn:
        await conn.fetch_one("select 1")
    assert await who(pg, ALICE) == ("authenticated", ALICE.uid, "authenticated", "on")


async def test_errors_timeouts_and_cancellation_leave_nothing_behind(
    pg: PostgresEngine, engine_settings: Settings
) -> None:
    with pytest.raises(ApiError) as info:
        await pg.fetch_one("select 1 / 0", caller=ALICE)
    assert info.value.code == "22012"
    assert await who(pg, BOB) == ("authenticated", BOB.uid, "authenticated", "on")
    # cancelled mid-statement (a client gone, a timeout around the request)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(pg.fetch_one("select slow()", caller=ALICE), 0.3)
    assert await who(pg, ANON) == ("anon", None, "anon", "on")
    assert await who(pg, ALICE) == ("authenticated", ALICE.uid, "authenticated", "on")
    # the server's statement_timeout
    settings = engine_settings.model_copy(update={"db_pool_min": 1, "db_pool_max": 1, "statement_timeout_ms": 200})
    short = connect(settings)
    await short.start()
    try:
        assert await who(short, ALICE) == ("authenticated", ALICE.uid, "authenticated", "on")  # type: ignore[arg-type]
        with pytest.raises(ApiError) as info:
            await short.fetch_one("select slow()", caller=ALICE)
        assert info.value.code == "57014"
        assert await who(short, BOB) == ("authenticated", BOB.uid, "authenticated", "on")  # type: ignore[arg-type]
    finally:
        await short.close()


async def test_reads_are_read_only_and_writes_see_their_caller(pg: PostgresEngine) -> None:
    with pytest.raises(ApiError) as info:
        await pg.fetch_one("select scribble()", caller=ALICE)
    assert info.value.code == "25006"
    row = await pg.write_one("insert into notes values (3, auth.uid(), 'mine') returning owner::text", caller=ALICE)
    assert row == (ALICE.uid,)
    with pytest.raises(ApiError) as info:  # WITH CHECK as BOB
        await pg.write_one("insert into notes values (4, $1, 'forged')", [ALICE.uid], caller=BOB)
    assert info.value.code == "42501"
    assert await pg.fetch_all("select id from notes order by id", caller=ALICE) == [(1,), (3,)]


async def test_sql_that_cannot_be_wrapped_runs_in_a_transaction(pg: PostgresEngine) -> None:
    assert checked("select 1") is not None and checked("select 1", one=True) is not None
    for sql in ("select 1 into t", "values (1)", "select 1; select 2"):
        assert checked(sql) is None and checked(sql, one=True) is None
    assert await pg.fetch_all("values (1), (2)", caller=ALICE) == [(1,), (2,)]
    assert await who(pg, ALICE) == ("authenticated", ALICE.uid, "authenticated", "on")
    with pytest.raises(ApiError) as info:
        await pg.fetch_one("select 1 into scratch", caller=ALICE)
    assert info.value.code == "25006"


LEFTOVERS = """
create function leave_state() returns int language plpgsql as $$
begin
  perform set_config('search_path', 'auth', false);
  perform set_config('statement_timeout', '0', false);
  perform pg_advisory_lock(4242);
  perform set_config('request.jwt.claim.email', 'alice@example.com', false);
  return 1;
end $$;
create function leave_temp() returns int language plpgsql as $$
begin
  create temp table notes (id int, owner uuid, body text);
  insert into notes values (7, null, 'planted');
  grant select on notes to public;
  return 1;
end $$;
grant execute on function leave_state(), leave_temp() to anon, authenticated;
"""
SESSION = (
    "select current_setting('search_path'), current_setting('statement_timeout'), "
    "(select count(*) from pg_locks where locktype = 'advisory' and pid = pg_backend_pid())::int, "
    "(select count(*) from pg_class where relpersistence = 't')::int, "
    "coalesce(current_setting('request.jwt.claim.email', true), '')"
)


async def test_other_session_state_left_by_user_code_does_not_reach_the_next_caller(pg: PostgresEngine) -> None:
    """Search path, statement timeout, advisory locks and temp tables a function leaves on the session
    (asyncpg's reset on release used to clear most of them) are gone before another caller's use."""
    await pg.execute_script(LEFTOVERS)
    clean = await pg.fetch_one(SESSION, caller=BOB)
    assert clean is not None and clean[2:] == (0, 0, "")
    assert await pg.fetch_one("select leave_state()", caller=ALICE) == (1,)
    assert await pg.fetch_one(SESSION, caller=BOB) == clean
    # the same caller's next read: the statement timeout and search path are the connection's again
    assert await who(pg, ALICE) is not None
    assert await pg.fetch_one("select leave_state()", caller=ALICE) == (1,)
    after = await pg.fetch_one(SESSION, caller=ALICE)
    assert after is not None and after[:2] == clean[:2]
    assert await pg.write_one("select leave_temp()", caller=ALICE) == (1,)
    assert await pg.fetch_one(SESSION, caller=BOB) == clean
    assert await pg.fetch_all("select body from notes order by id", caller=BOB) == [("bob",)]
    # a caller's transaction (writes, SQL that cannot be wrapped) does not run in them either
    assert await pg.fetch_one("select leave_state()", caller=ALICE) == (1,)
    async with pg.transaction(BOB) as conn:
        assert await conn.fetch_one(SESSION) == clean
    assert await pg.fetch_one("select leave_state()", caller=ALICE) == (1,)
    assert await pg.fetch_all(f"{SESSION} union all {SESSION}", caller=BOB) == [clean, clean]


TRAILING = f"""
create function sneaky(g int) returns boolean language plpgsql as $$
begin
  if g < 3 then return true; end if;
  perform set_config('request.jwt.claim.sub', '{BOB.uid}', false);
  return false;
end $$;
grant execute on function sneaky(int) to anon, authenticated;
"""


async def test_user_code_after_the_last_row_is_caught(pg: PostgresEngine) -> None:
    """A filter that runs (and changes the session) after the last row was sent: no row reports it."""
    await pg.execute_script(TRAILING)
    assert await who(pg, ALICE) == ("authenticated", ALICE.uid, "authenticated", "on")
    rows = await pg.fetch_all("select g from generate_series(1, 3) g where sneaky(g)", caller=ALICE)
    assert rows == [(1,), (2,)]
    assert await who(pg, ALICE) == ("authenticated", ALICE.uid, "authenticated", "on")
    assert await pg.fetch_all("select body from notes", caller=ALICE) == [("alice",)]
    # the first row only: the statement stops once it is made (sneaky(3) never runs)
    assert await pg.fetch_one("select g from generate_series(1, 3) g where sneaky(g)", caller=ALICE) == (1,)
    assert await pg.fetch_one("select current_setting('request.jwt.claim.sub')", caller=ALICE) == (ALICE.uid,)
    # rows keep their order; none, and NULL rows, are rows as before
    assert await pg.fetch_all("select g, null from generate_series(3, 1, -1) g", caller=ALICE) == [
        (3, None),
        (2, None),
        (1, None),
    ]
    assert await pg.fetch_all("select 1 where false", caller=ALICE) == []


TRIGGERED = """
create table signups (id int);
create function on_signup() returns trigger language plpgsql as $$
begin
  perform set_config('search_path', 'auth', false);
  perform set_config('role', 'anon', false);
  return new;
end $$;
create trigger on_signup after insert on signups for each row execute function on_signup();
"""


async def test_user_code_in_internal_work_does_not_reach_later_work(pg: PostgresEngine) -> None:
    """A trigger of the project's (on auth.users, say) runs inside internal work: whatever it leaves
    on the session is not trusted as the connecting user's own state afterwards."""
    await pg.execute_script(TRIGGERED)
    clean = await pg.fetch_one("select current_user::text, current_setting('search_path')")
    async with pg.transaction() as conn:
        await conn.execute("insert into signups values (1)")
    assert await pg.fetch_one("select current_user::text, current_setting('search_path')") == clean
    await pg.write_one("insert into signups values (2)")
    assert await pg.fetch_one("select current_user::text, current_setting('search_path')") == clean


WRITES = """
create table plain (id int primary key, owner uuid default auth.uid(), n int default 0);
grant all on plain to anon, authenticated;
alter table plain enable row level security;
create policy own on plain for all to authenticated using (owner = auth.uid()) with check (owner = auth.uid());
create table watched (id int primary key, owner uuid);
grant all on watched to anon, authenticated;
create function quietly_hijack() returns trigger language plpgsql as $$
begin
  perform set_config('request.jwt.claim.sub', '00000000-0000-0000-0000-00000000000b', false);
  return new;
end $$;
create trigger after_write after insert on watched for each row execute function quietly_hijack();
create table parent (id int primary key);
create table child (id int primary key, parent int references parent on delete cascade);
grant all on parent, child to anon, authenticated;
create table rooted (id int, k int) partition by range (k);
create table rooted_1 partition of rooted for values from (0) to (100);
grant all on rooted, rooted_1 to anon, authenticated;
create view plain_view as select * from plain;
grant all on plain_view to anon, authenticated;
create function hijacking_default() returns int language sql volatile as $$
  select 0 from (select set_config('request.jwt.claim.sub', '00000000-0000-0000-0000-00000000000b', false)) s $$;
create table defaulted (id int primary key, n int default hijacking_default());
grant all on defaulted to anon, authenticated;
grant execute on function hijacking_default() to anon, authenticated;
"""


def write_sql(relation: str, dml: str) -> str:
    """A write as the data API's statements are shaped: the rows changed, then the session check."""
    check = POSTGRES.written_session_check(relation, "_bs_changed")
    return f"WITH _bs_changed AS ({dml} RETURNING 1) SELECT (SELECT count(*) FROM _bs_changed), {check}"


def owner_sql(row: int) -> str:
    """Insert a row into `plain` owned by `auth.uid()` (its default); the owner written."""
    check = POSTGRES.written_session_check('"public"."plain"', "_bs_changed")
    return (
        f"WITH _bs_changed AS (insert into plain (id) values ({row}) RETURNING owner) "
        f"SELECT (SELECT owner::text FROM _bs_changed), {check}"
    )


async def test_a_checked_write_keeps_its_callers_state(pg: PostgresEngine, simple_queries: list[str]) -> None:
    """A data API write on a plain table runs no code of the project's after its check: the caller's
    state holds, and the next request of the same caller sends nothing but its statement."""
    await pg.execute_script(WRITES)
    before = len(simple_queries)
    for n in range(3):
        sql = write_sql('"public"."plain"', f"insert into plain (id) values ({n})")
        assert await pg.write_one(sql, caller=ALICE, checked=True) == (1,)
    assert await who(pg, ALICE) == ("authenticated", ALICE.uid, "authenticated", "on")
    assert len(simple_queries) == before + 2  # the write state once, then the read state
    assert await pg.fetch_all("select distinct owner::text from plain", caller=ALICE) == [(ALICE.uid,)]
    assert await pg.write_one(write_sql('"public"."plain"', "update plain set n = 1"), caller=ALICE, checked=True) == (
        3,
    )
    assert await pg.write_one(write_sql('"public"."plain"', "update plain set n = 2"), caller=BOB, checked=True) == (
        0,
    )  # Bob's policy: Alice's rows are not his
    assert await pg.write_one(owner_sql(10), caller=BOB, checked=True) == (BOB.uid,)
    assert await pg.write_one(owner_sql(11), caller=ALICE, checked=True) == (ALICE.uid,)
    assert await who(pg, BOB) == ("authenticated", BOB.uid, "authenticated", "on")


@pytest.mark.parametrize(
    ("relation", "dml"),
    [
        ('"public"."watched"', "insert into watched values (1, null)"),  # an AFTER trigger changes the session
        ('"public"."defaulted"', "insert into defaulted (id) values (1)"),  # a default does, within the statement
        ('"public"."parent"', "insert into parent values (1)"),  # a cascading foreign key could reach triggers
        ('"public"."rooted"', "insert into rooted values (1, 1)"),  # a partition's triggers would fire
        ('"public"."plain_view"', "insert into plain_view (id) values (7)"),  # not a plain table
        ('"public"."no_such_table"', "insert into plain (id) values (8)"),  # the check names another relation
    ],
)
async def test_a_write_that_may_run_code_after_its_check_forgets_the_state(
    pg: PostgresEngine, simple_queries: list[str], relation: str, dml: str
) -> None:
    await pg.execute_script(WRITES)
    await who(pg, ALICE)
    before = len(simple_queries)
    await pg.write_one(write_sql(relation, dml), caller=ALICE, checked=True)
    assert len(simple_queries) == before + 1
    # the next write of the same caller sets the state again, so it writes as Alice, not as Bob
    assert await pg.write_one(owner_sql(50), caller=ALICE, checked=True) == (ALICE.uid,)
    assert len(simple_queries) == before + 2
    assert await who(pg, ALICE) == ("authenticated", ALICE.uid, "authenticated", "on")
    assert await pg.fetch_all("select body from notes", caller=ALICE) == [("alice",)]


AFTER_THE_CHECK = """
create table ruled_log (id int primary key);
create trigger after_log after insert on ruled_log for each row execute function quietly_hijack();
create table ruled (id int primary key);
create rule redirect as on insert to ruled do instead insert into ruled_log values (new.id) returning *;
grant all on ruled, ruled_log to anon, authenticated;
create table audit_log (id int);
create constraint trigger at_commit after insert on audit_log deferrable initially deferred
  for each row execute function quietly_hijack();
create function audited() returns int language plpgsql volatile as $$
begin insert into audit_log values (1); return 0; end $$;
create table audited (id int primary key, n int default audited());
grant all on audit_log, audited to anon, authenticated;
grant execute on function audited() to anon, authenticated;
-- an index expression computed again when a deferred exclusion constraint is rechecked at commit
create function fourth_call_hijacks(k int) returns int4range language plpgsql immutable as $$
declare calls int := coalesce(nullif(current_setting('test.calls', true), ''), '0')::int;
begin
  if calls >= 3 then perform quietly_hijack_now(); end if;
  perform set_config('test.calls', (calls + 1)::text, true);
  return int4range(k, k, '[]');
end $$;
create function quietly_hijack_now() returns void language sql as $$
  select set_config('request.jwt.claim.sub', '00000000-0000-0000-0000-00000000000b', false) $$;
create table excluded_k (id int primary key, k int,
  exclude using gist (fourth_call_hijacks(k) with &&) deferrable initially deferred);
insert into excluded_k values (1, 1), (2, 2);
grant all on excluded_k to anon, authenticated;
"""


@pytest.mark.parametrize(
    ("relation", "dml"),
    [
        # a DO INSTEAD rule: the rows go to another table, whose AFTER trigger fires once the statement ends
        ('"public"."ruled"', "insert into ruled values (1)"),
        # a default writes to another table whose deferred constraint trigger fires at commit
        ('"public"."audited"', "insert into audited (id) values (1)"),
        # two rows swap their values: the constraint is rechecked at commit, its expression run again
        (
            '"public"."excluded_k"',
            "insert into excluded_k values (1, 2), (2, 1) on conflict (id) do update set k = excluded.k",
        ),
    ],
)
async def test_code_reached_after_the_check_does_not_keep_the_state(
    pg: PostgresEngine, relation: str, dml: str
) -> None:
    await pg.execute_script(WRITES + AFTER_THE_CHECK)
    await pg.write_one(write_sql(relation, dml), caller=ALICE, checked=True)
    # the next write of the same caller must write as Alice, not as the Bob the trigger left behind
    assert await pg.write_one(owner_sql(50), caller=ALICE, checked=True) == (ALICE.uid,)
    assert await who(pg, ALICE) == ("authenticated", ALICE.uid, "authenticated", "on")


RACE = """
create table late_log (id int);
create function slow_audited() returns int language plpgsql volatile as $$
begin perform pg_sleep(0.6); insert into late_log values (1); return 0; end $$;
create table late (id int primary key, n int default slow_audited());
grant all on late_log, late to anon, authenticated;
grant execute on function slow_audited() to anon, authenticated;
"""


@pytest.mark.xfail(
    strict=True,
    reason="known gap (db/postgres/session.py): the check scans the catalogs with the statement's snapshot, "
    "so a deferred trigger created while the statement runs is missed; fix planned: a guard at the start "
    "of the next statement",
)
async def test_a_deferred_trigger_created_during_the_write_does_not_keep_the_state(
    pg: PostgresEngine, engine_settings: Settings
) -> None:
    await pg.execute_script(WRITES + RACE)
    write = asyncio.create_task(
        pg.write_one(write_sql('"public"."late"', "insert into late (id) values (1)"), caller=ALICE, checked=True)
    )
    await asyncio.sleep(0.2)  # the statement has its snapshot and sleeps in the default
    ddl = await asyncpg.connect(engine_settings.database_url)
    try:
        await ddl.execute(
            "create constraint trigger at_commit after insert on late_log deferrable initially "
            "deferred for each row execute function quietly_hijack()"
        )
    finally:
        await ddl.close()
    await write
    assert await pg.write_one(owner_sql(50), caller=ALICE, checked=True) == (ALICE.uid,)


MASKED = """
create function masked_hijack() returns int language plpgsql volatile as $$
declare was text := current_setting('request.jwt.claim.sub');
begin
  perform set_config('request.jwt.claim.sub', '00000000-0000-0000-0000-00000000000b', false);
  perform set_config('request.jwt.claim.sub', was, true);  -- what the statement reads until it commits
  return 0;
end $$;
create table masked (id int primary key, n int default masked_hijack());
grant all on masked to anon, authenticated;
grant execute on function masked_hijack() to anon, authenticated;
create function masked_read() returns int language sql volatile as $$ select masked_hijack() $$;
grant execute on function masked_read() to anon, authenticated;
"""


@pytest.mark.xfail(
    strict=True,
    reason="known gap (db/postgres/session.py): a transaction-local value masks the session-level one "
    "the check should see; it comes back at commit; fix planned: a guard at the start of the next statement",
)
async def test_a_session_setting_masked_by_a_local_one_does_not_keep_the_state(pg: PostgresEngine) -> None:
    await pg.execute_script(WRITES + MASKED)
    await pg.write_one(write_sql('"public"."masked"', "insert into masked (id) values (1)"), caller=ALICE, checked=True)
    assert await pg.write_one(owner_sql(50), caller=ALICE, checked=True) == (ALICE.uid,)


@pytest.mark.xfail(
    strict=True,
    reason="known gap, older than the write change: a read's end-of-statement check is masked alike; "
    "fix planned: a guard at the start of the next statement",
)
async def test_a_read_masking_a_session_setting_does_not_keep_the_state(pg: PostgresEngine) -> None:
    await pg.execute_script(WRITES + MASKED)
    await who(pg, ALICE)
    assert await pg.fetch_one("select masked_read()", caller=ALICE) == (0,)
    assert await who(pg, ALICE) == ("authenticated", ALICE.uid, "authenticated", "on")
