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
        pytest.skip(
            "Realtime Authorization by policies on realtime.messages is PostgreSQL's (SQLite refuses private channels)"
        )
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
    locks = await pg.fetch_one(
        "select count(*) from pg_locks l join pg_database d on d.oid = l.database"
        " where l.locktype = 'advisory' and d.datname = current_database()"
    )
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


ODD = 'Odd "Role", x'  # a role whose name needs quoting
ODD_SQL = '"Odd ""Role"", x"'


async def test_roles_are_asked_as_themselves_whatever_their_name(pg: PostgresEngine) -> None:
    """A role needing quotes is switched to as itself; a role the connecting user cannot switch to (or
    `none`, or `PUBLIC`) is refused. A token claiming `postgres` runs as that superuser, exactly as the
    data API runs it (only a token signed with the project's secret can claim it)."""
    await pg.execute_script(
        f"do $$ begin create role {ODD_SQL} nologin; exception when duplicate_object then null; end $$;"
        f"grant {ODD_SQL} to current_user; grant usage on schema realtime to {ODD_SQL};"
        f"grant select, insert on realtime.messages to {ODD_SQL};"
        f"create policy odd on realtime.messages for select to {ODD_SQL} using (realtime.topic() = 'odd');"
    )
    odd = Caller(ODD, {"sub": "o", "role": ODD})
    assert await may_access(pg, odd, "odd", "broadcast", "read")
    assert not await may_access(pg, odd, "room-a", "broadcast", "read")
    for role in ("pg_read_all_data", "none", "PUBLIC", "", "AUTHENTICATED", " authenticated"):
        assert not await may_access(pg, Caller(role, {"sub": "a", "role": role}), "room-a", "broadcast", "read")
    superuser = await pg.fetch_one("select current_user::text")
    assert superuser is not None
    assert await may_access(pg, Caller(superuser[0], {"role": superuser[0]}), "zzz", "broadcast", "read")
    await bob_sees_only_himself(pg)


async def test_a_topic_cannot_forge_log_lines(pg: PostgresEngine, caplog: pytest.LogCaptureFixture) -> None:
    """A topic is the client's: a failed probe logs it escaped, so a newline cannot start a fake line."""
    assert not await may_access(pg, ALICE, "x\nCRITICAL forged line\x00", "broadcast", "read")
    messages = [record.getMessage() for record in caplog.records if record.name == "backstack.db"]
    assert messages and all("\n" not in message for message in messages)


async def test_a_trigger_skipping_the_probe_row_refuses(pg: PostgresEngine) -> None:
    """A BEFORE trigger returning NULL inserts no row, so no policy is asked: that is no consent
    (writing), and no probe to look for (reading), not a crash."""
    await pg.execute_script(
        "create function skip() returns trigger language plpgsql as $$ begin return null; end $$;"
        "create trigger skip before insert on realtime.messages for each row execute function skip();"
    )
    assert not await may_access(pg, ALICE, "room-b", "broadcast", "write")
    assert not await may_access(pg, ALICE, "room-a", "broadcast", "read")
    await bob_sees_only_himself(pg)
