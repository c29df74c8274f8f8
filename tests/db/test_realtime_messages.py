"""Supabase's Realtime Authorization objects on both engines: `realtime.messages` with RLS and
`realtime.topic()`, created idempotently (db/postgres/realtime_messages.py at app start, db/sqlite/
realtime_messages.py at engine start); the probe (`db.engine.messages_probe`) asks the policies as
the caller and leaves no row behind."""

from __future__ import annotations

import pytest

from backstack.app import prepare_database
from backstack.config import Settings
from backstack.core.caller import Caller
from backstack.db import migrate
from backstack.db.engine import Engine, MessagesProbe, connect, messages_probe
from backstack.policy.service import SqlitePolicies
from tests.conftest import ApplySql

pytestmark = [pytest.mark.anyio, pytest.mark.pg_template("empty")]

POLICIES = """
create policy r on realtime.messages for select to authenticated
  using (realtime.topic() = 'room-' || (current_setting('request.jwt.claims', true)::json ->> 'sub'));
create policy w on realtime.messages for insert to authenticated
  with check (realtime.topic() = 'room-' || (current_setting('request.jwt.claims', true)::json ->> 'sub')
              and extension = 'broadcast');
"""
ANON = Caller("anon", {"role": "anon"})
U1, U2 = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"  # auth.uid() is a uuid


def user(sub: str) -> Caller:
    return Caller("authenticated", {"sub": sub, "role": "authenticated"})


def probe_of(engine: Engine) -> MessagesProbe:
    """The probe app.py wires: the data API's policy service on SQLite, PostgreSQL's own RLS there."""
    return messages_probe(engine, None if engine.dialect.enforces_row_security else SqlitePolicies())


def messages(engine: Engine) -> str:
    """realtime.messages as each engine names it in plain SQL."""
    return "realtime.messages" if engine.dialect.enforces_row_security else "_realtime_messages"


def topic_sql(engine: Engine) -> str:
    return "select realtime.topic()" if engine.dialect.enforces_row_security else "select realtime_topic()"


async def test_the_objects_exist_once_and_the_probe_asks_the_policies(engine: Engine, apply_sql: ApplySql) -> None:
    await prepare_database(engine)
    await prepare_database(engine)  # idempotent
    table = (await engine.schema()).internal.get("realtime.messages")
    if table is not None:  # SQLite: introspected with its RLS and grants, for the probe
        assert table.rls_enabled and table.grants is not None
        assert table.grants["authenticated"] == {"select", "insert", "update"}
        assert list(table.columns) == [
            "topic", "extension", "payload", "event", "private", "updated_at", "inserted_at", "id"
        ]  # fmt: skip
    else:
        row = await engine.fetch_one(
            "select relrowsecurity, has_table_privilege('authenticated', 'realtime.messages', 'select, insert')"
            " from pg_class where oid = 'realtime.messages'::regclass"
        )
        assert tuple(row or ()) == (True, True)
    await apply_sql(POLICIES)
    may = probe_of(engine)
    assert await may(user("a"), "room-a", "broadcast", "read")
    assert not await may(user("b"), "room-a", "broadcast", "read")
    assert not await may(ANON, "room-a", "broadcast", "read")  # no policy for anon: refused
    assert not await may(ANON, "room-a", "broadcast", "write")
    assert await may(user("a"), "room-a", "broadcast", "write")
    assert not await may(user("a"), "room-a", "presence", "write")
    assert not await may(user("b"), "room-a", "broadcast", "write")
    ghost = Caller("no_such_role", {"sub": "a", "role": "no_such_role"})  # neither a role nor granted anything
    assert not await may(ghost, "room-a", "broadcast", "read")
    left = await engine.fetch_one(f"select count(*) from {messages(engine)}")
    assert tuple(left or ()) == (0,)
    topic = await engine.fetch_one(topic_sql(engine))  # the setting never outlives the probe
    assert tuple(topic or ()) == (None,)


async def test_the_supabase_example_policies_mean_the_same(engine: Engine, apply_sql: ApplySql) -> None:
    """The policies of Supabase's docs, with `auth.uid()`, `like` and `in`, unchanged on both engines."""
    await prepare_database(engine)
    await apply_sql(
        'create policy "members read" on realtime.messages for select to authenticated using ('
        "realtime.topic() = 'room:' || auth.uid()::text and extension in ('broadcast','presence'));"
        'create policy "members write" on realtime.messages for insert to authenticated'
        " with check (realtime.topic() like 'room:%');"
    )
    may = probe_of(engine)
    assert await may(user(U1), f"room:{U1}", "presence", "read")
    assert not await may(user(U1), f"room:{U2}", "broadcast", "read")
    assert not await may(user(U1), f"room:{U1}", "postgres_changes", "read")
    assert await may(user(U1), "room:anything", "broadcast", "write")
    assert not await may(user(U1), "ROOM:x", "broadcast", "write")  # LIKE is case-sensitive on both
    assert not await may(user(U1), "rooms", "broadcast", "write")
    assert not await may(ANON, "room:x", "broadcast", "write")
    # a topic with quotes and LIKE's wildcards is a value, never SQL nor a pattern
    assert await may(user(U1), "room:%'; --", "broadcast", "write")
    assert not await may(user(U1), f"room:{U1}' or '1'='1", "broadcast", "read")
    assert not await may(user(U1), "%", "broadcast", "read")


