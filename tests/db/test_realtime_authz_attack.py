"""Attacks on the realtime probe (`db.engine.messages_probe`), on both engines: whatever a probe's
policy does, or however the probe ends, the next caller sees only itself. On PostgreSQL through a pool
of one connection (a hostile plpgsql policy tries to leave its role, claims, topic, timeout, a lock and
rows behind); on SQLite a policy can only fail or run long (no functions with side effects there), and
the probe writes nothing, so the next statement of the same connection must see no topic."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Literal

import pytest

from backstack.config import Settings
from backstack.core.caller import Caller
from backstack.db.engine import Engine, MessagesProbe, connect
from backstack.db.postgres.realtime_messages import ensure_realtime_messages
from tests.conftest import apply_sql_to
from tests.db.test_realtime_messages import probe_of

pytestmark = [pytest.mark.anyio, pytest.mark.pg_template("empty")]

ALICE = Caller("authenticated", {"sub": "a", "role": "authenticated"})
BOB = Caller("authenticated", {"sub": "b", "role": "authenticated"})
WHO = {
    "postgres": "select current_user::text, current_setting('request.jwt.claim.sub', true),"
    " current_setting('realtime.topic', true), current_setting('statement_timeout')",
    "sqlite": "select auth_role(), current_setting('request.jwt.claim.sub', true), realtime_topic(), '1s'",
}
HOSTILE = {
    "postgres": """
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
  if t = 'boom' or t like 'x%' then raise exception 'boom'; end if;
  return t = 'room-' || (current_setting('request.jwt.claims', true)::json ->> 'sub');
end $$;
grant execute on function hostile(text) to authenticated;
create policy r on realtime.messages for select to authenticated using (hostile(realtime.topic()));
create policy w on realtime.messages for insert to authenticated with check (hostile(realtime.topic()));
""",
    "sqlite": """
create table scribbles (n int);
create policy r on realtime.messages for select to authenticated using (
  case when realtime.topic() = 'boom' or realtime.topic() like 'x%' then current_setting('boom') = ''
       when realtime.topic() = 'slow' then (with recursive c(n) as (select 1 union all select n + 1 from c)
                                            select count(*) > 0 from (select n from c limit 1000000000) x)
       else realtime.topic() = 'room-' || (current_setting('request.jwt.claims', true)::json ->> 'sub') end);
create policy w on realtime.messages for insert to authenticated with check (
  case when realtime.topic() = 'boom' or realtime.topic() like 'x%' then current_setting('boom') = ''
       when realtime.topic() = 'slow' then (with recursive c(n) as (select 1 union all select n + 1 from c)
                                            select count(*) > 0 from (select n from c limit 1000000000) x)
       else realtime.topic() = 'room-' || (current_setting('request.jwt.claims', true)::json ->> 'sub') end);
""",
}
Access = Literal["read", "write"]


class Probed:
    """An engine with the hostile policies, and its probe."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.name = engine.dialect.name
        self.may: MessagesProbe = probe_of(engine)


@pytest.fixture
async def probed(engine_settings: Settings) -> AsyncIterator[Probed]:
    settings = engine_settings.model_copy(update={"db_pool_min": 1, "db_pool_max": 1, "statement_timeout_ms": 1000})
    engine = connect(settings)
    await engine.start()
    if engine.dialect.enforces_row_security:
        await ensure_realtime_messages(engine)
    await apply_sql_to(engine, HOSTILE[engine.dialect.name])
    try:
        yield Probed(engine)
    finally:
        await engine.close()


async def bob_sees_only_himself(probed: Probed) -> None:
    engine = probed.engine
    row = await engine.fetch_one(WHO[probed.name], caller=BOB)
    assert row is not None and (row[0], row[1], row[2] or "", row[3]) == ("authenticated", "b", "", "1s")
    messages = "realtime.messages" if probed.name == "postgres" else "_realtime_messages"
    left = await engine.fetch_one(f"select (select count(*) from {messages}), (select count(*) from scribbles)")
    assert tuple(left or ()) == (0, 0)
    if probed.name == "postgres":
        locks = await engine.fetch_one(
            "select count(*) from pg_locks l join pg_database d on d.oid = l.database"
            " where l.locktype = 'advisory' and d.datname = current_database()"
        )
        assert tuple(locks or ()) == (0,)


