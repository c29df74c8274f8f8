"""Attacks on the realtime probe (`may_access`) through a pool of one connection: whatever a probe's
policy does, or however the probe ends, the next caller on that connection sees only itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from backstack.config import Settings
from backstack.core.caller import Caller
from backstack.db.engine import connect
from backstack.db.postgres.engine import PostgresEngine
from backstack.db.postgres.realtime_messages import ensure_realtime_messages, may_access

pytestmark = [pytest.mark.anyio, pytest.mark.postgres, pytest.mark.pg_template("empty")]

ALICE = Caller("authenticated", {"sub": "a", "role": "authenticated"})
BOB = Caller("authenticated", {"sub": "b", "role": "authenticated"})
WHO = (
    "select current_user::text, current_setting('request.jwt.claim.sub', true),"
    " current_setting('realtime.topic', true), current_setting('statement_timeout')"
)
POLICIES = """
create table scribbles (n int);
grant all on scribbles to authenticated;
create function hostile(t text) returns boolean language plpgsql volatile as $$
begin
  perform set_config('role', 'none', false);
  perform set_config('request.jwt.claim.sub', 'a', false);
  perform set_config('realtime.topic', 'room-a', false);
  perform set_config('statement_timeout', '0', false);
  perform pg_advisory_lock(42);
  insert into scribbles values (1);
  if t = 'slow' then perform pg_sleep(3); end if;
  if t = 'boom' then raise exception 'boom'; end if;
  return t = 'room-' || (current_setting('request.jwt.claims', true)::json ->> 'sub');
end $$;
grant execute on function hostile(text) to authenticated;
create policy r on realtime.messages for select to authenticated using (hostile(realtime.topic()));
create policy w on realtime.messages for insert to authenticated with check (hostile(realtime.topic()));
"""


@pytest.fixture
async def pg(engine_settings: Settings) -> AsyncIterator[PostgresEngine]:
    if not engine_settings.database_url:
        pytest.skip("PostgreSQL's")
    settings = engine_settings.model_copy(update={"db_pool_min": 1, "db_pool_max": 1, "statement_timeout_ms": 1000})
    engine = connect(settings)
    assert isinstance(engine, PostgresEngine)
    await engine.start()
    await ensure_realtime_messages(engine)
    await engine.execute_script(POLICIES)
    try:
        yield engine
    finally:
        await engine.close()


async def bob_sees_only_himself(pg: PostgresEngine) -> None:
    row = await pg.fetch_one(WHO, caller=BOB)
    assert row is not None and (row[0], row[1], row[2] or "", row[3]) == ("authenticated", "b", "", "1s")
    left = await pg.fetch_one("select (select count(*) from realtime.messages), (select count(*) from scribbles)")
    assert tuple(left or ()) == (0, 0)
    locks = await pg.fetch_one("select count(*) from pg_locks where locktype = 'advisory'")
    assert tuple(locks or ()) == (0,)


@pytest.mark.parametrize("access", ["read", "write"])
async def test_a_hostile_policy_leaves_nothing(pg: PostgresEngine, access: str) -> None:
    assert await may_access(pg, ALICE, "room-a", "broadcast", access)  # type: ignore[arg-type]
    await bob_sees_only_himself(pg)
    assert not await may_access(pg, ALICE, "boom", "broadcast", access)  # type: ignore[arg-type]
    await bob_sees_only_himself(pg)
    assert not await may_access(pg, ALICE, "slow", "broadcast", access)  # type: ignore[arg-type]  # statement timeout
    await bob_sees_only_himself(pg)


@pytest.mark.parametrize("access", ["read", "write"])
async def test_a_probe_cancelled_midway_leaves_nothing(pg: PostgresEngine, access: str) -> None:
    task = asyncio.create_task(may_access(pg, ALICE, "slow", "broadcast", access))  # type: ignore[arg-type]
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await bob_sees_only_himself(pg)


@pytest.mark.parametrize("topic", ["room-a'; select 1; --", "room-a\x00", "room-%", "ROOM-A", "x" * 100000])
async def test_odd_topics_are_refused_not_crashed(pg: PostgresEngine, topic: str) -> None:
    assert not await may_access(pg, ALICE, topic, "broadcast", "read")
    await bob_sees_only_himself(pg)


async def test_odd_roles(pg: PostgresEngine) -> None:
    await pg.execute_script(
        'do $$ begin create role "Odd ""Role"", x" nologin; exception when duplicate_object then null; end $$;'
        'grant "Odd ""Role"", x" to current_user;'
        'grant usage on schema realtime to "Odd ""Role"", x"; grant select, insert on realtime.messages to "Odd ""Role"", x";'
        'create policy odd on realtime.messages for select to "Odd ""Role"", x" using (realtime.topic() = \'odd\');'
    )
    odd = Caller('Odd "Role", x', {"sub": "o", "role": 'Odd "Role", x'})
    assert await may_access(pg, odd, "odd", "broadcast", "read")
    assert not await may_access(pg, odd, "room-a", "broadcast", "read")
    for role in ("postgres", "authenticator", "pg_read_all_data", "none", "PUBLIC", ""):
        print(role, await may_access(pg, Caller(role, {"sub": "a", "role": role}), "zzz", "broadcast", "read"))
    await bob_sees_only_himself(pg)
