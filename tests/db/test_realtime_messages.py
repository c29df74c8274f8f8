"""Supabase's Realtime Authorization objects on PostgreSQL (`db/postgres/realtime_messages.py`): schema
`realtime`, `realtime.messages` with RLS and `realtime.topic()`, created idempotently; the probe asks
the policies as the caller and leaves no row behind (its transaction is always rolled back)."""

from __future__ import annotations

import pytest

from backstack.config import Settings
from backstack.core.caller import Caller
from backstack.db import migrate
from backstack.db.engine import Engine
from backstack.db.postgres.realtime_messages import ensure_realtime_messages, may_access

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.postgres,
    pytest.mark.pg_template("empty"),
    pytest.mark.parametrize("engine_settings", ["postgres"], indirect=True),
]

POLICIES = """
create policy r on realtime.messages for select to authenticated
  using (realtime.topic() = 'room-' || (current_setting('request.jwt.claims', true)::json ->> 'sub'));
create policy w on realtime.messages for insert to authenticated
  with check (realtime.topic() = 'room-' || (current_setting('request.jwt.claims', true)::json ->> 'sub')
              and extension = 'broadcast');
"""


def user(sub: str) -> Caller:
    return Caller("authenticated", {"sub": sub, "role": "authenticated"})


async def test_the_objects_exist_once_and_the_probe_asks_the_policies(engine: Engine) -> None:
    await ensure_realtime_messages(engine)
    await ensure_realtime_messages(engine)  # idempotent
    row = await engine.fetch_one(
        "select relrowsecurity, has_table_privilege('authenticated', 'realtime.messages', 'select, insert')"
        " from pg_class where oid = 'realtime.messages'::regclass"
    )
    assert tuple(row or ()) == (True, True)
    await engine.execute_script(POLICIES)
    assert await may_access(engine, user("a"), "room-a", "broadcast", "read")
    assert not await may_access(engine, user("b"), "room-a", "broadcast", "read")
    assert not await may_access(engine, Caller("anon", {"role": "anon"}), "room-a", "broadcast", "read")
    assert await may_access(engine, user("a"), "room-a", "broadcast", "write")
    assert not await may_access(engine, user("a"), "room-a", "presence", "write")
    assert not await may_access(engine, user("b"), "room-a", "broadcast", "write")
    ghost = Caller("no_such_role", {"sub": "a", "role": "no_such_role"})  # would act as the table's owner
    assert not await may_access(engine, ghost, "room-a", "broadcast", "read")
    left = await engine.fetch_one("select count(*) from realtime.messages")
    assert tuple(left or ()) == (0,)
    topic = await engine.fetch_one("select realtime.topic()")  # the setting never outlives the probe
    assert tuple(topic or ()) == (None,)


async def test_a_reset_drops_the_projects_policies_so_its_migrations_run_again(
    engine: Engine, engine_settings: Settings
) -> None:
    await ensure_realtime_messages(engine)
    path = migrate.new_migration(engine_settings.project_dir, "realtime_policies")
    path.write_text(path.read_text() + POLICIES)
    assert await migrate.apply_pending(engine, engine_settings.project_dir) == [path.name]
    assert await migrate.reset(engine, engine_settings.project_dir) == [path.name]
    assert await may_access(engine, user("a"), "room-a", "broadcast", "read")
    kept = await engine.fetch_one("select to_regclass('realtime.messages') is not null")
    assert tuple(kept or ()) == (True,)