@pytest.mark.parametrize("access", ["read", "write"])
async def test_a_hostile_policy_leaves_nothing(probed: Probed, access: Access) -> None:
    assert await probed.may(ALICE, "room-a", "broadcast", access)
    await bob_sees_only_himself(probed)
    assert not await probed.may(ALICE, "boom", "broadcast", access)
    await bob_sees_only_himself(probed)
    assert not await probed.may(ALICE, "slow", "broadcast", access)  # statement timeout
    await bob_sees_only_himself(probed)


@pytest.mark.parametrize("access", ["read", "write"])
async def test_a_probe_cancelled_midway_leaves_nothing(probed: Probed, access: Access) -> None:
    task = asyncio.create_task(probed.may(ALICE, "slow", "broadcast", access))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await bob_sees_only_himself(probed)


@pytest.mark.parametrize(
    "topic", ["room-a'; select 1; --", "room-a\x00", "room-%", "room-_", "ROOM-A", "room-a ", "x" * 100000]
)
async def test_odd_topics_are_refused_not_crashed(probed: Probed, topic: str) -> None:
    assert not await probed.may(ALICE, topic, "broadcast", "read")
    assert not await probed.may(ALICE, topic, "broadcast", "write")
    await bob_sees_only_himself(probed)


async def test_roles_no_policy_names_are_refused_and_the_superuser_may(probed: Probed) -> None:
    """`none`, `PUBLIC`, a role spelt in another case...: no policy and no grant is theirs (PostgreSQL:
    or no such role to switch to), so they are refused. A token claiming `postgres` acts as the
    database's superuser, exactly as the data API runs it on each engine (only a token signed with the
    project's secret can claim it)."""
    for role in ("pg_read_all_data", "none", "PUBLIC", "", "AUTHENTICATED", " authenticated", 'Odd "Role", x'):
        assert not await probed.may(Caller(role, {"sub": "a", "role": role}), "room-a", "broadcast", "read")
    superuser = "postgres"
    if probed.name == "postgres":
        row = await probed.engine.fetch_one("select current_user::text")
        assert row is not None
        superuser = row[0]
    assert await probed.may(Caller(superuser, {"role": superuser}), "zzz", "broadcast", "read")
    await bob_sees_only_himself(probed)


ODD = 'Odd "Role", x'  # a role whose name needs quoting
ODD_SQL = '"Odd ""Role"", x"'


@pytest.mark.parametrize("engine_settings", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_a_role_needing_quotes_is_asked_as_itself(probed: Probed) -> None:
    """PostgreSQL only: on SQLite a migration can grant only to the API roles (and `public`)."""
    await probed.engine.execute_script(
        f"do $$ begin create role {ODD_SQL} nologin; exception when duplicate_object then null; end $$;"
        f"grant {ODD_SQL} to current_user; grant usage on schema realtime to {ODD_SQL};"
        f"grant select, insert on realtime.messages to {ODD_SQL};"
        f"create policy odd on realtime.messages for select to {ODD_SQL} using (realtime.topic() = 'odd');"
    )
    odd = Caller(ODD, {"sub": "o", "role": ODD})
    assert await probed.may(odd, "odd", "broadcast", "read")
    assert not await probed.may(odd, "room-a", "broadcast", "read")
    await bob_sees_only_himself(probed)


async def test_a_topic_cannot_forge_log_lines(probed: Probed, caplog: pytest.LogCaptureFixture) -> None:
    """A topic is the client's: a failed probe logs it escaped, so a newline cannot start a fake line."""
    assert not await probed.may(ALICE, "x\nCRITICAL forged line\x00", "broadcast", "read")
    messages = [record.getMessage() for record in caplog.records if record.name == "backstack.db"]
    assert messages and all("\n" not in message for message in messages)


@pytest.mark.parametrize("engine_settings", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_a_trigger_skipping_the_probe_row_refuses(probed: Probed) -> None:
    """A BEFORE trigger returning NULL inserts no row, so no policy is asked: that is no consent
    (writing), and no probe to look for (reading), not a crash. PostgreSQL only: SQLite's migrations
    cannot create triggers, and its probe inserts no row for one to skip."""
    await probed.engine.execute_script(
        "create function skip() returns trigger language plpgsql as $$ begin return null; end $$;"
        "create trigger skip before insert on realtime.messages for each row execute function skip();"
    )
    assert not await probed.may(ALICE, "room-b", "broadcast", "write")
    assert not await probed.may(ALICE, "room-a", "broadcast", "read")
    await bob_sees_only_himself(probed)