async def test_a_policy_reading_a_table_asks_its_policies_too(engine: Engine, apply_sql: ApplySql) -> None:
    """A membership table read by the realtime policy goes through its own policies and grants, as
    a policy's subquery does for the data API."""
    await prepare_database(engine)
    await apply_sql(
        "create table members (room text, member text);"
        f"insert into members values ('team', '{U1}');"
        "alter table members enable row level security;"
        "create policy mine on members for select to authenticated using (member = auth.uid()::text);"
        "grant select on members to authenticated;"
        "create policy joined on realtime.messages for select to authenticated using (exists ("
        " select 1 from members m where m.room = realtime.topic() and m.member = auth.uid()::text));"
    )
    may = probe_of(engine)
    assert await may(user(U1), "team", "broadcast", "read")
    assert not await may(user(U2), "team", "broadcast", "read")
    assert not await may(user(U1), "other", "broadcast", "read")
    await apply_sql("revoke select on members from authenticated")  # 42501 inside the policy: refused
    assert not await may(user(U1), "team", "broadcast", "read")


async def test_a_policy_that_fails_refuses_and_says_why(
    engine: Engine, apply_sql: ApplySql, caplog: pytest.LogCaptureFixture
) -> None:
    await prepare_database(engine)
    await apply_sql(
        "create policy broken on realtime.messages for select to authenticated"
        " using (current_setting('no.such.setting') = realtime.topic())"
    )
    assert not await probe_of(engine)(user("a"), "room-a", "broadcast", "read")
    assert any("no.such.setting" in record.getMessage() for record in caplog.records if record.name == "backstack.db")


async def test_a_refresh_with_other_claims_is_decided_again(engine: Engine, apply_sql: ApplySql) -> None:
    """A policy may read any claim (`auth.jwt()`); the probe asks with the claims it is given."""
    await prepare_database(engine)
    await apply_sql(
        "create policy team on realtime.messages for select to authenticated"
        " using (realtime.topic() = 'team-' || (auth.jwt() -> 'app_metadata' ->> 'team'))"
    )
    may = probe_of(engine)
    red = Caller("authenticated", {"sub": "u", "role": "authenticated", "app_metadata": {"team": "red"}})
    blue = Caller("authenticated", {"sub": "u", "role": "authenticated", "app_metadata": {"team": "blue"}})
    assert await may(red, "team-red", "broadcast", "read")
    assert not await may(blue, "team-red", "broadcast", "read")


async def test_a_reset_drops_the_projects_policies_so_its_migrations_run_again(
    engine: Engine, engine_settings: Settings
) -> None:
    await prepare_database(engine)
    path = migrate.new_migration(engine_settings.project_dir, "realtime_policies")
    path.write_text(path.read_text() + POLICIES)
    assert await migrate.apply_pending(engine, engine_settings.project_dir) == [path.name]
    assert await migrate.reset(engine, engine_settings.project_dir) == [path.name]
    assert await probe_of(engine)(user("a"), "room-a", "broadcast", "read")
    kept = await engine.fetch_one(f"select count(*) from {messages(engine)}")
    assert tuple(kept or ()) == (0,)


@pytest.mark.parametrize("engine_settings", ["sqlite"], indirect=True)
async def test_sqlite_enables_rls_again_at_start_and_keeps_changed_grants(
    engine_settings: Settings, apply_sql: ApplySql, engine: Engine
) -> None:
    """As PostgreSQL's `ensure_realtime_messages`: RLS disabled by hand is enabled at the next start;
    grants a migration changed stay changed (they are written only with the table)."""
    await apply_sql("revoke insert on realtime.messages from authenticated")
    await engine.execute_script("UPDATE _backstack_rls SET enabled = 0 WHERE tbl = '_realtime_messages'")
    again = connect(engine_settings)
    await again.start()
    try:
        table = (await again.schema()).internal["realtime.messages"]
        assert table.rls_enabled
        assert table.grants is not None and table.grants["authenticated"] == {"select", "update"}
    finally:
        await again.close()


@pytest.mark.parametrize("engine_settings", ["sqlite"], indirect=True)
async def test_sqlite_refuses_a_policy_it_cannot_evaluate_and_says_why(
    engine: Engine, apply_sql: ApplySql, caplog: pytest.LogCaptureFixture
) -> None:
    """A function SQLite does not have: the migration is accepted (as for any table's policy), the
    probe refuses rather than skip the policy, and the log names it."""
    await apply_sql(
        "create policy split on realtime.messages for select to authenticated"
        " using (realtime.topic() = any(regexp_split_to_array('a,b', ',')))"
    )
    assert not await probe_of(engine)(user(U1), "a", "broadcast", "read")
    logged = [record.getMessage() for record in caplog.records if record.name == "backstack.db"]
    assert any("regexp_split_to_array" in message.lower() for message in logged), logged
